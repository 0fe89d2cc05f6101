#if DBUS_API
using System.Diagnostics;
using System.Text.Json;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>The Event signal: every event record, as the event file holds it, seen by real monitors.</summary>
public sealed class EventSignalTests
{
    [Fact]
    public async Task Every_lifecycle_event_is_an_Event_signal_that_gdbus_monitor_shows()
    {
        await using var vmm = await ServedVmm.StartAsync();
        using var monitor = GDBusMonitor.Start(vmm);
        await monitor.WaitUntilSubscribedAsync();

        Assert.Equal(0, (await vmm.BusctlAsync("VmCreate", """{"payload":{"kernel":"/k"}}""")).ExitCode);
        Assert.Equal(0, (await vmm.BusctlAsync("VmBoot")).ExitCode);
        Assert.Equal(0, (await vmm.BusctlAsync("VmPause")).ExitCode);

        // The records the event file would hold from seq 1 on (seq 0 is vmm/starting).
        using var all = vmm.Events.Subscribe(since: 1);
        var expected = new List<string>();
        while (all.Reader.TryRead(out var record))
        {
            expected.Add(EventFormat.Pretty(record));
        }

        Assert.Equal(["booting", "booted", "pausing", "paused"], expected.Select(e => JsonDocument.Parse(e).RootElement.GetProperty("event").GetString()));
        var seen = await monitor.WaitForSignalsAsync(expected.Count);
        Assert.Equal(expected, seen);
    }

    [Fact]
    public async Task Events_published_before_the_server_started_are_signalled_once_it_runs()
    {
        await using var bus = await PrivateBus.StartAsync();
        const string name = "org.cloudhypervisor.Early";
        var received = new List<string>();
        using var client = DBusClient.Connect(name, "/org/cloudhypervisor/Early", address: bus.Address);
        using var listener = client.ListenForEvents(e =>
        {
            lock (received)
            {
                received.Add(e);
            }
        });
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        var starting = events.Publish(Events.Vmm.Starting);
        var channel = new ApiChannel();

        var server = await DBusServer.StartAsync(
            new DBusServerOptions { ServiceName = name, ObjectPath = "/org/cloudhypervisor/Early", Address = bus.Address },
            channel, events, new LogCollector().Logger, CancellationToken.None);
        try
        {
            Assert.True(await Tools.EventuallyAsync(() => Task.FromResult(Count(received) >= 1), TimeSpan.FromSeconds(20)));
            lock (received)
            {
                Assert.Equal(EventFormat.Pretty(starting), received[0]);
                Assert.Contains("\"seq\": 0", received[0]);
            }
        }
        finally
        {
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task A_frozen_bus_daemon_never_blocks_event_publishing_or_the_control_loop()
    {
        await using var vmm = await ServedVmm.StartAsync();
        vmm.Bus.Signal("STOP");
        try
        {
            var properties = new Dictionary<string, string> { ["id"] = new string('x', 2000) };
            // 40 MB of signals cannot fit in a socket buffer: the connection queues them, and
            // Publish returns either way. Blocked, it would wait for the frozen daemon forever.
            var publishing = Task.Run(() =>
            {
                for (var i = 0; i < 20_000; i++)
                {
                    vmm.Events.Publish(Events.VirtioDevice.Activated, properties);
                }
            });
            await publishing.WaitAsync(TimeSpan.FromSeconds(60));
            var ping = await vmm.Channel.SendAsync(new VmmPingCommand(), ApiOrigin.Internal).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.True(ping.IsSuccess);
        }
        finally
        {
            vmm.Bus.Signal("CONT");
        }

        Assert.True(
            await Tools.EventuallyAsync(async () => (await vmm.BusctlAsync("VmmPing")).ExitCode == 0, TimeSpan.FromSeconds(20)),
            "the service did not answer after the bus daemon resumed");
    }

    private static int Count(List<string> list)
    {
        lock (list)
        {
            return list.Count;
        }
    }
}

/// <summary><c>gdbus monitor</c> on the service's object, reading the Event signals it prints.</summary>
internal sealed class GDBusMonitor : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GDBusMonitor(Process process) => _process = process;

    public static GDBusMonitor Start(ServedVmm vmm)
    {
        var start = new ProcessStartInfo(Tools.Require("gdbus"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "monitor", "--address", vmm.Bus.Address, "--dest", vmm.ServiceName, "--object-path", vmm.ObjectPath })
        {
            start.ArgumentList.Add(a);
        }

        var monitor = new GDBusMonitor(Process.Start(start)!);
        monitor._process.OutputDataReceived += (_, e) => monitor.OnLine(e.Data);
        monitor._process.BeginOutputReadLine();
        return monitor;
    }

    /// <summary>
    /// gdbus adds its signal match before it asks who owns the name, and the daemon answers one
    /// connection in order: once the owner is printed, the match is in place.
    /// </summary>
    public Task WaitUntilSubscribedAsync() => _subscribed.Task.WaitAsync(TimeSpan.FromSeconds(10));

    public async Task<List<string>> WaitForSignalsAsync(int count)
    {
        List<string> Signals()
        {
            lock (_lines)
            {
                return [.. _lines
                    .Where(l => l.Contains(": " + DBusInterface.Name + "." + DBusInterface.EventSignal + " (", StringComparison.Ordinal))
                    .Select(l => GVariant.UnquoteSingleStringTuple(l[(l.IndexOf(" (", StringComparison.Ordinal) + 1)..]))];
            }
        }

        await Tools.EventuallyAsync(() => Task.FromResult(Signals().Count >= count), TimeSpan.FromSeconds(10));
        return Signals();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
        }

        if (line.Contains("is owned by", StringComparison.Ordinal))
        {
            _subscribed.TrySetResult();
        }
    }
}
#endif
