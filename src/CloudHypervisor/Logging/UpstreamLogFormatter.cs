using System.Diagnostics;
using System.Text;
using Serilog.Events;
using Serilog.Formatting;

namespace CloudHypervisor.Logging;

/// <summary>
/// Renders a log event in upstream's <c>--log-format</c> (contract §6.1). The template's
/// placeholders are <c>{boottime}</c> (seconds since start, six decimals), <c>{thread}</c>,
/// <c>{level}</c> (ERROR, WARN, INFO, DEBUG, TRACE), <c>{location}</c> (the logging class, Serilog's
/// SourceContext) and <c>{msg}</c>; any other text is copied. Property values in messages render
/// without quotes, as Rust's Display does.
/// </summary>
public sealed class UpstreamLogFormatter : ITextFormatter
{
    /// <summary>Upstream's default format.</summary>
    public const string DefaultFormat = "cloud-hypervisor: {boottime}s: <{thread}> {level}:{location} -- {msg}";

    // Upstream's boottime counts from process start, not from the first log line.
    private static readonly long Start = Stopwatch.GetTimestamp()
        - (long)((DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds * Stopwatch.Frequency);
    private readonly string _format;

    public UpstreamLogFormatter(string? format = null)
    {
        _format = string.IsNullOrEmpty(format) ? DefaultFormat : format;
    }

    public void Format(LogEvent logEvent, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        ArgumentNullException.ThrowIfNull(output);
        var line = new StringBuilder(_format)
            .Replace("{boottime}", Stopwatch.GetElapsedTime(Start).TotalSeconds.ToString("F6"))
            .Replace("{thread}", ThreadName())
            .Replace("{level}", LevelName(logEvent.Level))
            .Replace("{location}", Location(logEvent))
            .Replace("{msg}", RenderMessage(logEvent));
        output.Write(line);
        output.Write('\n');
        if (logEvent.Exception is { } exception)
        {
            output.Write(exception.ToString());
            output.Write('\n');
        }
    }

    /// <summary>Rust's log level names.</summary>
    public static string LevelName(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal or LogEventLevel.Error => "ERROR",
        LogEventLevel.Warning => "WARN",
        LogEventLevel.Information => "INFO",
        LogEventLevel.Debug => "DEBUG",
        LogEventLevel.Verbose => "TRACE",
        _ => level.ToString().ToUpperInvariant(),
    };

    /// <summary>The message with string values unquoted (Serilog quotes them by default).</summary>
    public static string RenderMessage(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        using var writer = new StringWriter();
        foreach (var token in logEvent.MessageTemplate.Tokens)
        {
            if (token is Serilog.Parsing.PropertyToken property
                && logEvent.Properties.TryGetValue(property.PropertyName, out var value)
                && value is ScalarValue { Value: string text })
            {
                writer.Write(text);
            }
            else
            {
                token.Render(logEvent.Properties, writer);
            }
        }

        return writer.ToString();
    }

    private static string ThreadName() =>
        Thread.CurrentThread.Name ?? (Environment.CurrentManagedThreadId == 1 ? "cloud-hypervisor" : $"thread-{Environment.CurrentManagedThreadId}");

    private static string Location(LogEvent logEvent) =>
        logEvent.Properties.TryGetValue("SourceContext", out var value) && value is ScalarValue { Value: string context }
            ? context
            : "cloud-hypervisor";
}
