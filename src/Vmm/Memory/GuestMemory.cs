using System.Numerics;
using System.Runtime.InteropServices;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Memory;

/// <summary>One contiguous range of guest-physical RAM and where it sits in the host mapping.</summary>
public sealed record GuestRamRegion(ulong GuestAddress, ulong Size, ulong HostOffset)
{
    public ulong End => GuestAddress + Size;
}

/// <summary>
/// Guest RAM: one host mapping made once at VM creation, split into guest-physical regions per
/// <see cref="PlatformLayout"/> (below the 32-bit MMIO hole, the rest from 4 GiB). Every accessor
/// checks that the whole access lies inside one region, so a bad guest address cannot reach host memory.
/// </summary>
// SAFETY: every pointer comes from Translate, which returns one only when the whole access
// [gpa, gpa + length) lies inside one RAM region of the mapping, and the mapping lives until Dispose.
public sealed unsafe class GuestMemory : IDisposable
{
    private const int PageShift = 12;

    private readonly MmapHandle _mapping;
    private readonly FdHandle? _memfd;
    // The VMM's own dirty log (upstream's AtomicBitmap), one bit per 4 KiB page of the mapping:
    // set while a migration tracks writes, by every accessor that can write guest RAM (devices
    // write through spans, so a span handed out for writing counts as a write).
    private long[]? _dirty;
    // Every page the VMM marked since tracking began: a device may write a page after the page
    // was taken from _dirty and sent, so the final pass sends all of these again.
    private long[]? _touched;

    private GuestMemory(MmapHandle mapping, FdHandle? memfd, IReadOnlyList<GuestRamRegion> regions, bool hugepages)
    {
        _mapping = mapping;
        _memfd = memfd;
        Regions = regions;
        _hugepages = hugepages;
    }

    private readonly bool _hugepages;

    public IReadOnlyList<GuestRamRegion> Regions { get; }

    /// <summary>The memfd behind shared RAM (shared=on), which a local migration hands over; null for private RAM.</summary>
    internal FdHandle? Memfd => _memfd;

    /// <summary>4 KiB pages in the mapping: the length in bits of a dirty bitmap of this RAM.</summary>
    public ulong Pages => Size >> PageShift;

    public ulong Size => (ulong)_mapping.Length;

    /// <summary>Host address of the mapping, for KVM_SET_USER_MEMORY_REGION.</summary>
    internal nint HostAddress => _mapping.Address;

    /// <summary>The guest-physical regions a RAM of <paramref name="size"/> bytes occupies.</summary>
    public static IReadOnlyList<GuestRamRegion> Layout(ulong size)
    {
        if (size <= PlatformLayout.MemoryHoleStart)
        {
            return [new GuestRamRegion(0, size, 0)];
        }

        return
        [
            new GuestRamRegion(0, PlatformLayout.MemoryHoleStart, 0),
            new GuestRamRegion(PlatformLayout.HighRamStart, size - PlatformLayout.MemoryHoleStart, PlatformLayout.MemoryHoleStart),
        ];
    }

