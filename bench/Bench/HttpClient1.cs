using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Bench;

/// <summary>
/// A minimal keep-alive HTTP/1.1 client on a Unix socket: what curl does, without curl's process
/// start in the measurement. Reads the status line and Content-Length, then the body.
/// </summary>
internal sealed class HttpClient1 : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private HttpClient1(Socket socket) => _socket = socket;

    public static async Task<HttpClient1> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return new HttpClient1(socket);
    }

    public async Task<int> RequestAsync(string method, string path, string? body = null)
    {
        var bodyBytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        var head = $"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n" +
                   (bodyBytes.Length > 0 ? $"Content-Type: application/json\r\nContent-Length: {bodyBytes.Length}\r\n" : "") + "\r\n";
        await _socket.SendAsync(Encoding.ASCII.GetBytes(head));
        if (bodyBytes.Length > 0)
        {
            await _socket.SendAsync(bodyBytes);
        }

        var headerEnd = await FillUntilHeaderEndAsync();
        var header = Encoding.ASCII.GetString(_buffer, _start, headerEnd - _start);
        var status = int.Parse(header.AsSpan(9, 3), provider: null);
        var length = 0;
        foreach (var line in header.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line.AsSpan(15).Trim(), provider: null);
            }
        }

        _start = headerEnd + 4;
        while (_end - _start < length)
        {
            await ReceiveMoreAsync();
        }

        _start += length;
        return status;
    }

    private async Task<int> FillUntilHeaderEndAsync()
    {
        while (true)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var at = span.IndexOf("\r\n\r\n"u8);
            if (at >= 0)
            {
                return _start + at;
            }

            await ReceiveMoreAsync();
        }
    }

    private async Task ReceiveMoreAsync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end));
        if (n == 0)
        {
            throw new IOException("connection closed by the server");
        }

        _end += n;
    }

    public void Dispose() => _socket.Dispose();
}
