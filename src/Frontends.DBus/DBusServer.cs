using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.Frontends.DBus.Interop;
using CloudHypervisor.InternalApi;
using Serilog;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// The D-Bus frontend: <c>org.cloudhypervisor.DBusApi1</c> on one object path, served through
/// libsystemd's sd-bus. Threading model: one bus thread ("dbus") owns the connection and makes
/// every sd-bus call (sd-bus objects are single-threaded). It polls the bus socket and an eventfd;
/// other threads (API replies completing on the control loop, the event sink) enqueue work and
/// write the eventfd. A method call is parsed on the bus thread, sent into the control-loop
/// channel, and answered on the bus thread when the reply arrives, so a slow command never holds
/// up other calls. If the bus goes away the thread logs it, keeps the process running and
/// reconnects with backoff, registering the object and re-acquiring the name.
/// </summary>
public sealed partial class DBusServer : IAsyncDisposable
{
    private readonly DBusServerOptions _options;
    private readonly IApiSender _api;
    private readonly ILogger _log;
    private readonly EventFdHandle _wake = EventFdHandle.Create();
    private readonly ConcurrentQueue<Action> _work = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private readonly VTable _vtable;
    private GCHandle _self;
    private volatile bool _stopping;
    private int _stopCalls;

    private DBusServer(DBusServerOptions options, IApiSender api, ILogger log)
    {
        _options = options;
        _api = api;
        _log = log.ForContext("SourceContext", "dbus");
        _vtable = CreateVTable();
        _self = GCHandle.Alloc(this);
        _thread = new Thread(Run) { IsBackground = true, Name = "dbus" };
    }

    /// <summary>The options the server was started with.</summary>
    public DBusServerOptions Options => _options;

    /// <summary>
    /// Connects to the bus, registers the interface at <see cref="DBusServerOptions.ObjectPath"/>,
    /// requests <see cref="DBusServerOptions.ServiceName"/> without queueing, and starts emitting
    /// every event of <paramref name="events"/> (including those published before now) as the
    /// <c>Event</c> signal.
    /// </summary>
    /// <exception cref="DBusServerException">The bus is unreachable, the name is owned, or the name or path is invalid.</exception>
    public static async Task<DBusServer> StartAsync(
        DBusServerOptions options,
        IApiSender api,
        CloudHypervisor.EventMonitor.EventMonitor events,
        ILogger log,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(log);

        var server = new DBusServer(options, api, log);
        server._thread.Start();
        try
        {
            await server._started.Task.WaitAsync(ct);
        }
        catch
        {
            await server.StopAsync();
            throw;
        }

        events.AddSinkWithReplay(new DBusEventSink(server));
        server._log.Information(
            "D-Bus API {Interface} at {Path} as {Name} on the {Bus}",
            DBusInterface.Name, options.ObjectPath, options.ServiceName, options.BusDescription);
        return server;
    }

    /// <summary>How long a stop waits for the VMM's answers to calls still pending (see <see cref="DeliverLastAnswers"/>).</summary>
    internal static readonly TimeSpan StopAnswerGrace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Releases the name and closes the connection. Answers the VMM gives within
    /// <see cref="StopAnswerGrace"/> still go out (vmm.shutdown's own among them); calls still in
    /// the VMM after that are not answered. Idempotent.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopCalls, 1) != 0)
        {
            await _exited.Task;
            return;
        }

        _stopping = true;
        _wake.Signal();
        await _exited.Task;
        _self.Free();
        _vtable.Dispose();
        _wake.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>
    /// Emits one Event signal. Completes when sd-bus has taken the message, or at once when the
    /// bus is down or the server stopped (the event is then not signalled). Never blocks.
    /// </summary>
    internal Task EmitEventAsync(string record)
    {
        if (_stopping)
        {
            return Task.CompletedTask;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!Post(() =>
        {
            EmitEvent(record);
            done.TrySetResult();
        }))
        {
            done.TrySetResult();
        }

        return done.Task;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the bus thread; false once the server is stopping, except
    /// for an answer, which the stopping thread still delivers within its grace.
    /// </summary>
    private bool Post(Action work, bool answer = false)
    {
        if (_stopping && !answer)
        {
            return false;
        }

        _work.Enqueue(work);
        try
        {
            _wake.Signal();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static unsafe VTable CreateVTable()
    {
        var methods = DBusInterface.Methods
            .Select(m => new VTableMethod(m.Name, m.InSignature, m.OutSignature, m.InArgument, m.HasOutArgument ? DBusInterface.OutArgument : null))
            .ToList();
        VTableSignal[] signals = [new(DBusInterface.EventSignal, "s", DBusInterface.EventArgument)];
        return new VTable(methods, signals, &OnMethodCall);
    }
}
