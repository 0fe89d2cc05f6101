using Microsoft.Extensions.Logging;
using SerilogLevel = Serilog.Events.LogEventLevel;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Kestrel's Microsoft.Extensions.Logging output, forwarded to the process's Serilog logger.
/// Only warnings and worse pass: Kestrel's per-connection Debug/Information chatter would cost
/// time on every request and says nothing a VMM operator needs.
/// </summary>
internal sealed class KestrelLog(Serilog.ILogger log) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(log.ForContext("SourceContext", categoryName));

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(Serilog.ILogger log) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) =>
            logLevel is >= LogLevel.Warning and < LogLevel.None && log.IsEnabled(Map(logLevel));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                log.Write(Map(logLevel), exception, "{Message}", formatter(state, exception));
            }
        }

        private static SerilogLevel Map(LogLevel level) => level switch
        {
            LogLevel.Trace => SerilogLevel.Verbose,
            LogLevel.Debug => SerilogLevel.Debug,
            LogLevel.Information => SerilogLevel.Information,
            LogLevel.Warning => SerilogLevel.Warning,
            LogLevel.Error => SerilogLevel.Error,
            LogLevel.Critical or LogLevel.None => SerilogLevel.Fatal,
            _ => SerilogLevel.Fatal,
        };
    }
}
