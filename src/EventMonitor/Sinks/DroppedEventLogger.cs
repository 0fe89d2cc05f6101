using Serilog;

namespace CloudHypervisor.EventMonitor.Sinks;

/// <summary>
/// Logs events that a sink's full queue made the monitor drop. A stuck reader drops every event
/// from then on, so only the first drop of each sink is a warning; the rest are debug lines.
/// </summary>
public sealed class DroppedEventLogger : IDisposable
{
    private readonly EventMonitor _monitor;
    private readonly ILogger _logger;
    private readonly HashSet<string> _warned = [];

    public DroppedEventLogger(EventMonitor monitor, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(monitor);
        _monitor = monitor;
        _logger = logger;
        _monitor.EventDropped += OnDropped;
    }

    public void Dispose() => _monitor.EventDropped -= OnDropped;

    private void OnDropped(string sink, EventRecord record)
    {
        bool first;
        lock (_warned)
        {
            first = _warned.Add(sink);
        }

        if (first)
        {
            _logger.Warning(
                "Event sink {Sink:l} is not keeping up: dropped event {Seq} ({EventSource:l}/{EventName:l}); further drops are logged at debug level",
                sink, record.Seq, record.Source, record.Event);
        }
        else
        {
            _logger.Debug("Event sink {Sink:l} dropped event {Seq} ({EventSource:l}/{EventName:l})", sink, record.Seq, record.Source, record.Event);
        }
    }
}
