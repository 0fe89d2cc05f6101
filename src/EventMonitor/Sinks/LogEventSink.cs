using System.Text;
using Serilog;

namespace CloudHypervisor.EventMonitor.Sinks;

/// <summary>
/// Upstream's fallback when neither an event file nor D-Bus is configured (contract §5.2): each
/// event becomes one Info line <c>Event: source = S event = E k = v, ...</c>. Source, Event and
/// Seq are also structured properties, so journald gets them as fields.
/// </summary>
public sealed class LogEventSink(ILogger logger) : IEventSink
{
    public string Name => "log";

    public ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        logger.Information(
            "Event: source = {EventSource:l} event = {EventName:l}{EventProperties:l}",
            record.Source,
            record.Event,
            FormatProperties(record.Properties));
        return ValueTask.CompletedTask;
    }

    /// <summary>" k = v, k2 = v2", or "" when the event has no properties.</summary>
    internal static string FormatProperties(IReadOnlyDictionary<string, string>? properties)
    {
        if (properties is null || properties.Count == 0)
        {
            return "";
        }

        var text = new StringBuilder();
        foreach (var (key, value) in properties)
        {
            text.Append(text.Length == 0 ? " " : ", ").Append(key).Append(" = ").Append(value);
        }

        return text.ToString();
    }
}
