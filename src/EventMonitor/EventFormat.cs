using System.Text;
using System.Text.Json;

namespace CloudHypervisor.EventMonitor;

/// <summary>
/// The two wire forms of an event. Pretty: upstream's record (serde's to_string_pretty: two-space
/// indent; fields timestamp, source, event, properties in that order), with our <c>seq</c> added
/// last. Compact: the same object on one line, for the NDJSON stream.
/// </summary>
public static class EventFormat
{
    private static readonly JsonWriterOptions PrettyOptions = new() { Indented = true, IndentSize = 2, NewLine = "\n" };
    private static readonly JsonWriterOptions CompactOptions = new() { Indented = false };

    /// <summary>The record as upstream writes it to the event file, without the trailing blank line.</summary>
    public static string Pretty(EventRecord record) => Write(record, PrettyOptions);

    /// <summary>The record on one line (no newline at the end).</summary>
    public static string Compact(EventRecord record) => Write(record, CompactOptions);

    private static string Write(EventRecord record, JsonWriterOptions options)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var buffer = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(buffer, options))
        {
            w.WriteStartObject();
            w.WriteStartObject("timestamp");
            var ticks = record.Timestamp.Ticks;
            w.WriteNumber("secs", ticks / TimeSpan.TicksPerSecond);
            w.WriteNumber("nanos", ticks % TimeSpan.TicksPerSecond * 100);
            w.WriteEndObject();
            w.WriteString("source", record.Source);
            w.WriteString("event", record.Event);
            if (record.Properties is null)
            {
                w.WriteNull("properties");
            }
            else
            {
                w.WriteStartObject("properties");
                foreach (var (key, value) in record.Properties)
                {
                    w.WriteString(key, value);
                }

                w.WriteEndObject();
            }

            w.WriteNumber("seq", record.Seq);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
