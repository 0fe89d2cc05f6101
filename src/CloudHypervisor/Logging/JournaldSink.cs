using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Serilog.Core;
using Serilog.Debugging;
using Serilog.Events;

namespace CloudHypervisor.Logging;

/// <summary>
/// Sends each log event to systemd-journald over its native protocol (NOTES.md "journald"): one
/// datagram per entry on a Unix socket, fields <c>KEY=value\n</c>, or for a value containing a
/// newline <c>KEY\n</c> + 64-bit little-endian length + bytes + <c>\n</c>. Every entry carries
/// MESSAGE, PRIORITY and SYSLOG_IDENTIFIER; each scalar property of the event becomes a field
/// too (Action → ACTION, ErrorKind → ERROR_KIND), so <c>journalctl ACTION=vm.boot</c> works.
/// A journal that is not there loses the entry; logging never fails the VMM.
/// </summary>
public sealed class JournaldSink : ILogEventSink, IDisposable
{
    /// <summary>Where systemd-journald listens for native-protocol datagrams.</summary>
    public const string DefaultSocketPath = "/run/systemd/journal/socket";

    /// <summary>The identifier journalctl's <c>-t</c> filters on.</summary>
    public const string SyslogIdentifier = "cloud-hypervisor";

    private const int MaxFieldNameLength = 64;

    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly UnixDomainSocketEndPoint _endPoint;

    public JournaldSink(string socketPath = DefaultSocketPath)
    {
        _endPoint = new UnixDomainSocketEndPoint(socketPath);
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        try
        {
            _socket.SendTo(Encode(logEvent), SocketFlags.None, _endPoint);
        }
        catch (SocketException e)
        {
            SelfLog.WriteLine("journald: cannot send to {0}: {1}", _endPoint, e.Message);
        }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>The datagram for one event.</summary>
    internal static byte[] Encode(LogEvent logEvent)
    {
        using var buffer = new MemoryStream(256);
        var message = UpstreamLogFormatter.RenderMessage(logEvent);
        if (logEvent.Exception is { } exception)
        {
            message += "\n" + exception;
        }

        AppendField(buffer, "MESSAGE", message);
        AppendField(buffer, "PRIORITY", Priority(logEvent.Level).ToString());
        AppendField(buffer, "SYSLOG_IDENTIFIER", SyslogIdentifier);
        foreach (var (name, value) in logEvent.Properties)
        {
            var field = FieldName(name);
            if (field is null || field is "MESSAGE" or "PRIORITY" or "SYSLOG_IDENTIFIER")
            {
                continue;
            }

            AppendField(buffer, field, value is ScalarValue { Value: { } scalar } ? scalar.ToString() ?? "" : value.ToString());
        }

        return buffer.ToArray();
    }

    /// <summary>syslog(3) priorities: Error 3, Warning 4, Information 6, Debug and Verbose 7.</summary>
    internal static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,
        LogEventLevel.Error => 3,
        LogEventLevel.Warning => 4,
        LogEventLevel.Information => 6,
        LogEventLevel.Debug or LogEventLevel.Verbose => 7,
        _ => 6,
    };

    /// <summary>
    /// A journal field name from a property name: CamelCase words joined by underscores, upper
    /// case, only [A-Z0-9_], not starting with '_' (those are trusted fields journald sets),
    /// at most 64 characters. Null when nothing valid remains.
    /// </summary>
    internal static string? FieldName(string property)
    {
        var name = new StringBuilder(property.Length + 4);
        for (var i = 0; i < property.Length; i++)
        {
            var c = property[i];
            if (char.IsAsciiLetterUpper(c) && i > 0 && (char.IsAsciiLetterLower(property[i - 1]) || char.IsAsciiDigit(property[i - 1])))
            {
                name.Append('_');
            }

            name.Append(char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_');
        }

        var text = name.ToString().TrimStart('_');
        if (text.Length > MaxFieldNameLength)
        {
            text = text[..MaxFieldNameLength];
        }

        return text.Length == 0 || char.IsAsciiDigit(text[0]) ? null : text;
    }

    private static void AppendField(MemoryStream buffer, string name, string value)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        var valueBytes = Encoding.UTF8.GetBytes(value);
        buffer.Write(nameBytes);
        if (value.Contains('\n'))
        {
            Span<byte> length = stackalloc byte[9];
            length[0] = (byte)'\n';
            BinaryPrimitives.WriteUInt64LittleEndian(length[1..], (ulong)valueBytes.Length);
            buffer.Write(length);
        }
        else
        {
            buffer.WriteByte((byte)'=');
        }

        buffer.Write(valueBytes);
        buffer.WriteByte((byte)'\n');
    }
}
