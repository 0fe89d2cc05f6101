using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>The parts of an HTTP/1.1 response ch-remote needs.</summary>
internal sealed record HttpResponseHead(int Status, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

/// <summary>
/// Reads HTTP/1.1 responses from a socket: the head, then a body framed by Content-Length,
/// chunked transfer coding (the event stream), or the end of the connection.
/// </summary>
internal sealed class HttpResponseReader(Socket socket)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public async Task<HttpResponseHead> ReadHeadAsync(CancellationToken ct)
    {
        while (true)
        {
            var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (at >= 0)
            {
                var text = Encoding.ASCII.GetString(_buffer, _start, at);
                _start += at + 4;
                return ParseHead(text);
            }

            if (!await ReceiveAsync(ct))
            {
                throw new IOException("the VMM closed the connection before answering");
            }
        }
    }

    /// <summary>The whole body (Content-Length, chunked, or until close).</summary>
    public async Task<string> ReadBodyAsync(HttpResponseHead head, CancellationToken ct)
    {
        var text = new StringBuilder();
        await foreach (var piece in ReadBodyPiecesAsync(head, ct))
        {
            text.Append(piece);
        }

        return text.ToString();
    }

    /// <summary>The body as it arrives: each chunk (or buffer) as soon as it is read.</summary>
    public async IAsyncEnumerable<string> ReadBodyPiecesAsync(HttpResponseHead head, [EnumeratorCancellation] CancellationToken ct)
    {
        if (head.Status is 204 or 304 || (head.Status >= 100 && head.Status < 200))
        {
            yield break;
        }

        if (string.Equals(head.Header("transfer-encoding"), "chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var sizeLine = await ReadLineAsync(ct);
                var size = Convert.ToInt32(sizeLine.Split(';')[0].Trim(), 16);
                if (size == 0)
                {
                    await ReadLineAsync(ct);
                    yield break;
                }

                yield return Encoding.UTF8.GetString(await ReadExactlyAsync(size, ct));
                await ReadLineAsync(ct);
            }
        }

        if (head.Header("content-length") is { } lengthText)
        {
            var length = int.Parse(lengthText, provider: null);
            if (length > 0)
            {
                yield return Encoding.UTF8.GetString(await ReadExactlyAsync(length, ct));
            }

            yield break;
        }

        while (true)
        {
            if (_end > _start)
            {
                yield return Encoding.UTF8.GetString(_buffer, _start, _end - _start);
                _start = _end;
            }

            if (!await ReceiveAsync(ct))
            {
                yield break;
            }
        }
    }

    private static HttpResponseHead ParseHead(string text)
    {
        var lines = text.Split("\r\n");
        if (lines[0].Length < 12 || !lines[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(lines[0].AsSpan(9, 3), out var status))
        {
            throw new IOException($"not an HTTP response: {lines[0]}");
        }

        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
            }
        }

        return new HttpResponseHead(status, headers);
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
            if (at >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, at);
                _start += at + 2;
                return line;
            }

            if (!await ReceiveAsync(ct))
            {
                throw new IOException("the VMM closed the connection mid-response");
            }
        }
    }

    private async Task<byte[]> ReadExactlyAsync(int length, CancellationToken ct)
    {
        var result = new byte[length];
        var got = 0;
        while (got < length)
        {
            if (_end == _start && !await ReceiveAsync(ct))
            {
                throw new IOException("the VMM closed the connection mid-response");
            }

            var n = Math.Min(length - got, _end - _start);
            Buffer.BlockCopy(_buffer, _start, result, got, n);
            _start += n;
            got += n;
        }

        return result;
    }

    private async Task<bool> ReceiveAsync(CancellationToken ct)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_start > 0 && _end == _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new IOException("response header too large");
        }

        var n = await socket.ReceiveAsync(_buffer.AsMemory(_end), ct);
        _end += n;
        return n > 0;
    }
}
