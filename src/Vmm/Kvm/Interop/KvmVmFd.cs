namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: each ioctl gets a pointer to a local or pinned struct whose size is encoded in the request
// number (checked by KvmAbiTests); the kernel does not keep the pointer after the call.
/// <summary>A VM file descriptor and the VM ioctls on it.</summary>
internal sealed unsafe class KvmVmFd(FdHandle fd) : IDisposable
{
    // Intel VMX needs three pages for the real-mode TSS and one for the identity map, placed
    // just below the 4 GiB boundary, outside RAM and outside our MMIO (same spot as other VMMs).
    public const ulong TssAddress = 0xFFFB_D000;
    public const ulong IdentityMapAddress = 0xFFFB_C000;

    /// <summary>KVM_MEM_READONLY: guest writes to the slot exit to user space as MMIO writes.</summary>
    public const uint KVM_MEM_READONLY = 1u << 1;

    /// <summary>KVM_SET_USER_MEMORY_REGION; a size of 0 deletes the slot.</summary>
    public void SetUserMemoryRegion(uint slot, ulong guestAddress, ulong size, nint hostAddress, uint flags = 0)
    {
        var region = new kvm_userspace_memory_region
        {
            slot = slot,
            flags = flags,
            guest_phys_addr = guestAddress,
            memory_size = size,
            userspace_addr = (ulong)hostAddress,
        };
        fd.Ioctl(KvmIoctls.KVM_SET_USER_MEMORY_REGION, (nint)(&region), "KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// KVM_GET_DIRTY_LOG: the pages of <paramref name="slot"/> the guest wrote since the last call
    /// (or since KVM_MEM_LOG_DIRTY_PAGES was set), one bit per page; KVM clears its log as it copies.
    /// </summary>
    public void GetDirtyLog(uint slot, ulong[] bitmap)
    {
        fixed (ulong* bits = bitmap)
        {
            var log = new kvm_dirty_log { slot = slot, dirty_bitmap = (ulong)bits };
            fd.Ioctl(KvmIoctls.KVM_GET_DIRTY_LOG, (nint)(&log), "KVM_GET_DIRTY_LOG");
        }
    }

    public void SetTssAddress(ulong address) => fd.Ioctl(KvmIoctls.KVM_SET_TSS_ADDR, (nint)address, "KVM_SET_TSS_ADDR");

    public void SetIdentityMapAddress(ulong address) =>
        fd.Ioctl(KvmIoctls.KVM_SET_IDENTITY_MAP_ADDR, (nint)(&address), "KVM_SET_IDENTITY_MAP_ADDR");

    /// <summary>KVM_CREATE_IRQCHIP: the in-kernel PIC pair, IOAPIC and a local APIC per vCPU.</summary>
    public void CreateIrqChip() => fd.Ioctl(KvmIoctls.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");

    /// <summary>KVM_CREATE_PIT2 with a dummy speaker port, so port 0x61 reads work for calibrating guests.</summary>
    public void CreatePit2()
    {
        var config = new kvm_pit_config { flags = KvmConstants.KVM_PIT_SPEAKER_DUMMY };
        fd.Ioctl(KvmIoctls.KVM_CREATE_PIT2, (nint)(&config), "KVM_CREATE_PIT2");
    }

    /// <summary>Sets a GSI's line level on the in-kernel PIC and IOAPIC (KVM_IRQ_LINE).</summary>
    public void SetIrqLine(uint gsi, bool level)
    {
        var irq = new kvm_irq_level { irq = gsi, level = level ? 1u : 0u };
        fd.Ioctl(KvmIoctls.KVM_IRQ_LINE, (nint)(&irq), "KVM_IRQ_LINE");
    }

    /// <summary>KVM_SET_GSI_ROUTING: replaces the whole GSI routing table with <paramref name="entries"/>.</summary>
    public void SetGsiRouting(ReadOnlySpan<kvm_irq_routing_entry> entries)
    {
        var size = sizeof(kvm_irq_routing) + (entries.Length * sizeof(kvm_irq_routing_entry));
        var buffer = new byte[size];
        fixed (byte* p = buffer)
        {
            ((kvm_irq_routing*)p)->nr = (uint)entries.Length;
            entries.CopyTo(new Span<kvm_irq_routing_entry>(p + sizeof(kvm_irq_routing), entries.Length));
            fd.Ioctl(KvmIoctls.KVM_SET_GSI_ROUTING, (nint)p, "KVM_SET_GSI_ROUTING");
        }
    }

    /// <summary>KVM_IRQFD: a signal on <paramref name="eventFd"/> injects GSI <paramref name="gsi"/> (or stops doing so).</summary>
    public void Irqfd(int eventFd, uint gsi, bool assign)
    {
        var irqfd = new kvm_irqfd { fd = (uint)eventFd, gsi = gsi, flags = assign ? 0 : KvmConstants.KVM_IRQFD_FLAG_DEASSIGN };
        fd.Ioctl(KvmIoctls.KVM_IRQFD, (nint)(&irqfd), "KVM_IRQFD");
    }

    /// <summary>KVM_IOEVENTFD: a guest MMIO write of <paramref name="length"/> bytes at <paramref name="address"/> signals <paramref name="eventFd"/>.</summary>
    public void Ioeventfd(ulong address, int length, int eventFd, bool assign)
    {
        var ioeventfd = new kvm_ioeventfd
        {
            addr = address,
            len = (uint)length,
            fd = eventFd,
            flags = assign ? 0 : KvmConstants.KVM_IOEVENTFD_FLAG_DEASSIGN,
        };
        fd.Ioctl(KvmIoctls.KVM_IOEVENTFD, (nint)(&ioeventfd), "KVM_IOEVENTFD");
    }

    public KvmVcpuFd CreateVcpu(int id, int runMmapSize)
    {
        var vcpu = FdHandle.Check(fd.RawIoctl(KvmIoctls.KVM_CREATE_VCPU, id), "KVM_CREATE_VCPU");
        try
        {
            var run = MmapHandle.Map((nuint)runMmapSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, vcpu.Fd, "kvm_run");
            return new KvmVcpuFd(vcpu, run, id);
        }
        catch
        {
            vcpu.Dispose();
            throw;
        }
    }

    /// <summary>KVM_GET_IRQCHIP for chip 0 (master PIC), 1 (slave PIC) or 2 (IOAPIC).</summary>
    public kvm_irqchip GetIrqChip(uint chipId)
    {
        var chip = new kvm_irqchip { chip_id = chipId };
        fd.Ioctl(KvmIoctls.KVM_GET_IRQCHIP, (nint)(&chip), "KVM_GET_IRQCHIP");
        return chip;
    }

    public void SetIrqChip(in kvm_irqchip chip)
    {
        fixed (kvm_irqchip* p = &chip)
        {
            fd.Ioctl(KvmIoctls.KVM_SET_IRQCHIP, (nint)p, "KVM_SET_IRQCHIP");
        }
    }

    public kvm_pit_state2 GetPit2()
    {
        kvm_pit_state2 state;
        fd.Ioctl(KvmIoctls.KVM_GET_PIT2, (nint)(&state), "KVM_GET_PIT2");
        return state;
    }

    public void SetPit2(in kvm_pit_state2 state)
    {
        fixed (kvm_pit_state2* p = &state)
        {
            fd.Ioctl(KvmIoctls.KVM_SET_PIT2, (nint)p, "KVM_SET_PIT2");
        }
    }

    public kvm_clock_data GetClock()
    {
        kvm_clock_data clock;
        fd.Ioctl(KvmIoctls.KVM_GET_CLOCK, (nint)(&clock), "KVM_GET_CLOCK");
        return clock;
    }

    public void SetClock(in kvm_clock_data clock)
    {
        // KVM_SET_CLOCK accepts only the clock value (and KVM_CLOCK_REALTIME); the other fields are outputs.
        var input = new kvm_clock_data { clock = clock.clock };
        fd.Ioctl(KvmIoctls.KVM_SET_CLOCK, (nint)(&input), "KVM_SET_CLOCK");
    }

    public void Dispose() => fd.Dispose();
}
