#if DBUS_API
using System.Diagnostics;

namespace CloudHypervisor.Tests;

/// <summary>The executable serving D-Bus on a private dbus-daemon, driven with busctl.</summary>
public sealed class DBusExecutableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-dbus-").FullName;
    private readonly Process _daemon;

    public DBusExecutableTests()
    {
        Bus = $"unix:path={Path.Combine(_dir, "bus")}";
        try
        {
            _daemon = Process.Start(new ProcessStartInfo("dbus-daemon", ["--session", $"--address={Bus}", "--nofork", "--print-address"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("dbus-daemon is required (Debian package dbus-daemon)", e);
        }

        // The daemon prints its address once it listens.
        _daemon.StandardOutput.ReadLine();
    }

    private string Bus { get; }

    public void Dispose()
    {
        _daemon.Kill();
        _daemon.WaitForExit();
        _daemon.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<(int Code, string Output)> Busctl(params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("busctl", [$"--address={Bus}", .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }

    [Fact]
    public async Task The_dbus_api_answers_and_vmm_shutdown_over_dbus_ends_the_process_with_exit_0()
    {
        const string name = "org.cloudhypervisor.CliTest";
        const string path = "/org/cloudhypervisor/CliTest";
        var events = Path.Combine(_dir, "events.json");
        using var ch = Executable.Start(
            ["--dbus-service-name", name, "--dbus-object-path", path, "--event-monitor", $"path={events}", "-v"],
            new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = Bus });

        (int Code, string Output) ping = default;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            ping = await Busctl("call", name, path, "org.cloudhypervisor.DBusApi1", "VmmPing");
            if (ping.Code == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(0, ping.Code);
        Assert.Contains("\\\"features\\\":[\\\"dbus_api\\\",\\\"kvm\\\"]", ping.Output);

        var shutdown = await Busctl("call", name, path, "org.cloudhypervisor.DBusApi1", "VmmShutdown");
        Assert.Equal(0, shutdown.Code);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(
            ["vmm/starting", "vmm/shutdown"],
            ApiSessionTests.ReadEvents(events).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}"));
        // With an event file (or D-Bus) events are not also logged.
        Assert.DoesNotContain("Event: source", ch.Stderr);
    }

    [Fact]
    public async Task A_service_name_already_owned_exits_1()
    {
        const string name = "org.cloudhypervisor.Taken";
        using var first = Executable.Start(
            ["--dbus-service-name", name, "--dbus-object-path", "/a"],
            new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = Bus });
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await Busctl("status", name)).Code != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        using var second = Executable.Start(
            ["--dbus-service-name", name, "--dbus-object-path", "/b"],
            new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = Bus });

        Assert.Equal(1, await second.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("Error: Cloud Hypervisor exited with the following chain of errors:\n  0: Failed to start the VMM thread\n", second.Stderr);
        first.Signal(Executable.SIGTERM);
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }
}
#endif
