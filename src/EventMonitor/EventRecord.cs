namespace CloudHypervisor.EventMonitor;

/// <summary>
/// One lifecycle event. <see cref="Seq"/> starts at 0 with <c>vmm/starting</c> and increases by
/// one per event; <see cref="Timestamp"/> is monotonic time since the monitor was set up
/// (contract §5.2). Property values are strings, as upstream.
/// </summary>
public sealed record EventRecord(
    long Seq,
    TimeSpan Timestamp,
    string Source,
    string Event,
    IReadOnlyDictionary<string, string>? Properties);
