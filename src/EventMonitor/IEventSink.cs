namespace CloudHypervisor.EventMonitor;

/// <summary>
/// A consumer of every event (the event file, the D-Bus signal, the log). Each sink is fed by its
/// own bounded queue and task, so a slow sink drops events (counted) and never blocks the VMM.
/// </summary>
public interface IEventSink
{
    /// <summary>A short name for logs, e.g. "file /tmp/ev.json".</summary>
    string Name { get; }

    /// <summary>Delivers one event. Called from one task at a time, in seq order.</summary>
    ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken);
}
