using CloudHypervisor.Vmm.Kvm.Interop;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Vmm.Memory;

/// <summary>
/// A host file mapped whole into the VMM (virtio-pmem's backing): MAP_SHARED and writable, so
/// the guest's stores reach the file's page cache and an fsync makes them durable; or, for
/// <c>discard_writes</c>, MAP_PRIVATE and read-only, so nothing the guest does reaches the file.
/// MAP_NORESERVE as upstream: pages are only faulted in when the guest touches them.
/// </summary>
public sealed class FileMapping : IDisposable
{
    private readonly MmapHandle _mapping;

    private FileMapping(MmapHandle mapping, bool readOnly)
    {
        _mapping = mapping;
        ReadOnly = readOnly;
    }

    public ulong Size => (ulong)_mapping.Length;

    /// <summary>Mapped private and read-only (discard_writes).</summary>
    public bool ReadOnly { get; }

    /// <summary>Host address of the mapping, for a hypervisor memory slot.</summary>
    internal nint HostAddress => _mapping.Address;

    /// <summary>Maps the first <paramref name="size"/> bytes of <paramref name="file"/>; throws <see cref="IOException"/> naming the cause.</summary>
    public static FileMapping Map(SafeFileHandle file, ulong size, bool discardWrites)
    {
        ArgumentNullException.ThrowIfNull(file);
        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            var fd = (int)file.DangerousGetHandle();
            var mapping = discardWrites
                ? MmapHandle.Map((nuint)size, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_NORESERVE, fd, "the pmem file")
                : MmapHandle.Map((nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_NORESERVE, fd, "the pmem file");
            // A forked helper must not share or copy the region, as for guest RAM.
            _ = Libc.madvise(mapping.Address, mapping.Length, Libc.MADV_DONTFORK);
            return new FileMapping(mapping, discardWrites);
        }
        catch (KvmException e)
        {
            throw new IOException(e.Message, e);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    public void Dispose() => _mapping.Dispose();
}

/// <summary>
/// The hypervisor's memory slots beyond guest RAM: host memory made guest-physical memory at an
/// address the device model chose (virtio-pmem's region). Disposing the returned handle removes
/// the slot. Hypervisor-neutral: the KVM backend implements it with KVM_SET_USER_MEMORY_REGION.
/// </summary>
public interface IMemorySlots
{
    /// <summary>
    /// Maps <paramref name="mapping"/> at <paramref name="guestAddress"/>. A read-only mapping gets
    /// a read-only slot: guest stores exit to the VMM as MMIO writes, which it drops.
    /// </summary>
    IDisposable Map(ulong guestAddress, FileMapping mapping);
}
