#if DBUS_API
using System.Collections.Concurrent;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests.Support;

/// <summary>
/// A VMM served on D-Bus: a private bus, the event monitor (with <c>vmm/starting</c> published
/// first, as the CLI does), the channel with the real <see cref="VmmControlLoop"/> behind it (on a
/// <see cref="TestHypervisor"/>), and the DBusServer.
/// </summary>
public sealed class ServedVmm : IAsyncDisposable
{
    private readonly RunningVmm _vmm;

    private readonly long? _maxMessageSize;

    private ServedVmm(PrivateBus bus, CloudHypervisor.EventMonitor.EventMonitor events, RunningVmm vmm, string name, long? maxMessageSize)
    {
        _maxMessageSize = maxMessageSize;
        Bus = bus;
        Events = events;
        Channel = vmm.Channel;
        _vmm = vmm;
        ServiceName = name;
        ObjectPath = "/org/cloudhypervisor/" + name.Split('.')[^1];
    }

    public PrivateBus Bus { get; }
    public CloudHypervisor.EventMonitor.EventMonitor Events { get; }
    public ApiChannel Channel { get; }
    public DBusServer Server { get; private set; } = null!;
    public string ServiceName { get; }
    public string ObjectPath { get; }
    public LogCollector Log { get; } = new();

    public DBusServerOptions Options => new()
    {
        ServiceName = ServiceName,
        ObjectPath = ObjectPath,
        Address = Bus.Address,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
        MaxMessageSize = _maxMessageSize ?? BusConnections.MaxMessageSize,
    };

    /// <summary>
    /// With <paramref name="maxMessageSize"/>, the bus daemon and the server both take that as the
    /// largest message (the real limit, 128 MiB, scaled down so a test need not build 128 MiB).
    /// </summary>
    public static async Task<ServedVmm> StartAsync(long? maxMessageSize = null)
    {
        var bus = await PrivateBus.StartAsync(maxMessageSize);
        var events = new CloudHypervisor.EventMonitor.EventMonitor();
        events.Publish(CloudHypervisor.EventMonitor.Events.Vmm.Starting);
        var vmm = new ServedVmm(bus, events, RunningVmm.Start(events), "org.cloudhypervisor.T" + Guid.NewGuid().ToString("N")[..12], maxMessageSize);
        vmm.Server = await DBusServer.StartAsync(vmm.Options, vmm.Channel, events, vmm.Log.Logger, CancellationToken.None);
        // vmm/starting is replayed to the bus by the sink's own pump: let it go out now, so that a
        // test's listener never sees it arrive after the events the test causes.
        await events.FlushAsync(TimeSpan.FromSeconds(20));
        return vmm;
    }

    /// <summary><c>busctl --address=… call NAME PATH IFACE Method [s ARG]</c> with JSON output.</summary>
    public Task<ToolResult> BusctlAsync(string method, string? argument = null)
    {
        List<string> args = ["--address=" + Bus.Address, "--json=short", "call", ServiceName, ObjectPath, DBusInterface.Name, method];
        if (argument is not null)
        {
            args.AddRange(["s", argument]);
        }

        return Tools.RunAsync("busctl", [.. args]);
    }

    /// <summary><c>dbus-send --print-reply=literal</c>: a string reply is printed as is.</summary>
    public Task<ToolResult> DBusSendAsync(string method, params string[] arguments) =>
        Tools.RunAsync("dbus-send", [
            "--bus=" + Bus.Address, "--print-reply=literal", "--dest=" + ServiceName, ObjectPath,
            DBusInterface.Name + "." + method, .. arguments]);

    /// <summary><c>gdbus call</c>; a string argument is passed as a GVariant string literal.</summary>
    public Task<ToolResult> GDBusAsync(string method, string? argument = null)
    {
        List<string> args = ["call", "--address", Bus.Address, "--dest", ServiceName, "--object-path", ObjectPath, "--method", DBusInterface.Name + "." + method];
        if (argument is not null)
        {
            args.Add(GVariant.Quote(argument));
        }

        return Tools.RunAsync("gdbus", [.. args]);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await _vmm.DisposeAsync();
        await Events.DisposeAsync();
        await Bus.DisposeAsync();
    }
}

/// <summary>The real control loop on a <see cref="TestHypervisor"/>, reading its own channel.</summary>
public sealed class RunningVmm : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task _loop;

    private RunningVmm(ApiChannel channel, CancellationTokenSource stop, Task loop)
    {
        Channel = channel;
        _stop = stop;
        _loop = loop;
    }

    public ApiChannel Channel { get; }

    public static RunningVmm Start(CloudHypervisor.EventMonitor.EventMonitor events)
    {
        var channel = new ApiChannel();
        var options = new VmmOptions { Version = "v54.0.0", BuildVersion = "test", Features = ["dbus_api"] };
        var loop = new VmmControlLoop(channel, events, new TestHypervisor(), new LogCollector().Logger, options);
        var stop = new CancellationTokenSource();
        return new RunningVmm(channel, stop, Task.Run(() => loop.RunAsync(stop.Token)));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}

/// <summary>Collects rendered log lines so tests can assert what an operator reads.</summary>
public sealed class LogCollector : ILogEventSink
{
    private readonly ConcurrentQueue<string> _lines = new();

    public LogCollector() => Logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(this).CreateLogger();

    public Serilog.ILogger Logger { get; }

    public IReadOnlyList<string> Lines => [.. _lines];

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        _lines.Enqueue($"{logEvent.Level}: {logEvent.RenderMessage()}");
    }
}

/// <summary>GVariant text for gdbus: quoting an argument and reading a <c>('…',)</c> reply.</summary>
public static class GVariant
{
    public static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    /// <summary>The string inside gdbus's <c>('…',)</c> or <c>("…",)</c> output.</summary>
    public static string UnquoteSingleStringTuple(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith('(') || !t.EndsWith(",)"))
        {
            throw new FormatException("not a one-element tuple: " + text);
        }

        var inner = t[1..^2];
        var body = inner[1..^1];
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] == '\\' && i + 1 < body.Length)
            {
                i++;
                sb.Append(body[i] switch { 'n' => '\n', 't' => '\t', var c => c });
                continue;
            }

            sb.Append(body[i]);
        }

        return sb.ToString();
    }
}
#endif
