using System.Buffers.Binary;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-pmem (virtio 1.x §5.19): a host file mapped as guest-physical memory at
/// <see cref="Start"/> (the config's <c>start</c> and <c>size</c>), which the guest reads and
/// writes directly (DAX); the one request queue takes FLUSH (type 0), answered by an fsync of
/// the file (ret 0, or 1 = EIO when it fails), as upstream. A malformed request is completed
/// with nothing written, as upstream does, and the device goes on. With <c>discard_writes</c>
/// the region is a private read-only mapping in a read-only memory slot: guest stores exit to the
/// VMM and are dropped by <see cref="PmemRegionBus"/>, so the file never changes.
/// </summary>
public sealed class VirtioPmem : IVirtioDevice, IStateful
{
    private const uint RequestFlush = 0;
    private const uint ResponseOk = 0;
    private const uint ResponseEio = 1;

    private readonly FileStream _file;
    private readonly FileMapping _mapping;
    private readonly IDisposable _slot;
    private readonly PmemRegionBus? _region;
    private readonly IDisposable? _bus;
    private GuestMemory? _memory;
    private long _flushes;
    private long _invalid;

    /// <summary>
    /// The device over <paramref name="mapping"/> of <paramref name="file"/>, mapped at
    /// <paramref name="start"/> by <paramref name="slot"/>; <paramref name="region"/> is its range
    /// on the MMIO bus (keeps BARs off it, takes discarded stores) and <paramref name="bus"/> that
    /// registration. The device owns and releases all of them.
    /// </summary>
    public VirtioPmem(string id, FileStream file, FileMapping mapping, IDisposable slot, ulong start, PmemRegionBus? region = null, IDisposable? bus = null)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        Id = id;
        _file = file;
        _mapping = mapping;
        _slot = slot;
        _region = region;
        _bus = bus;
        Start = start;
    }

    public string Id { get; }

    /// <summary>Guest-physical address of the region (2 MiB aligned, in its segment's 64-bit window).</summary>
    public ulong Start { get; }

    public ulong Size => _mapping.Size;

    public ushort DeviceType => VirtioIds.Pmem;

    public (byte Class, byte Subclass) PciClass => (0xFF, 0x00);

    public int QueueCount => 1;

    public ushort MaxQueueSize => 256;

    public ulong Features => 0;

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> c = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(c, Start);
        BinaryPrimitives.WriteUInt64LittleEndian(c[8..], Size);
        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        // start and size are read-only (§5.19.4).
    }

    public void Activate(GuestMemory memory, ulong features) => _memory = memory;

    public void Reset()
    {
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

    /// <summary>One request: a readable 4-byte virtio_pmem_req, then a writable virtio_pmem_resp of at least 4 bytes.</summary>
    private uint Serve(VirtioChain chain)
    {
        var buffers = chain.Buffers;
        if (buffers.Count < 2 || buffers[0].Writable || buffers[0].Length != 4 || !buffers[1].Writable || buffers[1].Length < 4)
        {
            Interlocked.Increment(ref _invalid);
            return 0;
        }

        var type = BinaryPrimitives.ReadUInt32LittleEndian(_memory!.GetSpan(buffers[0].Address, 4));
        if (type != RequestFlush)
        {
            Interlocked.Increment(ref _invalid);
            return 0;
        }

        uint ret;
        try
        {
            // fsync writes back the page cache the shared mapping dirtied, and the file's metadata.
            _file.Flush(flushToDisk: true);
            ret = ResponseOk;
        }
        catch (IOException)
        {
            ret = ResponseEio;
        }

        Interlocked.Increment(ref _flushes);
        BinaryPrimitives.WriteUInt32LittleEndian(_memory.GetSpan(buffers[1].Address, 4), ret);
        return 4;
    }

    /// <summary>Where the region is: a restored device must be the same region at the same place.</summary>
    public string SaveState() =>
        StateJson.Write(new VirtioPmemState { Start = Start, Size = Size }, StateJsonContext.Default.VirtioPmemState);

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioPmemState);
        if (s.Start != Start || s.Size != Size)
        {
            throw new StateFormatException("start", $"the saved region 0x{s.Start:X}+0x{s.Size:X} is not this device's 0x{Start:X}+0x{Size:X}");
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["flushes"] = (ulong)Interlocked.Read(ref _flushes),
        ["invalid_requests"] = (ulong)Interlocked.Read(ref _invalid),
        ["discarded_write_bytes"] = _region?.DiscardedBytes ?? 0,
    };

    public void Dispose()
    {
        // The guest loses the region before the mapping behind it goes.
        _slot.Dispose();
        _bus?.Dispose();
        _mapping.Dispose();
        _file.Dispose();
    }
}

/// <summary>virtio-pmem's state: its region (upstream's VirtioPmemConfig start and size).</summary>
public sealed record VirtioPmemState
{
    public required ulong Start { get; init; }

    public required ulong Size { get; init; }
}

/// <summary>
/// A pmem region's range on the MMIO bus. The guest's loads and stores go to the memory slot and
/// never reach it, except the stores to a discard_writes region, which KVM's read-only slot turns
/// into exits: those are dropped here. It also keeps a guest from moving a BAR on top of the region.
/// </summary>
[NoOwnState("it holds nothing: discarded stores are only counted")]
public sealed class PmemRegionBus : IBusDevice
{
    private long _discarded;

    /// <summary>Bytes the guest stored to a discard_writes region.</summary>
    public ulong DiscardedBytes => (ulong)Interlocked.Read(ref _discarded);

    public void Read(ulong offset, Span<byte> data) => data.Clear();

    public void Write(ulong offset, ReadOnlySpan<byte> data) => Interlocked.Add(ref _discarded, data.Length);
}
