using System.Buffers.Binary;
using CloudHypervisor.Vmm.Memory;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>A guest-controlled value broke the virtio rules; the device must stop and ask for a reset (NEEDS_RESET).</summary>
public sealed class VirtioQueueException(string message) : Exception(message)
{
    public VirtioQueueException()
        : this("virtqueue error")
    {
    }

    public VirtioQueueException(string message, Exception innerException)
        : this(message + ": " + innerException?.Message)
    {
    }
}

/// <summary>One buffer of a descriptor chain, already checked to lie inside guest RAM.</summary>
public readonly record struct VirtioBuffer(ulong Address, uint Length, bool Writable);

/// <summary>A popped request: its head index (for the used ring) and its buffers in order.</summary>
public sealed record VirtioChain(ushort Head, IReadOnlyList<VirtioBuffer> Buffers)
{
    public IEnumerable<VirtioBuffer> Readable => Buffers.Where(b => !b.Writable);

    public IEnumerable<VirtioBuffer> Writable => Buffers.Where(b => b.Writable);
}

/// <summary>
/// A split virtqueue (virtio 1.x §2.7) over guest memory, driven by one device thread. Every
/// guest-controlled value is checked before use: ring areas and buffers must lie in guest RAM,
/// the available index may run at most a queue ahead, heads and next fields must be inside the
/// table, a chain may not be longer than the table (loops), indirect tables (§2.7.5.3) must be
/// whole descriptors, not nested, and device-writable buffers must follow readable ones. Any
/// violation throws <see cref="VirtioQueueException"/>, after which the transport stops the
/// device and sets NEEDS_RESET. EVENT_IDX (§2.7.7) decides when the driver wants an interrupt.
/// </summary>
public sealed class VirtQueue
{
    public const ushort DescriptorFlagNext = 1;
    public const ushort DescriptorFlagWrite = 2;
    public const ushort DescriptorFlagIndirect = 4;
    private const ushort AvailFlagNoInterrupt = 1;
    private const int DescriptorSize = 16;

    private readonly GuestMemory _memory;
    private ushort _lastAvail;
    private ushort _usedIdx;

    public VirtQueue(GuestMemory memory, ushort size, ulong descTable, ulong availRing, ulong usedRing, bool eventIdx, bool indirect)
    {
        _memory = memory;
        if (size == 0 || !ushort.IsPow2(size))
        {
            throw new VirtioQueueException($"queue size {size} is not a power of two");
        }

        Size = size;
        DescTable = descTable;
        AvailRing = availRing;
        UsedRing = usedRing;
        EventIdx = eventIdx;
        Indirect = indirect;
        // §2.7: alignment 16 for the table, 2 for the available ring and 4 for the used ring.
        Check(descTable % 16 == 0 && availRing % 2 == 0 && usedRing % 4 == 0, "ring addresses are misaligned");
        Check(memory.Contains(descTable, (ulong)size * DescriptorSize), $"descriptor table 0x{descTable:X} is outside guest RAM");
        Check(memory.Contains(availRing, 6 + (2UL * size)), $"available ring 0x{availRing:X} is outside guest RAM");
        Check(memory.Contains(usedRing, 6 + (8UL * size)), $"used ring 0x{usedRing:X} is outside guest RAM");
        _usedIdx = ReadU16(usedRing + 2);
        _lastAvail = _usedIdx;
    }

    public ushort Size { get; }

    /// <summary>The next available-ring entry the device will take (saved with the queue).</summary>
    public ushort NextAvail => _lastAvail;

    /// <summary>The used index the device publishes next.</summary>
    public ushort NextUsed => _usedIdx;

    /// <summary>Puts back the indices of a saved queue; a used index ahead of the available one is refused.</summary>
    public void RestoreIndices(ushort nextAvail, ushort nextUsed)
    {
        Check((ushort)(nextAvail - nextUsed) <= Size, $"saved indices avail {nextAvail} and used {nextUsed} are more than a queue of {Size} apart");
        _lastAvail = nextAvail;
        _usedIdx = nextUsed;
    }

    public ulong DescTable { get; }

    public ulong AvailRing { get; }

    public ulong UsedRing { get; }

    public bool EventIdx { get; }

