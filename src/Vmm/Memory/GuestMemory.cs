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
    private readonly MmapHandle _mapping;
    private readonly FdHandle? _memfd;

    private GuestMemory(MmapHandle mapping, FdHandle? memfd, IReadOnlyList<GuestRamRegion> regions, bool hugepages)
    {
        _mapping = mapping;
        _memfd = memfd;
        Regions = regions;
        _hugepages = hugepages;
    }

    private readonly bool _hugepages;

    public IReadOnlyList<GuestRamRegion> Regions { get; }

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

    /// <summary>A span over guest RAM; valid while this object is alive (at most 2 GiB).</summary>
    public Span<byte> GetSpan(ulong gpa, int length) => new(Translate(gpa, (ulong)length), length);

    public void Write(ulong gpa, ReadOnlySpan<byte> bytes) => bytes.CopyTo(GetSpan(gpa, bytes.Length));

    public void Read(ulong gpa, Span<byte> destination) => GetSpan(gpa, destination.Length).CopyTo(destination);

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
        MemoryMarshal.Read<T>(GetSpan(gpa, sizeof(T)));

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
