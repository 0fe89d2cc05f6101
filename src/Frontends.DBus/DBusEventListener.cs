using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Receives the <c>Event</c> signal of one service on a connection of its own. The callback runs
/// on the connection's read loop, one signal at a time and in order. When the bus goes away or
/// the callback throws, listening ends and <see cref="Completion"/> says why.
/// </summary>
public sealed class DBusEventListener : IDisposable
{
    private readonly Action<string> _onEvent;
    private readonly TaskCompletionSource<string?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DBusConnection? _connection;
    private IDisposable? _watch;
    private volatile bool _stopping;

    private DBusEventListener(Action<string> onEvent) => _onEvent = onEvent;

    /// <summary>Completes when listening ended: null after Dispose, otherwise why (e.g. the bus was lost or the callback threw).</summary>
    public Task<string?> Completion => _completion.Task;

    internal static DBusEventListener Start(string? address, bool systemBus, string serviceName, string objectPath, Action<string> onEvent)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        var listener = new DBusEventListener(onEvent);
        var connection = DBusClient.Open(address, systemBus);
        listener._connection = connection;
        try
        {
            // The sender is the well-known name: the library follows its owner, so a service that
            // takes the name later (or again, after a restart) is heard too. The match is in place
            // once this returns, so no event published afterwards is missed.
            listener._watch = connection.WatchSignalAsync(
                serviceName, objectPath, DBusInterface.Name, DBusInterface.EventSignal,
                static (message, _) => DBusClient.ReadString(message),
                listener.OnSignal, ObserverFlags.EmitOnConnectionFailed, emitOnCapturedContext: false)
                .AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is DBusConnectionException or DBusErrorReplyException)
        {
            connection.Dispose();
            throw new DBusClientException("Cannot listen to D-Bus events: " + e.Message, e);
        }

        _ = connection.DisconnectedAsync().ContinueWith(
            static (t, state) =>
            {
                var listener = (DBusEventListener)state!;
                listener.End(t.Result is { } reason ? "D-Bus connection lost: " + reason.Message : "D-Bus connection closed");
            },
            listener, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return listener;
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _watch?.Dispose();
        _connection?.Dispose();
        _completion.TrySetResult(null);
    }

    private void OnSignal(Notification<string?> notification)
    {
        if (notification.IsCompletion)
        {
            End("D-Bus connection lost: " + notification.CompletionReason.Message);
            return;
        }

        if (notification.Value is not { } record || _stopping)
        {
            return;
        }

        try
        {
            _onEvent(record);
        }
#pragma warning disable CA1031 // The callback's failure ends listening and is reported through Completion.
        catch (Exception e)
#pragma warning restore CA1031
        {
            End(e.Message);
            _connection?.Dispose();
        }
    }

    private void End(string reason) => _completion.TrySetResult(_stopping ? null : reason);
}
