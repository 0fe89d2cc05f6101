namespace CloudHypervisor.EventMonitor;

/// <summary>What the VMM uses to emit events. Never blocks: a slow reader loses events, not the VMM.</summary>
public interface IEventPublisher
{
    /// <summary>Records the event (assigning its seq and timestamp) and hands it to every sink.</summary>
    EventRecord Publish(EventKind kind, IReadOnlyDictionary<string, string>? properties = null);
}
