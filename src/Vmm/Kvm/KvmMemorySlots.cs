using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// KVM memory slots after guest RAM's (which take 0..n-1): each mapping gets the lowest free slot
/// and gives it back when removed (a slot of size 0 is deleted, KVM API §4.35), so hot-plug and
/// unplug can go on for the life of the VM. Slots are changed while vCPUs run; KVM makes that safe.
/// </summary>
internal sealed class KvmMemorySlots(KvmVmFd vm, int firstSlot) : IMemorySlots
{
    private readonly Lock _lock = new();
    private readonly SortedSet<uint> _used = [];

    public IDisposable Map(ulong guestAddress, FileMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        uint slot;
        lock (_lock)
        {
            slot = (uint)firstSlot;
            while (_used.Contains(slot))
            {
                slot++;
            }

            _used.Add(slot);
        }

        try
        {
            vm.SetUserMemoryRegion(slot, guestAddress, mapping.Size, mapping.HostAddress, mapping.ReadOnly ? KvmVmFd.KVM_MEM_READONLY : 0);
        }
        catch (KvmException e)
        {
            Release(slot);
            throw new IOException($"Cannot map {mapping.Size} bytes at guest address 0x{guestAddress:X} (KVM memory slot {slot}): {e.Message}", e);
        }

        return new Slot(this, slot, guestAddress, mapping.HostAddress);
    }

    private void Release(uint slot)
    {
        lock (_lock)
        {
            _used.Remove(slot);
        }
    }

    private sealed class Slot(KvmMemorySlots owner, uint slot, ulong guestAddress, nint hostAddress) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                owner.RemoveSlot(slot, guestAddress, hostAddress);
            }
            finally
            {
                owner.Release(slot);
            }
        }
    }

    private void RemoveSlot(uint slot, ulong guestAddress, nint hostAddress)
    {
        try
        {
            vm.SetUserMemoryRegion(slot, guestAddress, 0, hostAddress);
        }
        catch (Exception e) when (e is KvmException or ObjectDisposedException)
        {
            // The VM fd is going too (teardown): the slot dies with it.
        }
    }
}
