using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>One response as a raw socket client read it: status, headers, body.</summary>
public sealed record RawResponse(int Status, string StatusLine, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name);
}

/// <summary>
/// A raw Unix-socket HTTP client, for the inputs curl cannot produce (a NUL in the target, an
/// HTTP/2 preface, a missing Host header, an overflowing chunk size, pipelining).
/// </summary>
public static class RawHttp
{
    /// <summary>Sends the request in <paramref name="pieces"/>, shuts down its sending side, reads until the server closes.</summary>
    public static async Task<string> ExchangeAsync(string socket, params byte[][] pieces)
    {
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync(new UnixDomainSocketEndPoint(socket), timeout.Token);
        foreach (var piece in pieces)
        {
            await client.SendAsync(piece, SocketFlags.None, timeout.Token);
            await Task.Delay(50, timeout.Token); // Separate reads on the server, as a slow client's.
        }

        client.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int read;
        while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Encoding.Latin1.GetString(received.ToArray());
    }

    /// <summary>The responses in <paramref name="stream"/>, framed by their Content-Length.</summary>
    public static List<RawResponse> Parse(string stream)
    {
        var responses = new List<RawResponse>();
        var rest = stream;
        while (rest.Length > 0)
        {
            var end = rest.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                throw new InvalidOperationException("not an HTTP response: " + rest);
            }

            var lines = rest[..end].Split("\r\n");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }

            var length = headers.TryGetValue("Content-Length", out var value) ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            var body = rest.Substring(end + 4, length);
            var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            responses.Add(new RawResponse(status, lines[0], headers, body));
            rest = rest[(end + 4 + length)..];
        }

        return responses;
    }
}