    public bool Indirect { get; }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new VirtioQueueException(message);
        }
    }

    private ushort ReadU16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(gpa, 2));

    private void WriteU16(ulong gpa, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(gpa, 2), value);

    /// <summary>The next available chain, or null when the driver has offered nothing new.</summary>
    public VirtioChain? Pop()
    {
        var availIdx = ReadU16(AvailRing + 2);
        // The index read must happen before the ring entries it covers (the driver's release write).
        Interlocked.MemoryBarrier();
        var pending = (ushort)(availIdx - _lastAvail);
        if (pending == 0)
        {
            return null;
        }

        Check(pending <= Size, $"available index {availIdx} is {pending} entries ahead of {_lastAvail} in a queue of {Size}");
        var head = ReadU16(AvailRing + 4 + (2UL * (ulong)(_lastAvail % Size)));
        Check(head < Size, $"available ring names descriptor {head} of {Size}");
        _lastAvail++;
        if (EventIdx)
        {
            // avail_event: notify me when you make the entry after this one available.
            WriteU16(UsedRing + 4 + (8UL * Size), _lastAvail);
        }

        return new VirtioChain(head, Walk(head));
    }

    private List<VirtioBuffer> Walk(ushort head)
    {
        var buffers = new List<VirtioBuffer>();
        var table = DescTable;
        var tableSize = (uint)Size;
        uint index = head;
        var seen = 0u;
        var inIndirect = false;
        var sawWritable = false;
        while (true)
        {
            Check(++seen <= tableSize, "descriptor chain is longer than its table (a loop?)");
            var d = _memory.GetSpan(table + (index * DescriptorSize), DescriptorSize);
            var address = BinaryPrimitives.ReadUInt64LittleEndian(d);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            var next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if ((flags & DescriptorFlagIndirect) != 0)
            {
                Check(Indirect, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
                Check(!inIndirect, "nested indirect descriptor table");
                Check((flags & DescriptorFlagNext) == 0, "indirect descriptor with NEXT set");
                Check(length != 0 && length % DescriptorSize == 0 && length / DescriptorSize <= 0x1_0000, $"indirect table length {length} is not a whole number of descriptors");
                Check(_memory.Contains(address, length), $"indirect table 0x{address:X}+{length} is outside guest RAM");
                table = address;
                tableSize = length / DescriptorSize;
                index = 0;
                seen = 0;
                inIndirect = true;
                continue;
            }

            var writable = (flags & DescriptorFlagWrite) != 0;
            Check(writable || !sawWritable, "device-readable buffer after a device-writable one");
            sawWritable |= writable;
            Check(_memory.Contains(address, length), $"buffer 0x{address:X}+{length} is outside guest RAM");
            buffers.Add(new VirtioBuffer(address, length, writable));
            if ((flags & DescriptorFlagNext) == 0)
            {
                return buffers;
            }

            Check(next < tableSize, $"descriptor next {next} is outside a table of {tableSize}");
            index = next;
        }
    }

    /// <summary>
    /// Returns <paramref name="chain"/> to the driver with <paramref name="written"/> bytes
    /// written; true when the driver asked to be interrupted for it.
    /// </summary>
    public bool Push(VirtioChain chain, uint written)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var slot = UsedRing + 4 + (8UL * (ulong)(_usedIdx % Size));
        var element = _memory.GetSpan(slot, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(element, chain.Head);
        BinaryPrimitives.WriteUInt32LittleEndian(element[4..], written);
        var old = _usedIdx;
        _usedIdx++;
        // The element must be visible before the index that publishes it.
        Interlocked.MemoryBarrier();
        WriteU16(UsedRing + 2, _usedIdx);
        Interlocked.MemoryBarrier();
        return NeedsInterrupt(old, _usedIdx);
    }

    private bool NeedsInterrupt(ushort oldIdx, ushort newIdx)
    {
        if (EventIdx)
        {
            var usedEvent = ReadU16(AvailRing + 4 + (2UL * Size));
            return (ushort)(newIdx - usedEvent - 1) < (ushort)(newIdx - oldIdx);
        }

        return (ReadU16(AvailRing) & AvailFlagNoInterrupt) == 0;
    }

    /// <summary>Copies the chain's readable bytes, in order, into one array (at most <paramref name="max"/> bytes).</summary>
    public byte[] ReadAll(VirtioChain chain, int max)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var total = chain.Readable.Sum(b => (long)b.Length);
        Check(total <= max, $"request of {total} bytes exceeds {max}");
        var bytes = new byte[total];
        var at = 0;
        foreach (var b in chain.Readable)
        {
            _memory.Read(b.Address, bytes.AsSpan(at, (int)b.Length));
            at += (int)b.Length;
        }

        return bytes;
    }
}
