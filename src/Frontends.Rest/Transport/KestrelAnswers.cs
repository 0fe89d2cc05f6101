using System.Globalization;
using System.Text;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// Kestrel's own answers, given upstream's shape. Kestrel rejects a request it cannot parse (bad
/// request line, NUL in the target, unknown HTTP version, request line or headers over its
/// limits, <c>*</c> without OPTIONS) before any request delegate runs, and answers it itself:
/// its status, <c>Content-Length: 0</c>, no <c>Server</c> header; and it answers an HTTP/2
/// preface with an HTTP/2 GOAWAY frame. Kestrel has no hook for that answer, but every byte it
/// writes passes through our transport (<see cref="ResponseOutput"/>), so there such an answer
/// is recognized and replaced: the same status and headers, plus <c>Server: Cloud Hypervisor
/// API</c>, <c>Ch-Error-Kind</c> and the JSON array of strings every error answer carries
/// (DESIGN.md), naming the reason Kestrel logged. Every answer our request delegate writes has
/// the <c>Server</c> header, so none of them is ever taken for Kestrel's.
/// </summary>
internal static class KestrelAnswers
{
    /// <summary>Kestrel's answers are a status line and at most four short headers.</summary>
    public const int MaxLength = 512;

    // RFC 9113 §6.8: a GOAWAY frame is a 9-byte frame header (length 8, type 0x7, no flags,
    // stream 0), the last stream id and the error code.
    private const int GoAwayLength = 17;

    private static ReadOnlySpan<byte> GoAwayHeader => [0, 0, 8, 7, 0, 0, 0, 0, 0];

    private static ReadOnlySpan<byte> StatusLineStart => "HTTP/1.1 "u8;

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    /// <summary>A cheap first test on the start of a flush: could it be one of Kestrel's answers?</summary>
    public static bool MayBeOne(ReadOnlySpan<byte> start) =>
        start.StartsWith(GoAwayHeader)
        || (start.Length > StatusLineStart.Length && start.StartsWith(StatusLineStart) && start[StatusLineStart.Length] is (byte)'4' or (byte)'5');

    /// <summary>
    /// The answer to send instead of <paramref name="flushed"/> (everything one flush wrote), or
    /// null when it is not one of Kestrel's own answers. <paramref name="atStart"/>: nothing was
    /// written on the connection before (where Kestrel's GOAWAY comes); <paramref name="reason"/>:
    /// takes the rejection Kestrel logged for the connection, if any.
    /// </summary>
    public static byte[]? Dress(ReadOnlySpan<byte> flushed, bool atStart, Func<string?> reason)
    {
        if (flushed.Length == GoAwayLength && flushed.StartsWith(GoAwayHeader))
        {
            return atStart
                ? Build("HTTP/1.1 400 Bad Request", 400, ["Connection: close"], ["Bad Request", "HTTP/2 is not served here: the API socket speaks HTTP/1.x only, as upstream's"])
                : null;
        }

        if (!flushed.StartsWith(StatusLineStart) || !flushed.EndsWith(HeadEnd) || flushed.IndexOf(HeadEnd) != flushed.Length - HeadEnd.Length)
        {
            return null; // Not exactly one response head without a body.
        }

        var lines = Encoding.ASCII.GetString(flushed[..^HeadEnd.Length]).Split("\r\n");
        var statusLine = lines[0];
        if (statusLine.Length < 12 || !int.TryParse(statusLine.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status) || status < 400)
        {
            return null;
        }

        var kept = new List<string>(lines.Length);
        var emptyBody = false;
        foreach (var line in lines.AsSpan(1))
        {
            if (line.StartsWith("Server:", StringComparison.OrdinalIgnoreCase))
            {
                return null; // Written by our request delegate.
            }

            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                emptyBody = line.AsSpan("Content-Length:".Length).Trim() is "0";
            }
            else
            {
                kept.Add(line);
            }
        }

        if (!emptyBody)
        {
            return null;
        }

        var phrase = statusLine.Length > 13 ? statusLine[13..] : "Error";
        // Kestrel leaves the client's bytes out of its messages unless it logs at Information:
        // "Invalid request line: ''" then says no more than "Invalid request line".
        var detail = reason()?.Replace(": ''", string.Empty, StringComparison.Ordinal).TrimEnd('.');
        return Build(statusLine, status, kept, [phrase, string.IsNullOrEmpty(detail) ? DefaultReason(status) : detail]);
    }

    private static string DefaultReason(int status) => status switch
    {
        400 => "The request is not valid HTTP/1.1",
        405 => "The request target * is for OPTIONS only",
        408 => "The request headers did not arrive in time",
        414 => "The request line is too long",
        431 => "The request headers are too long",
        505 => "The API speaks HTTP/1.0 and HTTP/1.1 only",
        _ => "The request was refused",
    };

    private static byte[] Build(string statusLine, int status, IReadOnlyList<string> headers, IReadOnlyList<string> chain)
    {
        var body = RestResponses.ChainJson(chain);
        // 505 is the client's HTTP version: a bad request like the others, not a fault of ours.
        var kind = status is >= 500 and not 505 ? "Internal" : "InvalidArgument";
        var head = new StringBuilder(256)
            .Append(statusLine).Append("\r\n")
            .Append("Content-Length: ").Append(body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n")
            .Append("Content-Type: ").Append(RestResponses.JsonContentType.ToString()).Append("\r\n");
        foreach (var header in headers)
        {
            head.Append(header).Append("\r\n");
        }

        head.Append("Server: ").Append(RestResponses.ServerHeader.ToString()).Append("\r\n")
            .Append(RestResponses.ErrorKindHeader).Append(": ").Append(kind).Append("\r\n\r\n");
        var headBytes = Encoding.ASCII.GetBytes(head.ToString());
        return [.. headBytes, .. body];
    }
}
