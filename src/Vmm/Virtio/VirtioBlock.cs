using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-blk (virtio 1.x §5.2) on a raw image: IN, OUT, FLUSH, GET_ID, DISCARD and
/// WRITE_ZEROES. Requests are framed by bytes, not by descriptors (§2.6.4): a 16-byte header in
/// the readable part, data, and the status as the last writable byte. Data moves straight
/// between the image and guest RAM (through an aligned bounce buffer with O_DIRECT). Counters
/// carry upstream's names (read_bytes, write_ops, read_latency_avg in µs, ...).
/// </summary>
// SAFETY: the only pointer is _bounce, an aligned native buffer of the largest request this
// device accepts, allocated once and freed in Dispose; spans over it never exceed that length.
public sealed unsafe class VirtioBlock : IVirtioDevice, IStateful
{
    public const int SectorSize = 512;
    private const int FeatureSegMax = 2;
    private const int FeatureReadOnly = 5;
    private const int FeatureBlockSize = 6;
    private const int FeatureFlush = 9;
    private const int FeatureMultiQueue = 12;
    private const int FeatureDiscard = 13;
    private const int FeatureWriteZeroes = 14;
    private const uint RequestIn = 0;
    private const uint RequestOut = 1;
    private const uint RequestFlush = 4;
    private const uint RequestGetId = 8;
    private const uint RequestDiscard = 11;
    private const uint RequestWriteZeroes = 13;
    private const byte StatusOk = 0;
    private const byte StatusIoError = 1;
    private const byte StatusUnsupported = 2;
    private const int IdBytes = 20;
    private const uint MaxDiscardSectors = uint.MaxValue / SectorSize;
    private const int BounceSize = 1 << 20;

    private readonly HostFile _file;
    private readonly bool _readOnly;
    private readonly bool _sparse;
    private readonly byte[] _serial;
    private readonly Latency _reads = new();
    private readonly Latency _writes = new();
    private GuestMemory? _memory;
    private long _capacitySectors;
    private long _readBytes;
    private long _writeBytes;
    private nint _bounce;

    public VirtioBlock(string id, HostFile file, bool readOnly, bool sparse, int queues, ushort queueSize, string? serial)
    {
        Id = id;
        _file = file;
        _readOnly = readOnly;
        _sparse = sparse;
        QueueCount = queues;
        MaxQueueSize = queueSize;
        _serial = Encoding.ASCII.GetBytes(serial ?? "");
        _capacitySectors = file.Length / SectorSize;
    }

    public string Id { get; }

    public ushort DeviceType => VirtioIds.Block;

    public (byte Class, byte Subclass) PciClass => (0x01, 0x80);

    public int QueueCount { get; }

    public ushort MaxQueueSize { get; }

    public ulong CapacitySectors => (ulong)Interlocked.Read(ref _capacitySectors);

