using CloudHypervisor.Frontends.Rest.Transport;
using Microsoft.Extensions.Logging;
using SerilogLevel = Serilog.Events.LogEventLevel;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Kestrel's Microsoft.Extensions.Logging output, forwarded to the process's Serilog logger.
/// Only warnings and worse pass: Kestrel's per-connection Debug/Information chatter would cost
/// time on every request and says nothing a VMM operator needs. One Debug event is read, not
/// printed: a rejected request's reason (<see cref="RejectionNotes"/>), which Kestrel logs just
/// before it writes its own answer, so that answer can name it.
/// </summary>
internal sealed class KestrelLog(Serilog.ILogger log, RejectionNotes rejections) : ILoggerFactory
{
    // Kestrel's KestrelTrace: category and event of "Connection id ... bad request data".
    private const string BadRequestsCategory = "Microsoft.AspNetCore.Server.Kestrel.BadRequests";
    private const int ConnectionBadRequestEvent = 17;

    public ILogger CreateLogger(string categoryName) =>
        new Logger(log.ForContext("SourceContext", categoryName), categoryName == BadRequestsCategory ? rejections : null);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(Serilog.ILogger log, RejectionNotes? rejections) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) =>
            (rejections is not null && logLevel == LogLevel.Debug) || Forwarded(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (rejections is not null && eventId.Id == ConnectionBadRequestEvent && exception is not null
                && state is IReadOnlyList<KeyValuePair<string, object?>> fields
                && fields.FirstOrDefault(f => f.Key == "ConnectionId").Value is string connectionId)
            {
                rejections.Note(connectionId, exception.Message);
            }

            if (Forwarded(logLevel))
            {
                log.Write(Map(logLevel), exception, "{Message}", formatter(state, exception));
            }
        }

        private bool Forwarded(LogLevel logLevel) =>
            logLevel is >= LogLevel.Warning and < LogLevel.None && log.IsEnabled(Map(logLevel));

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
