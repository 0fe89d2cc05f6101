using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace CloudHypervisor.Logging;

/// <summary>What the command line says about logging.</summary>
/// <param name="Verbosity">How many <c>-v</c> were given: 0 Warn, 1 Info, 2 Debug, 3+ Trace.</param>
/// <param name="LogFile">The <c>--log-file</c>, or null for stderr.</param>
/// <param name="LogFormat">The <c>--log-format</c>, or null for upstream's default.</param>
/// <param name="JournaldSocket">
/// The journald socket when journald logging is on (<c>--log-journald</c>, or JOURNAL_STREAM set
/// because systemd started us); null otherwise.
/// </param>
public sealed record LoggingOptions(int Verbosity, string? LogFile, string? LogFormat, string? JournaldSocket);

/// <summary>
/// Builds the process logger. Destinations: the log file if given, else journald if on, else
/// stderr (under systemd, stderr already goes to the journal, so it is not written twice).
/// Framework (Microsoft.*, i.e. Kestrel) logs are held at Warning whatever <c>-v</c> says.
/// </summary>
public static class LoggingSetup
{
    public static LogEventLevel Level(int verbosity) => verbosity switch
    {
        <= 0 => LogEventLevel.Warning,
        1 => LogEventLevel.Information,
        2 => LogEventLevel.Debug,
        _ => LogEventLevel.Verbose,
    };

    /// <exception cref="IOException">The log file cannot be created.</exception>
    /// <exception cref="UnauthorizedAccessException">The log file cannot be created.</exception>
    public static Logger Create(LoggingOptions options, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        var formatter = new UpstreamLogFormatter(options.LogFormat);
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(Level(options.Verbosity))
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning);
        if (options.LogFile is { } path)
        {
            configuration.WriteTo.Sink(TextWriterSink.ForFile(path, formatter));
        }

        if (options.JournaldSocket is { } socket)
        {
            configuration.WriteTo.Sink(new JournaldSink(socket));
        }

        if (options.LogFile is null && options.JournaldSocket is null)
        {
            configuration.WriteTo.Sink(new TextWriterSink(stderr, formatter, ownsWriter: false));
        }

        return configuration.CreateLogger();
    }
}
