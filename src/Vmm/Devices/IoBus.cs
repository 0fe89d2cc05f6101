namespace CloudHypervisor.Vmm.Devices;

/// <summary>A device reached through port I/O or MMIO. Offsets are relative to its range's base.</summary>
public interface IBusDevice
{
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}

/// <summary>
/// A set of non-overlapping address ranges (one bus for ports, one for MMIO). Lookups come from
/// every vCPU thread without a lock: they read an immutable, sorted snapshot array, which
/// <see cref="Register"/>, <see cref="Unregister"/> and <see cref="Move"/> replace as a whole
/// (copy on write, under a writers' lock) while vCPUs run, e.g. when the guest moves a PCI BAR
/// or a device is hot-plugged. A vCPU that read the old snapshot finishes its one access on it.
/// Accesses are counted per range name for vm.counters; the counters survive a move.
/// </summary>
public sealed class IoBus
{
    private readonly Lock _writers = new();
    private Range[] _ranges = [];

    private sealed class Range(ulong @base, ulong size, string name, IBusDevice device, Counter accesses)
    {
        public ulong Base { get; } = @base;
        public ulong Size { get; } = size;
        public string Name { get; } = name;
        public IBusDevice Device { get; } = device;
        public Counter Accesses { get; } = accesses;
    }

    private sealed class Counter
    {
        public long Value;
    }

    /// <summary>Adds a range; throws <see cref="InvalidOperationException"/> when it overlaps another.</summary>
    public void Register(ulong @base, ulong size, string name, IBusDevice device)
    {
        ArgumentOutOfRangeException.ThrowIfZero(size);
        ArgumentNullException.ThrowIfNull(device);
        lock (_writers)
        {
            Publish(Insert(_ranges, new Range(@base, size, name, device, new Counter())));
        }
    }

    /// <summary>True when [base, base+size) is free on this bus.</summary>
    public bool IsFree(ulong @base, ulong size)
    {
        foreach (var r in Volatile.Read(ref _ranges))
        {
            if (@base < r.Base + r.Size && r.Base < @base + size)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Removes the range that starts at <paramref name="base"/>; false when there is none.</summary>
    public bool Unregister(ulong @base)
    {
        lock (_writers)
        {
            var current = _ranges;
            var index = Array.FindIndex(current, r => r.Base == @base);
            if (index < 0)
            {
                return false;
            }

            Publish([.. current[..index], .. current[(index + 1)..]]);
            return true;
        }
    }

    /// <summary>
    /// Moves the range at <paramref name="oldBase"/> to <paramref name="newBase"/> in one step
    /// (no moment where neither is mapped); throws when the new place overlaps another range.
    /// </summary>
    public void Move(ulong oldBase, ulong newBase)
    {
        lock (_writers)
        {
            var current = _ranges;
            var index = Array.FindIndex(current, r => r.Base == oldBase);
            if (index < 0)
            {
                throw new InvalidOperationException($"no range at 0x{oldBase:X} to move");
            }

            var old = current[index];
            Range[] without = [.. current[..index], .. current[(index + 1)..]];
            Publish(Insert(without, new Range(newBase, old.Size, old.Name, old.Device, old.Accesses)));
        }
    }

    private static Range[] Insert(Range[] current, Range added)
    {
        foreach (var r in current)
        {
            if (added.Base < r.Base + r.Size && r.Base < added.Base + added.Size)
            {
                throw new InvalidOperationException($"{added.Name} at 0x{added.Base:X} overlaps {r.Name} at 0x{r.Base:X}");
            }
        }

        Range[] next = [.. current, added];
        Array.Sort(next, (a, b) => a.Base.CompareTo(b.Base));
        return next;
    }

    private void Publish(Range[] next) => Volatile.Write(ref _ranges, next);

    private Range? Find(ulong address)
    {
        var ranges = Volatile.Read(ref _ranges);
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var r = ranges[mid];
            if (address < r.Base)
            {
                hi = mid - 1;
            }
            else if (address - r.Base >= r.Size)
            {
                lo = mid + 1;
            }
            else
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>Reads from the device at <paramref name="address"/>; unclaimed reads return all ones, as on real buses.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        var r = Find(address);
        if (r is null)
        {
            data.Fill(0xFF);
            return false;
        }

        Interlocked.Increment(ref r.Accesses.Value);
        r.Device.Read(address - r.Base, data);
        return true;
    }

    /// <summary>Writes to the device at <paramref name="address"/>; unclaimed writes are dropped.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        var r = Find(address);
        if (r is null)
        {
            return false;
        }

        Interlocked.Increment(ref r.Accesses.Value);
        r.Device.Write(address - r.Base, data);
        return true;
    }

    /// <summary>Accesses per registered range name.</summary>
    public IReadOnlyDictionary<string, ulong> AccessCounts()
    {
        var counts = new Dictionary<string, ulong>();
        foreach (var r in Volatile.Read(ref _ranges))
        {
            counts[r.Name] = counts.GetValueOrDefault(r.Name) + (ulong)Interlocked.Read(ref r.Accesses.Value);
        }

        return counts;
    }
}
