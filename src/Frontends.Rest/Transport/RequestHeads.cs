using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// Gives an HTTP/1.1 request without a <c>Host</c> header the one its target implies, on the way
/// from the socket to Kestrel. Upstream's server (micro_http) reads no <c>Host</c> header, so
/// scripts send none (<c>printf 'GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n' | nc -U</c>); Kestrel
/// rejects such a request while parsing (RFC 9112 §3.2), with no option to stop it, so the
/// transport adds <c>Host: localhost</c> (or the authority of an absolute-form target) after the
/// request line. To know where each request head starts it follows the framing only as far as it
/// is certain: a head ends at its empty line, and a <c>Content-Length</c> body is skipped. After
/// anything else (chunked or upgraded bodies, malformed or oversized heads) it passes every byte
/// unchanged and leaves the connection to Kestrel's own rules. A head that arrives in pieces is
/// held back until it is whole. Bytes are handed on without a copy unless a head is changed or split.
/// </summary>
internal sealed class RequestHeads
{
    // Kestrel's limits: request line 8 KiB, headers 32 KiB. A longer head is Kestrel's to refuse.
    private const int MaxHeadLength = 48 * 1024;

    private static readonly byte[] DefaultHostLine = "Host: localhost\r\n"u8.ToArray();

    private readonly List<(int Start, int Length, byte[]? Extra)> _emits = [];
    private State _state;
    private long _bodyLeft;
    private byte[]? _held;

    private enum State
    {
        Head,
        Body,
        Opaque,
    }

    /// <summary>
    /// Hands <paramref name="received"/> (written into <paramref name="writer"/>'s memory, not yet
    /// advanced) on to Kestrel, changed where a head needs a Host header.
    /// </summary>
    public void Pass(Memory<byte> received, PipeWriter writer)
    {
        if (_state == State.Opaque && _held is null)
        {
            writer.Advance(received.Length);
            return;
        }

        var data = received;
        var copied = _held is not null;
        if (_held is { } held)
        {
            data = new byte[held.Length + received.Length];
            held.CopyTo(data.Span);
            received.CopyTo(data[held.Length..]);
            _held = null;
        }

        _emits.Clear();
        var heldFrom = Process(data.Span);
        if (!copied && heldFrom == data.Length && _emits is [(0, var passed, null)] && passed == data.Length)
        {
            writer.Advance(received.Length);
            return;
        }

        // Copy first: the writer's memory holding the received bytes is about to be overwritten.
        Memory<byte> bytes = copied ? data : data.ToArray();
        foreach (var (start, length, extra) in _emits)
        {
            writer.Write(extra ?? bytes.Span.Slice(start, length));
        }

        if (heldFrom < bytes.Length)
        {
            _held = bytes[heldFrom..].ToArray();
        }
    }

    /// <summary>At the end of input: hands on a partial head held back, for Kestrel to refuse.</summary>
    public void Release(PipeWriter writer)
    {
        if (_held is { } held)
        {
            writer.Write(held);
            _held = null;
        }
    }

    private int Process(ReadOnlySpan<byte> data)
    {
        var at = 0;
        while (at < data.Length)
        {
            switch (_state)
            {
                case State.Opaque:
                    Emit(at, data.Length - at);
                    return data.Length;
                case State.Body:
                    var take = (int)Math.Min(_bodyLeft, data.Length - at);
                    Emit(at, take);
                    at += take;
                    _bodyLeft -= take;
                    if (_bodyLeft == 0)
                    {
                        _state = State.Head;
                    }

                    break;
                default:
                    var end = HeadEnd(data[at..]);
                    if (end < 0)
                    {
                        if (data.Length - at <= MaxHeadLength)
                        {
                            return at; // The rest of the head is still on its way.
                        }

                        _state = State.Opaque;
                        break;
                    }

                    var head = data.Slice(at, end);
                    var hostAt = Inspect(head, out var hostLine);
                    if (hostAt >= 0)
                    {
                        Emit(at, hostAt);
                        _emits.Add((0, 0, hostLine));
                        Emit(at + hostAt, end - hostAt);
                    }
                    else
                    {
                        Emit(at, end);
                    }

                    at += end;
                    break;
            }
        }

        return data.Length;
    }

