using CloudHypervisor.InternalApi;
using Serilog;
using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// The D-Bus frontend: <c>org.cloudhypervisor.DBusApi1</c> on one object path, served through
/// Tmds.DBus.Protocol, a managed implementation of the wire protocol (no native code).
/// Threading model: the library reads the connection on its own loop and hands each method call
/// to <see cref="ObjectHandler"/>, which only parses it and sends the command into the
/// control-loop channel, so the loop goes on reading at once. The answer is written on
/// whichever thread completes the command; sending is thread-safe (the library queues every
/// outgoing message in order), so replies and Event signals need no thread of their own. A
/// supervisor task waits for the connection to end; if the bus goes away it logs it, keeps the
/// process running and reconnects with backoff, registering the object and re-acquiring the name.
/// </summary>
public sealed partial class DBusServer : IAsyncDisposable
{
    private readonly DBusServerOptions _options;
    private readonly IApiSender _api;
    private readonly ILogger _log;
    private readonly ObjectHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _supervisor = Task.CompletedTask;
    private DBusConnection? _connection;
    private long _eventsWhileDisconnected;
    private volatile bool _stopping;
    private int _stopCalls;

    private DBusServer(DBusServerOptions options, IApiSender api, ILogger log)
    {
        _options = options;
        _api = api;
        _log = log.ForContext("SourceContext", "dbus");
        _handler = new ObjectHandler(this);
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
        var connection = await server.ConnectAsync(ct).ConfigureAwait(false);
        Volatile.Write(ref server._connection, connection);
        server._supervisor = server.SuperviseAsync(connection);

        events.AddSinkWithReplay(new DBusEventSink(server));
        server._log.Information(
            "D-Bus API {Interface} at {Path} as {Name} on the {Bus}",
            DBusInterface.Name, options.ObjectPath, options.ServiceName, options.BusDescription);
        return server;
    }

    /// <summary>How long a stop waits for the VMM's answers to calls still pending.</summary>
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
            await _stopped.Task.ConfigureAwait(false);
            return;
        }

        _stopping = true;
        try
        {
            // The host stops us right after the control loop ended; its last answers (vmm.shutdown's
            // own reply) reach us from the thread pool just then.
            await _handler.WhenNonePending().WaitAsync(StopAnswerGrace).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _stop.CancelAsync().ConfigureAwait(false);
            await _supervisor.ConfigureAwait(false);
            if (Interlocked.Exchange(ref _connection, null) is { } connection)
            {
                await CloseAsync(connection).ConfigureAwait(false);
            }

            _handler.AbandonPending();
        }
        finally
        {
            _stop.Dispose();
            _stopped.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>
    /// Emits one Event signal: queued on the connection at once, never waiting for the bus, or
    /// not signalled (and counted) while the bus is down. Nothing once the server stops.
    /// </summary>
    internal void EmitEvent(string record)
    {
        if (_stopping)
        {
            return;
        }

        if (Volatile.Read(ref _connection) is not { } connection)
        {
            Interlocked.Increment(ref _eventsWhileDisconnected);
            return;
        }

        if (!FitsInMessage(record, out var bytes))
        {
            _log.Warning("Event record of {Bytes} bytes not signalled: over the D-Bus message limit", bytes);
            return;
        }

        try
        {
            using var writer = connection.GetMessageWriter();
            writer.WriteSignalHeader(null, _options.ObjectPath, DBusInterface.Name, DBusInterface.EventSignal, "s");
            writer.WriteString(record);
            if (!connection.TrySendMessage(writer.CreateMessage()))
            {
                Interlocked.Increment(ref _eventsWhileDisconnected);
            }
        }
        catch (ObjectDisposedException)
        {
            // Lost and replaced between the read above and the send: the supervisor logs the loss.
            Interlocked.Increment(ref _eventsWhileDisconnected);
        }
    }

    /// <summary>
    /// Room for a message's header and the body's length and NUL: a reply's header holds the
    /// reply serial, the destination and the signature, and the daemon adds the sender (a unique
    /// name, at most 255 bytes), all well under this.
    /// </summary>
    internal const long MessageAllowance = 1024;

    /// <summary>
    /// Whether <paramref name="text"/> fits in one message's body beside its header. Its UTF-8
    /// size is counted only when it could matter (at most 3 bytes a UTF-16 unit); otherwise
    /// <paramref name="bytes"/> is the length, a lower bound good enough for LargeInputs.
    /// </summary>
    internal bool FitsInMessage(string text, out long bytes)
    {
        bytes = text.Length * 3L + MessageAllowance <= _options.MaxMessageSize
            ? text.Length
            : System.Text.Encoding.UTF8.GetByteCount(text);
        return bytes + MessageAllowance <= _options.MaxMessageSize;
    }
}