    public ulong Features =>
        (1UL << FeatureSegMax) | (1UL << FeatureBlockSize) | (1UL << FeatureFlush)
        | (_readOnly ? 1UL << FeatureReadOnly : (1UL << FeatureWriteZeroes) | (_sparse ? 1UL << FeatureDiscard : 0))
        | (QueueCount > 1 ? 1UL << FeatureMultiQueue : 0);

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data)
    {
        // struct virtio_blk_config up to write_zeroes_may_unmap.
        Span<byte> c = stackalloc byte[60];
        c.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(c, CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], (uint)Math.Max(1, MaxQueueSize - 2)); // seg_max
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], SectorSize); // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], (ushort)QueueCount);
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], 1); // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], 1); // discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], 1); // max_write_zeroes_seg
        c[56] = (byte)(_sparse ? 1 : 0);
        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        // Only writeback is writable, and only with CONFIG_WCE, which is not offered.
    }

    public void Activate(GuestMemory memory, ulong features)
    {
        _memory = memory;
        if (_file.Direct && _bounce == 0)
        {
            _bounce = (nint)NativeMemory.AlignedAlloc(BounceSize, 4096);
        }
    }

    public void Reset()
    {
    }

    public string SaveState() =>
        StateJson.Write(new VirtioBlockState { CapacitySectors = CapacitySectors, ReadOnly = _readOnly }, StateJsonContext.Default.VirtioBlockState);

    /// <summary>The driver knows the capacity it read: the image must still have it, or the guest's file system would be cut or misplaced.</summary>
    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioBlockState);
        if (s.CapacitySectors != CapacitySectors)
        {
            throw new StateFormatException("capacity_sectors", $"is {s.CapacitySectors}, but the image now has {CapacitySectors} sectors");
        }

        if (s.ReadOnly != _readOnly)
        {
            throw new StateFormatException("read_only", $"is {(s.ReadOnly ? "true" : "false")}, but the disk is configured {(_readOnly ? "read-only" : "read-write")}");
        }
    }

    /// <summary>vm.resize-disk: the image grows to <paramref name="size"/> bytes and the driver is told.</summary>
    public void Resize(ulong size)
    {
        _file.SetLength((long)size);
        Interlocked.Exchange(ref _capacitySectors, (long)(size / SectorSize));
        ConfigChanged?.Invoke();
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            interrupt |= queue.Push(chain, Serve(chain));
        }

        return interrupt;
    }

    private uint Serve(VirtioChain chain)
    {
        var memory = _memory!;
        var readable = chain.Readable.ToList();
        var writable = chain.Writable.ToList();
        var readableBytes = readable.Sum(b => (long)b.Length);
        var writableBytes = writable.Sum(b => (long)b.Length);
        if (readableBytes < 16 || writableBytes < 1)
        {
            throw new VirtioQueueException($"block request without a header or a status byte ({readableBytes} readable, {writableBytes} writable bytes)");
        }

        Span<byte> header = stackalloc byte[16];
        Gather(memory, readable, 0, header);
        var type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        var status = StatusOk;
        uint written = 1;
        var dataIn = writableBytes - 1;
        try
        {
            switch (type)
            {
                case RequestIn:
                    status = Transfer(memory, writable, 0, dataIn, sector, read: true);
                    written += status == StatusOk ? (uint)dataIn : 0;
                    break;
                case RequestOut:
                    status = _readOnly ? StatusIoError : Transfer(memory, readable, 16, readableBytes - 16, sector, read: false);
                    break;
                case RequestFlush:
                    if (!_readOnly)
                    {
                        _file.Sync();
                    }

                    break;
                case RequestGetId:
                    var id = new byte[Math.Min(IdBytes, dataIn)];
                    _serial.AsSpan(0, Math.Min(_serial.Length, id.Length)).CopyTo(id);
                    Scatter(memory, writable, 0, id);
                    written += (uint)id.Length;
                    break;
                case RequestDiscard or RequestWriteZeroes:
                    status = _readOnly ? StatusIoError : Zero(memory, readable, readableBytes - 16, type == RequestDiscard);
                    break;
                default:
                    status = StatusUnsupported;
                    break;
            }
        }
        catch (IOException)
        {
            status = StatusIoError;
        }

        Span<byte> s = [status];
        Scatter(memory, writable, dataIn, s);
        return written;
    }

    private byte Transfer(GuestMemory memory, List<VirtioBuffer> buffers, long skip, long length, ulong sector, bool read)
    {
        var capacity = CapacitySectors * SectorSize;
        var offset = sector * SectorSize;
        if (length % SectorSize != 0 || sector > capacity / SectorSize || (ulong)length > capacity - offset)
        {
            return StatusIoError;
        }

        var started = Stopwatch.GetTimestamp();
        var position = (long)offset;
        foreach (var (gpa, count) in Segments(buffers, skip, length))
        {
            for (var done = 0L; done < count;)
            {
                var chunk = (int)Math.Min(count - done, _file.Direct ? BounceSize : 1 << 30);
                var span = memory.GetSpan(gpa + (ulong)done, chunk);
                if (read)
                {
                    ReadAt(span, position);
                }
                else
                {
                    WriteAt(span, position);
                }

                done += chunk;
                position += chunk;
            }
        }

        var micros = (ulong)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        if (read)
        {
            Interlocked.Add(ref _readBytes, length);
            _reads.Add(micros);
        }
        else
        {
            Interlocked.Add(ref _writeBytes, length);
            _writes.Add(micros);
        }

        return StatusOk;
    }

    private void ReadAt(Span<byte> span, long position)
    {
        if (!_file.Direct)
        {
            var n = RandomAccess.Read(_file.Handle, span, position);
            span[n..].Clear();
            return;
        }

        var bounce = new Span<byte>((void*)_bounce, span.Length);
        var got = RandomAccess.Read(_file.Handle, bounce, position);
        bounce[got..].Clear();
        bounce.CopyTo(span);
    }

    private void WriteAt(ReadOnlySpan<byte> span, long position)
    {
        if (!_file.Direct)
        {
            RandomAccess.Write(_file.Handle, span, position);
            return;
        }

        var bounce = new Span<byte>((void*)_bounce, span.Length);
        span.CopyTo(bounce);
        RandomAccess.Write(_file.Handle, bounce, position);
    }

    private byte Zero(GuestMemory memory, List<VirtioBuffer> readable, long length, bool discard)
    {
        // struct virtio_blk_discard_write_zeroes: sector, num_sectors, flags (bit 0: unmap).
        if (length < 16)
        {
            return StatusIoError;
        }

        Span<byte> segment = stackalloc byte[16];
        Gather(memory, readable, 16, segment);
        var sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
        var count = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
        var unmap = (BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]) & 1) != 0;
        var capacity = CapacitySectors;
        if (sector > capacity || count > capacity - sector)
        {
            return StatusIoError;
        }

        var offset = (long)sector * SectorSize;
        var bytes = (long)count * SectorSize;
        if (discard || (unmap && _sparse))
        {
            // A discarded range reads back as zeros on Linux file systems that punch holes.
            if (_file.PunchHole(offset, bytes))
            {
                return StatusOk;
            }

            if (discard)
            {
                return StatusOk;
            }
        }

        if (_file.ZeroRange(offset, bytes))
        {
            return StatusOk;
        }

        var zeros = new byte[Math.Min(bytes, 1 << 20)];
        for (var done = 0L; done < bytes; done += zeros.Length)
        {
            RandomAccess.Write(_file.Handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, bytes - done)), offset + done);
        }

        return StatusOk;
    }

    /// <summary>The guest ranges covering bytes [skip, skip+length) of <paramref name="buffers"/> taken as one stream.</summary>
    private static IEnumerable<(ulong Gpa, long Count)> Segments(List<VirtioBuffer> buffers, long skip, long length)
    {
        foreach (var b in buffers)
        {
            if (length <= 0)
            {
                yield break;
            }

            if (skip >= b.Length)
            {
                skip -= b.Length;
                continue;
            }

            var count = Math.Min(b.Length - skip, length);
            yield return (b.Address + (ulong)skip, count);
            length -= count;
            skip = 0;
        }
    }

    private static void Gather(GuestMemory memory, List<VirtioBuffer> buffers, long skip, Span<byte> into)
    {
        var at = 0;
        foreach (var (gpa, count) in Segments(buffers, skip, into.Length))
        {
            memory.Read(gpa, into.Slice(at, (int)count));
            at += (int)count;
        }
    }

    private static void Scatter(GuestMemory memory, List<VirtioBuffer> buffers, long skip, ReadOnlySpan<byte> from)
    {
        var at = 0;
        foreach (var (gpa, count) in Segments(buffers, skip, from.Length))
        {
            memory.Write(gpa, from.Slice(at, (int)count));
            at += (int)count;
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["read_bytes"] = (ulong)Interlocked.Read(ref _readBytes),
        ["write_bytes"] = (ulong)Interlocked.Read(ref _writeBytes),
        ["read_ops"] = _reads.Count,
        ["write_ops"] = _writes.Count,
        ["read_latency_min"] = _reads.Min,
        ["read_latency_max"] = _reads.Max,
        ["read_latency_avg"] = _reads.Average,
        ["write_latency_min"] = _writes.Min,
        ["write_latency_max"] = _writes.Max,
        ["write_latency_avg"] = _writes.Average,
    };

    public void Dispose()
    {
        _file.Dispose();
        if (_bounce != 0)
        {
            NativeMemory.AlignedFree((void*)_bounce);
            _bounce = 0;
        }
    }

    /// <summary>Request latencies in µs: count, min, max and mean, updated by the device thread, read by vm.counters.</summary>
    private sealed class Latency
    {
        private readonly Lock _lock = new();
        private ulong _count;
        private ulong _min = ulong.MaxValue;
        private ulong _max;
        private ulong _total;

        public void Add(ulong micros)
        {
            lock (_lock)
            {
                _count++;
                _min = Math.Min(_min, micros);
                _max = Math.Max(_max, micros);
                _total += micros;
            }
        }

        public ulong Count
        {
            get
            {
                lock (_lock)
                {
                    return _count;
                }
            }
        }

        public ulong Min
        {
            get
            {
                lock (_lock)
                {
                    return _count == 0 ? 0 : _min;
                }
            }
        }

        public ulong Max
        {
            get
            {
                lock (_lock)
                {
                    return _max;
                }
            }
        }

        public ulong Average
        {
            get
            {
                lock (_lock)
                {
                    return _count == 0 ? 0 : _total / _count;
                }
            }
        }
    }
}

/// <summary>What the driver of a virtio-blk was told: its capacity and whether it may write.</summary>
public sealed record VirtioBlockState
{
    public ulong CapacitySectors { get; init; }

    public bool ReadOnly { get; init; }
}