    private void Emit(int start, int length)
    {
        if (length == 0)
        {
            return;
        }

        if (_emits.Count > 0 && _emits[^1] is (var s, var l, null) && s + l == start)
        {
            _emits[^1] = (s, l + length, null);
            return;
        }

        _emits.Add((start, length, null));
    }

    /// <summary>The length of the head at the start of <paramref name="data"/> (through its empty line), or -1.</summary>
    private static int HeadEnd(ReadOnlySpan<byte> data)
    {
        // Kestrel accepts LF as well as CRLF line ends, so a head may end in "\n\n" or "\n\r\n".
        var from = 0;
        while (true)
        {
            var lf = data[from..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                return -1;
            }

            var i = from + lf + 1;
            if (i < data.Length && data[i] == '\n')
            {
                return i + 1;
            }

            if (i + 1 < data.Length && data[i] == '\r' && data[i + 1] == '\n')
            {
                return i + 2;
            }

            if (i + 1 >= data.Length)
            {
                return -1;
            }

            from = i;
        }
    }

    /// <summary>
    /// Reads one whole head: sets the framing of what follows it, and returns where a Host line
    /// belongs (after the request line) when an HTTP/1.1 head needs one, else -1.
    /// </summary>
    private int Inspect(ReadOnlySpan<byte> head, out byte[] hostLine)
    {
        hostLine = DefaultHostLine;
        _state = State.Opaque; // Until the head proves well-formed.
        var lineEnd = head.IndexOf((byte)'\n') + 1;
        var requestLine = TrimCr(head[..(lineEnd - 1)]);
        var firstSpace = requestLine.IndexOf((byte)' ');
        var lastSpace = requestLine.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1 || requestLine[(firstSpace + 1)..lastSpace].Contains((byte)' '))
        {
            return -1;
        }

        var version = requestLine[(lastSpace + 1)..];
        var needsHost = version.SequenceEqual("HTTP/1.1"u8);
        if (!needsHost && !version.SequenceEqual("HTTP/1.0"u8))
        {
            return -1;
        }

        var hasHost = false;
        var chunkedOrUpgraded = false;
        long? contentLength = null;
        var rest = head[lineEnd..];
        while (true)
        {
            var lf = rest.IndexOf((byte)'\n');
            var line = TrimCr(rest[..lf]);
            rest = rest[(lf + 1)..];
            if (line.IsEmpty)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t')
            {
                return -1;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(name, "host"u8))
            {
                hasHost = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8) || Ascii.EqualsIgnoreCase(name, "upgrade"u8))
            {
                chunkedOrUpgraded = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                if (contentLength is not null || value.IsEmpty || value.Length > 18 || value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
                {
                    return -1;
                }

                contentLength = long.Parse(Encoding.ASCII.GetString(value), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        if (!chunkedOrUpgraded)
        {
            _bodyLeft = contentLength ?? 0;
            _state = _bodyLeft > 0 ? State.Body : State.Head;
        }

        if (!needsHost || hasHost)
        {
            return -1;
        }

        var target = requestLine[(firstSpace + 1)..lastSpace];
        if (target.StartsWith("http://"u8))
        {
            // Kestrel wants an absolute-form target's authority in Host.
            var authority = target["http://".Length..];
            var slash = authority.IndexOf((byte)'/');
            authority = slash >= 0 ? authority[..slash] : authority;
            if (!authority.IsEmpty)
            {
                hostLine = [.. "Host: "u8, .. authority, .. "\r\n"u8];
            }
        }

        return lineEnd;
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) =>
        line is [.., (byte)'\r'] ? line[..^1] : line;
}
