#if DBUS_API
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using CloudHypervisor.Frontends.DBus;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>
/// D-Bus: each action is the catalog's method on <c>org.cloudhypervisor.DBusApi1</c>, with the same
/// JSON as REST; events are the <c>Event</c> signal (no replay: the bus keeps no history).
/// </summary>
internal sealed class DBusTransport(string serviceName, string objectPath, bool systemBus, TimeSpan? timeout) : IChTransport
{
    private DBusClient? _client;

    public string ErrorHeading => "D-Bus client error";

    public async Task<CallResult> CallAsync(ApiAction action, string? body, IReadOnlyList<int> fds, CancellationToken cancellationToken)
    {
        if (fds.Count > 0)
        {
            // Upstream drops them silently (contract §7.2); a tap that never arrives is worse than an error.
            throw new TransportException(ExitCodes.Usage,
                [ErrorHeading, "File descriptors (fd=) can only be passed over the REST API socket (--api-socket): the D-Bus methods take a JSON string only"]);
        }

        var client = Connect();
        DBusCallResult answer;
        try
        {
            // A NoContent action takes no argument; an action with a body takes exactly one.
            answer = await client.CallAsync(action.DBusMethod, action.TakesBody ? body ?? string.Empty : null, timeout, cancellationToken);
        }
        catch (DBusClientException e)
        {
            throw new TransportException(ExitCodes.Unreachable, [ErrorHeading, e.Message]);
        }

        if (!answer.IsError)
        {
            // "" means "no body" on D-Bus (contract §4.2): print nothing, as REST's 204;
            // vmm.shutdown prints the empty line that REST's 200 with an empty body prints.
            return CallResult.Ok(action.Reply == ApiReplyKind.EmptyOk ? string.Empty
                : string.IsNullOrEmpty(answer.Value) ? null : answer.Value);
        }

        var kind = DBusErrors.KindOf(answer.ErrorName!);
        var chain = kind is null
            ? new List<string> { answer.ErrorName!, answer.ErrorMessage ?? string.Empty }
            : [.. (answer.ErrorMessage ?? string.Empty).Split(": ")];
        if (answer.ErrorName is "org.freedesktop.DBus.Error.NoReply" or "org.freedesktop.DBus.Error.Timeout")
        {
            throw new TransportException(ExitCodes.Timeout, [ErrorHeading, .. chain]);
        }

        if (answer.ErrorName is "org.freedesktop.DBus.Error.ServiceUnknown" or "org.freedesktop.DBus.Error.NameHasNoOwner")
        {
            throw new TransportException(ExitCodes.Unreachable, [ErrorHeading, .. chain]);
        }

        return new CallResult(false, null, kind ?? ApiErrorKind.Internal, chain);
    }

    public async IAsyncEnumerable<string> EventsAsync(long? since, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (since is not null)
        {
            throw new TransportException(ExitCodes.Usage, [ErrorHeading, "--since needs the REST API: the D-Bus Event signal has no history"]);
        }

        if (!follow)
        {
            throw new TransportException(ExitCodes.Usage, [ErrorHeading, "Over D-Bus only new events can be read: use --follow"]);
        }

        var records = Channel.CreateUnbounded<string>();
        DBusEventListener listener;
        try
        {
            listener = Connect().ListenForEvents(record => records.Writer.TryWrite(record));
        }
        catch (DBusClientException e)
        {
            throw new TransportException(ExitCodes.Unreachable, [ErrorHeading, e.Message]);
        }

        using (listener)
        {
            _ = listener.Completion.ContinueWith(_ => records.Writer.TryComplete(), TaskScheduler.Default);
            await foreach (var pretty in records.Reader.ReadAllAsync(cancellationToken))
            {
                // The signal carries the pretty record of the event file; print it as one line.
                using var document = JsonDocument.Parse(pretty);
                yield return JsonSerializer.Serialize(document.RootElement, JsonContext.Default.JsonElement);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _client?.Dispose();
        return ValueTask.CompletedTask;
    }

    private DBusClient Connect()
    {
        try
        {
            return _client ??= DBusClient.Connect(serviceName, objectPath, systemBus);
        }
        catch (DBusClientException e)
        {
            throw new TransportException(ExitCodes.Unreachable, [ErrorHeading, e.Message]);
        }
    }
}
#endif
