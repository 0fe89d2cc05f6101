namespace CloudHypervisor.Vmm.Devices;

/// <summary>A device reached through port I/O or MMIO. Offsets are relative to its range's base.</summary>
public interface IBusDevice
{
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}

/// <summary>An interrupt line into the in-kernel PIC/IOAPIC.</summary>
public interface IIrqLine
{
    /// <summary>Raises and lowers the line: an edge, as ISA devices signal on their IRQ.</summary>
    void Pulse();
}

/// <summary>
/// A set of non-overlapping address ranges (one bus for ports, one for MMIO). Lookups come from
/// every vCPU thread; registration happens once while the VM is built, before any vCPU runs.
/// Accesses are counted per range for vm.counters.
/// </summary>
public sealed class IoBus
{
    private readonly List<Range> _ranges = [];

    private sealed class Range(ulong @base, ulong size, string name, IBusDevice device)
    {
        public ulong Base { get; } = @base;
        public ulong Size { get; } = size;
        public string Name { get; } = name;
        public IBusDevice Device { get; } = device;
        public long Accesses;
    }

    public void Register(ulong @base, ulong size, string name, IBusDevice device)
    {
        ArgumentOutOfRangeException.ThrowIfZero(size);
        foreach (var r in _ranges)
        {
            if (@base < r.Base + r.Size && r.Base < @base + size)
            {
                throw new InvalidOperationException($"{name} at 0x{@base:X} overlaps {r.Name} at 0x{r.Base:X}");
            }
        }

        _ranges.Add(new Range(@base, size, name, device));
        _ranges.Sort((a, b) => a.Base.CompareTo(b.Base));
    }

    private Range? Find(ulong address)
    {
        // Few ranges: a linear scan beats anything cleverer.
        foreach (var r in _ranges)
        {
            if (address >= r.Base && address - r.Base < r.Size)
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

        Interlocked.Increment(ref r.Accesses);
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

        Interlocked.Increment(ref r.Accesses);
        r.Device.Write(address - r.Base, data);
        return true;
    }

    /// <summary>Accesses per registered range name.</summary>
    public IReadOnlyDictionary<string, ulong> AccessCounts()
    {
        var counts = new Dictionary<string, ulong>();
        foreach (var r in _ranges)
        {
            counts[r.Name] = counts.GetValueOrDefault(r.Name) + (ulong)Interlocked.Read(ref r.Accesses);
        }

        return counts;
    }
}
