namespace CloudHypervisor.InternalApi;

/// <summary>
/// Gives memory back after huge inputs. A multi-MiB request body or reply grows the GC heap
/// (its buffers, the parsed strings), and the GC returns that memory only when it next collects,
/// which an idle VMM never makes it do: after a burst of large REST bodies RSS stayed at the
/// peak. Frontends report each large input or output here; when none has come for
/// <see cref="QuietPeriod"/>, one aggressive full collection decommits what the burst left.
/// A second one follows <see cref="PoolTrimDelay"/> later: buffers rented from
/// <c>ArrayPool&lt;byte&gt;.Shared</c> (the D-Bus library's messages) stay pooled, 1 to 64 MiB
/// each, and the pool frees only those unused for 60 s, when a full collection lets it trim
/// (measured: 12 MB idle, 677 MB after a burst of 1-32 MiB D-Bus strings, 193 MB after the
/// first collection).
/// </summary>
public static class LargeInputs
{
    /// <summary>Inputs smaller than this cost the GC nothing worth a collection.</summary>
    public const long Threshold = 1L << 20;

    /// <summary>How long after the last large input the collection runs.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(1);

    /// <summary>How long after the first collection the second runs: past ArrayPool's 60 s trimming age.</summary>
    public static readonly TimeSpan PoolTrimDelay = TimeSpan.FromSeconds(65);

    private static readonly Lock Gate = new();
    private static Timer? _timer;
    private static Timer? _trimTimer;

    /// <summary>Collections run so far (for tests and diagnostics).</summary>
    public static int Collections => Volatile.Read(ref _collections);

    private static int _collections;

    /// <summary>Notes an input or output of <paramref name="bytes"/>; a large one schedules the collection.</summary>
    public static void Handled(long bytes)
    {
        if (bytes < Threshold)
        {
            return;
        }

        lock (Gate)
        {
            _timer ??= new Timer(static _ => Collect(), null, Timeout.Infinite, Timeout.Infinite);
            _timer.Change(QuietPeriod, Timeout.InfiniteTimeSpan);
            _trimTimer ??= new Timer(static _ => CollectAndTrimPools(), null, Timeout.Infinite, Timeout.Infinite);
            _trimTimer.Change(QuietPeriod + PoolTrimDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// The pool trims in a callback after a full collection (on the finalizer thread), so what it
    /// lets go is garbage only for the collection after that one.
    /// </summary>
    private static void CollectAndTrimPools()
    {
        Collect();
        GC.WaitForPendingFinalizers();
        Collect();
    }

    private static void Collect()
    {
        // Aggressive: compact every generation, the large object heap included, and decommit the free space.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _collections);
    }
}