    /// <summary>
    /// Maps <paramref name="size"/> bytes of RAM: a memfd for <paramref name="shared"/> (so another
    /// process such as a vhost-user backend can map it), anonymous private memory otherwise;
    /// huge pages with MAP_HUGETLB/MFD_HUGETLB when asked, or a clear error when the host has none.
    /// </summary>
    public static GuestMemory Create(ulong size, bool shared, bool hugepages, ulong? hugepageSize = null)
    {
        var pageSize = hugepages ? hugepageSize ?? (2UL << 20) : 4096UL;
        if (hugepages && !BitOperations.IsPow2(pageSize))
        {
            throw new ArgumentException($"memory: hugepage_size {pageSize} is not a power of two");
        }

        if (size == 0 || size % pageSize != 0)
        {
            throw new ArgumentException($"memory: size {size} is not a non-zero multiple of the page size {pageSize}");
        }

        // MAP_HUGETLB/MFD_HUGETLB encode log2(page size) in bits 26-31 (MAP_HUGE_SHIFT).
        var hugeFlags = hugepages ? BitOperations.Log2(pageSize) << 26 : 0;
        FdHandle? memfd = null;
        try
        {
            MmapHandle mapping;
            if (shared)
            {
                var flags = Libc.MFD_CLOEXEC | (hugepages ? Libc.MFD_HUGETLB | (uint)hugeFlags : 0);
                memfd = FdHandle.Check(Libc.memfd_create("ch-guest-ram", flags), "memfd_create for guest RAM");
                if (Libc.ftruncate(memfd.Fd, (long)size) != 0)
                {
                    throw HugeError(KvmException.FromLastError("ftruncate of the guest RAM memfd"), hugepages, size, pageSize);
                }

                mapping = Map(size, Libc.MAP_SHARED, memfd.Fd, hugepages, pageSize);
            }
            else
            {
                // Huge pages are reserved at mmap time (no MAP_NORESERVE), so a host without
                // enough of them fails here with an error instead of SIGBUS on first touch.
                var flags = Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS
                    | (hugepages ? Libc.MAP_HUGETLB | hugeFlags : Libc.MAP_NORESERVE);
                mapping = Map(size, flags, -1, hugepages, pageSize);
            }

            // A forked child (e.g. a helper process) must not share or copy guest RAM.
            _ = Libc.madvise(mapping.Address, mapping.Length, Libc.MADV_DONTFORK);
            return new GuestMemory(mapping, memfd, Layout(size), hugepages);
        }
        catch
        {
            memfd?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps RAM handed over by a local migration: <paramref name="memfd"/> holds the source's guest
    /// RAM, laid out as <see cref="Layout"/> lays out <paramref name="size"/> bytes. Takes the handle.
    /// </summary>
    internal static GuestMemory FromMemfd(FdHandle memfd, ulong size)
    {
        try
        {
            Libc.stat_t stat;
            // SAFETY: stat is a local the kernel fills; fstat keeps no pointer.
            if (Libc.fstat(memfd.Fd, &stat) != 0)
            {
                throw KvmException.FromLastError("fstat of the guest RAM memfd");
            }

            if ((ulong)stat.st_size != size)
            {
                throw new ArgumentException($"memory: the memfd handed over holds {stat.st_size} bytes, but the config's RAM is {size}");
            }

            var mapping = MmapHandle.Map((nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, memfd.Fd, "guest RAM");
            _ = Libc.madvise(mapping.Address, mapping.Length, Libc.MADV_DONTFORK);
            // A hugetlb memfd is not told apart yet: the balloon then finds out from madvise.
            return new GuestMemory(mapping, memfd, Layout(size), hugepages: false);
        }
        catch
        {
            memfd.Dispose();
            throw;
        }
    }

    private static MmapHandle Map(ulong size, int flags, int fd, bool hugepages, ulong pageSize)
    {
        try
        {
            return MmapHandle.Map((nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, flags, fd, "guest RAM");
        }
        catch (KvmException e)
        {
            throw HugeError(e, hugepages, size, pageSize);
        }
    }

    private static KvmException HugeError(KvmException e, bool hugepages, ulong size, ulong pageSize) =>
        hugepages
            ? new KvmException(
                $"memory: hugepages=on needs {size / pageSize} free huge pages of {pageSize >> 10} KiB "
                + $"(see /proc/sys/vm/nr_hugepages): {e.Message}", e)
            : e;

    /// <summary>The host pointer for [gpa, gpa+length) if it lies inside one region.</summary>
    private byte* Translate(ulong gpa, ulong length)
    {
        foreach (var region in Regions)
        {
            if (gpa >= region.GuestAddress && gpa - region.GuestAddress <= region.Size
                && length <= region.Size - (gpa - region.GuestAddress))
            {
                // SAFETY: offset + length is inside the region, and every region lies inside the mapping.
                return (byte*)_mapping.Address + (nint)(region.HostOffset + (gpa - region.GuestAddress));
            }
        }

        throw new ArgumentOutOfRangeException(nameof(gpa), $"guest range 0x{gpa:X}+0x{length:X} is outside guest RAM");
    }

    public bool Contains(ulong gpa, ulong length)
    {
        foreach (var region in Regions)
        {
            if (gpa >= region.GuestAddress && gpa - region.GuestAddress <= region.Size
                && length <= region.Size - (gpa - region.GuestAddress))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A span over guest RAM; valid while this object is alive (at most 2 GiB). Counts as a write for dirty tracking.</summary>
    public Span<byte> GetSpan(ulong gpa, int length)
    {
        var at = Translate(gpa, (ulong)length);
        MarkDirty(at, length);
        return new(at, length);
    }

    /// <summary>A read-only span over guest RAM, which dirty tracking does not count.</summary>
    public ReadOnlySpan<byte> GetReadOnlySpan(ulong gpa, int length) => new(Translate(gpa, (ulong)length), length);

    public void Write(ulong gpa, ReadOnlySpan<byte> bytes) => bytes.CopyTo(GetSpan(gpa, bytes.Length));

    public void Read(ulong gpa, Span<byte> destination) => GetReadOnlySpan(gpa, destination.Length).CopyTo(destination);

    private void MarkDirty(byte* at, int length)
    {
        if (_dirty is not { } dirty || length <= 0)
        {
            return;
        }

        var first = (ulong)(at - (byte*)_mapping.Address) >> PageShift;
        var last = ((ulong)(at - (byte*)_mapping.Address) + (ulong)length - 1) >> PageShift;
        for (var page = first; page <= last; page++)
        {
            var bit = 1L << (int)(page & 63);
            if ((Volatile.Read(ref dirty[page >> 6]) & bit) == 0)
            {
                Interlocked.Or(ref dirty[page >> 6], bit);
            }
        }
    }

    /// <summary>Starts the VMM's dirty log: from now on every write through this object marks its pages.</summary>
    public void StartDirtyTracking()
    {
        var words = (int)((Pages + 63) / 64);
        _touched = new long[words];
        Volatile.Write(ref _dirty, new long[words]);
    }

    public void StopDirtyTracking()
    {
        Volatile.Write(ref _dirty, null);
        _touched = null;
    }

    /// <summary>
    /// ORs the pages the VMM wrote since the last call into <paramref name="into"/> and clears
    /// them (upstream's get_and_reset). With <paramref name="sinceStart"/> every page marked since
    /// tracking began is added instead, for the final pass of a migration.
    /// </summary>
    public void TakeDirty(DirtyBitmap into, bool sinceStart = false)
    {
        ArgumentNullException.ThrowIfNull(into);
        if (_dirty is not { } dirty || _touched is not { } touched)
        {
            return;
        }

        for (var i = 0; i < dirty.Length; i++)
        {
            var word = Interlocked.Exchange(ref dirty[i], 0);
            touched[i] |= word;
            into.Words[i] |= (ulong)(sinceStart ? touched[i] : word);
        }
    }

    /// <summary>
    /// The pages of RAM that may hold something other than zeros: resident (mincore) and not all
    /// zero. A fresh destination needs only these; for an idle guest that is a small part of its RAM.
    /// </summary>
    public DirtyBitmap NonZeroPages()
    {
        var pages = Pages;
        var map = new DirtyBitmap(pages);
        var resident = new byte[pages];
        fixed (byte* vec = resident)
        {
            // SAFETY: vec holds one byte per page of the mapping, as mincore writes.
            if (Libc.mincore(_mapping.Address, _mapping.Length, vec) != 0)
            {
                throw KvmException.FromLastError("mincore of guest RAM");
            }
        }

        for (ulong page = 0; page < pages; page++)
        {
            if ((resident[page] & 1) == 0)
            {
                continue;
            }

            // SAFETY: page < Pages, so the 4 KiB at page << 12 lie inside the mapping.
            var bytes = new ReadOnlySpan<byte>((byte*)_mapping.Address + (nint)(page << PageShift), 1 << PageShift);
            if (bytes.IndexOfAnyExcept((byte)0) >= 0)
            {
                map.Set(page);
            }
        }

        return map;
    }

    /// <summary>Guest-physical ranges of the host pages set in <paramref name="map"/>, merged where contiguous.</summary>
    public List<MemoryRangeSpan> RangesOf(DirtyBitmap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var ranges = new List<MemoryRangeSpan>();
        foreach (var region in Regions)
        {
            var first = region.HostOffset >> PageShift;
            var end = (region.HostOffset + region.Size) >> PageShift;
            var page = map.NextSet(first, end);
            while (page < end)
            {
                var run = map.NextClear(page, end);
                ranges.Add(new MemoryRangeSpan(region.GuestAddress + ((page - first) << PageShift), (run - page) << PageShift));
                page = map.NextSet(run, end);
            }
        }

        return ranges;
    }

    public void Fill(ulong gpa, ulong length, byte value)
    {
        for (ulong done = 0; done < length;)
        {
            var chunk = (int)Math.Min(length - done, 1 << 30);
            GetSpan(gpa + done, chunk).Fill(value);
            done += (ulong)chunk;
        }
    }

    public void WriteValue<T>(ulong gpa, T value)
        where T : unmanaged =>
        MemoryMarshal.Write(GetSpan(gpa, sizeof(T)), in value);

    public T ReadValue<T>(ulong gpa)
        where T : unmanaged =>
        MemoryMarshal.Read<T>(GetReadOnlySpan(gpa, sizeof(T)));

    /// <summary>
    /// Faults every page in writable now (MADV_POPULATE_WRITE), so a restored guest does not take
    /// its first page faults while it runs (restore's <c>prefault</c>).
    /// </summary>
    public void Populate()
    {
        if (Libc.madvise(_mapping.Address, _mapping.Length, Libc.MADV_POPULATE_WRITE) != 0)
        {
            throw KvmException.FromLastError("madvise(MADV_POPULATE_WRITE) of guest RAM");
        }
    }

    /// <summary>
    /// Gives the host back the pages of [gpa, gpa+length) (4 KiB aligned, inside one region): the
    /// balloon's inflated and reported pages. Private RAM is dropped with MADV_DONTNEED, shared
    /// (memfd) RAM with MADV_REMOVE, which also frees the file's pages; the guest reads zeros if
    /// it touches them again. False when the host refused (e.g. 4 KiB of a huge-page mapping).
    /// </summary>
    public bool Discard(ulong gpa, ulong length)
    {
        if ((gpa | length) % 4096 != 0 || _hugepages)
        {
            return false;
        }

        var host = Translate(gpa, length);
        return Libc.madvise((nint)host, (nuint)length, _memfd is null ? Libc.MADV_DONTNEED : Libc.MADV_REMOVE) == 0;
    }

    public void Dispose()
    {
        _mapping.Dispose();
        _memfd?.Dispose();
    }
}
