using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>
/// REST on the API socket, one request per connection, in upstream ch-remote's request format
/// (contract §7.1): <c>METHOD /api/v1/&lt;action&gt; HTTP/1.1</c>, Host, Accept, and
/// Content-Length only when there is a body.
/// </summary>
internal sealed class RestTransport(string socketPath) : IChTransport
{
    /// <summary>The response header in which our VMM names the error kind (404 and 409 each cover two kinds).</summary>
    public const string ErrorKindHeader = "ch-error-kind";

    public string ErrorHeading => "http client error";

    public async Task<CallResult> CallAsync(ApiAction action, string? body, IReadOnlyList<int> fds, CancellationToken cancellationToken)
    {
        using var socket = await ConnectAsync(cancellationToken);
        var bodyBytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        var head = new StringBuilder()
            .Append(action.Verb == ApiVerb.Get ? "GET" : "PUT").Append(' ').Append(action.Path).Append(" HTTP/1.1\r\n")
            .Append("Host: localhost\r\nAccept: */*\r\n");
        if (body is not null)
        {
            head.Append("Content-Length: ").Append(bodyBytes.Length).Append("\r\n");
        }

        head.Append("\r\n");
        byte[] request = [.. Encoding.ASCII.GetBytes(head.ToString()), .. bodyBytes];
        // Descriptors go with the first chunk (contract §7.1), so the VMM has them with the request head.
        var sent = fds.Count > 0 ? FdPassing.SendWithFds(socket, request, fds) : 0;
        if (sent < request.Length)
        {
            await socket.SendAsync(request.AsMemory(sent), cancellationToken);
        }

        var reader = new HttpResponseReader(socket);
        HttpResponseHead response;
        string text;
        try
        {
            response = await reader.ReadHeadAsync(cancellationToken);
            text = await reader.ReadBodyAsync(response, cancellationToken);
        }
        catch (IOException e)
        {
            throw new TransportException(ExitCodes.Unreachable, [ErrorHeading, e.Message]);
        }

        if (response.Status is 100 or 200 or 204)
        {
            return CallResult.Ok(response.Header("content-length") is null && response.Status == 204 ? null : text);
        }

        var kind = KindOf(response);
        var chain = new List<string> { $"Server responded with {StatusName(response.Status)}" };
        try
        {
            using var document = JsonDocument.Parse(text);
            chain.AddRange(document.RootElement.EnumerateArray().Select(e => e.GetString() ?? string.Empty));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            chain.Add($"Can't get remote's error messages from JSON response: {text}");
        }

        return new CallResult(false, null, kind, chain);
    }

    public async IAsyncEnumerable<string> EventsAsync(long? since, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var socket = await ConnectAsync(cancellationToken);
        var query = new List<string>();
        if (since is { } s)
        {
            query.Add($"since={s}");
        }

        if (!follow)
        {
            query.Add("follow=false");
        }

        var path = "/api/v1/events" + (query.Count > 0 ? "?" + string.Join('&', query) : string.Empty);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\n\r\n"), cancellationToken);
        var reader = new HttpResponseReader(socket);
        var head = await reader.ReadHeadAsync(cancellationToken);
        if (head.Status != 200)
        {
            var body = await reader.ReadBodyAsync(head, cancellationToken);
            throw new TransportException(ExitCodes.For(KindOf(head)), [ErrorHeading, $"Server responded with {StatusName(head.Status)}", body]);
        }

        var pending = new StringBuilder();
        await foreach (var piece in reader.ReadBodyPiecesAsync(head, cancellationToken))
        {
            pending.Append(piece);
            var all = pending.ToString();
            var lines = all.Split('\n');
            for (var i = 0; i < lines.Length - 1; i++)
            {
                if (lines[i].Length > 0)
                {
                    yield return lines[i];
                }
            }

            pending.Clear().Append(lines[^1]);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new TransportException(ExitCodes.Unreachable,
                [ErrorHeading, $"Failed to connect to the API socket {socketPath}", e.Message]);
        }
    }

    private static ApiErrorKind KindOf(HttpResponseHead head) =>
        Enum.TryParse<ApiErrorKind>(head.Header(ErrorKindHeader), out var kind)
            ? kind
            : head.Status switch
            {
                400 => ApiErrorKind.InvalidArgument,
                404 => ApiErrorKind.NotCreated,
                409 => ApiErrorKind.InvalidState,
                413 => ApiErrorKind.PayloadTooLarge,
                429 => ApiErrorKind.Busy,
                _ => ApiErrorKind.Internal,
            };

    // Upstream's api_client names (contract §7.1), plus the statuses our VMM adds.
    private static string StatusName(int status) => status switch
    {
        400 => "BadRequest",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "NotImplemented",
        _ => $"Unknown ({status})",
    };
}
