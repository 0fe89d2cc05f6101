using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// Blittable copies of the x86-64 KVM ABI structs from <linux/kvm.h> and <asm/kvm.h>, with their
// Linux names so they can be grepped against the headers. Sizes are asserted in
// tests/Vmm.Tests/Kvm/KvmAbiTests.cs against the values gcc reports for the kernel headers.
#pragma warning disable IDE1006, CA1815, CS0649 // Linux names; kernel structs are compared field by field, never as values.

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_regs
{
    public ulong rax, rbx, rcx, rdx;
    public ulong rsi, rdi, rsp, rbp;
    public ulong r8, r9, r10, r11;
    public ulong r12, r13, r14, r15;
    public ulong rip, rflags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_segment
{
    public ulong @base;
    public uint limit;
    public ushort selector;
    public byte type;
    public byte present, dpl, db, s, l, g, avl;
    public byte unusable;
    public byte padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_dtable
{
    public ulong @base;
    public ushort limit;
    public ushort padding0, padding1, padding2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_sregs
{
    public kvm_segment cs, ds, es, fs, gs, ss;
    public kvm_segment tr, ldt;
    public kvm_dtable gdt, idt;
    public ulong cr0, cr2, cr3, cr4, cr8;
    public ulong efer;
    public ulong apic_base;
    public fixed ulong interrupt_bitmap[4]; // (KVM_NR_INTERRUPTS + 63) / 64
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_fpu
{
    public fixed byte fpr[8 * 16];
    public ushort fcw;
    public ushort fsw;
    public byte ftwx;
    public byte pad1;
    public ushort last_opcode;
    public ulong last_ip;
    public ulong last_dp;
    public fixed byte xmm[16 * 16];
    public uint mxcsr;
    public uint pad2;
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_msr_entry
{
    public uint index;
    public uint reserved;
    public ulong data;
}

/// <summary>Header of the variable-length <c>kvm_msrs</c>; entries follow it in the same buffer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_msrs
{
    public uint nmsrs;
    public uint pad;
}

/// <summary>Header of the variable-length <c>kvm_msr_list</c>; u32 indices follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_msr_list
{
    public uint nmsrs;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_cpuid_entry2
{
    public uint function;
    public uint index;
    public uint flags;
    public uint eax;
    public uint ebx;
    public uint ecx;
    public uint edx;
    public fixed uint padding[3];
}

/// <summary>Header of the variable-length <c>kvm_cpuid2</c>; entries follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_cpuid2
{
    public uint nent;
    public uint padding;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_lapic_state
{
    public fixed byte regs[0x400]; // KVM_APIC_REG_SIZE
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_pit_config
{
    public uint flags;
    public fixed uint pad[15];
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_irq_level
{
    /// <summary>The union of <c>irq</c> (in) and <c>status</c> (out of KVM_IRQ_LINE_STATUS).</summary>
    public uint irq;
    public uint level;
}

/// <summary><c>struct kvm_dirty_log</c>: the slot and a pointer to a bitmap of one bit per page of it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_dirty_log
{
    public uint slot;
    public uint padding1;
    public ulong dirty_bitmap;
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_userspace_memory_region
{
    public uint slot;
    public uint flags;
    public ulong guest_phys_addr;
    public ulong memory_size;
    public ulong userspace_addr;
}

/// <summary>KVM_GET/SET_IRQCHIP: chip_id selects the master PIC (0), slave PIC (1) or IOAPIC (2).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_irqchip
{
    public uint chip_id;
    public uint pad;
    public fixed byte chip[512]; // union of kvm_pic_state and kvm_ioapic_state
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_pit_channel_state
{
    public uint count;
    public ushort latched_count;
    public byte count_latched;
    public byte status_latched;
    public byte status;
    public byte read_state;
    public byte write_state;
    public byte write_latch;
    public byte rw_mode;
    public byte mode;
    public byte bcd;
    public byte gate;
    public long count_load_time;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_pit_state2
{
    public kvm_pit_channel_state channel0, channel1, channel2;
    public uint flags;
    public fixed uint reserved[9];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_clock_data
{
    public ulong clock;
    public uint flags;
    public uint pad0;
    public ulong realtime;
    public ulong host_tsc;
    public fixed uint pad[4];
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_mp_state
{
    public uint mp_state;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_vcpu_events
{
    public byte exception_injected, exception_nr, exception_has_error_code, exception_pending;
    public uint exception_error_code;
    public byte interrupt_injected, interrupt_nr, interrupt_soft, interrupt_shadow;
    public byte nmi_injected, nmi_pending, nmi_masked, nmi_pad;
    public uint sipi_vector;
    public uint flags;
    public byte smi_smm, smi_pending, smi_smm_inside_nmi, smi_latched_init;
    public byte triple_fault_pending;
    public fixed byte reserved[26];
    public byte exception_has_payload;
    public ulong exception_payload;
}

[StructLayout(LayoutKind.Sequential)]
internal struct kvm_xcr
{
    public uint xcr;
    public uint reserved;
    public ulong value;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_xcrs
{
    public uint nr_xcrs;
    public uint flags;
    public fixed byte xcrs[16 * 16]; // struct kvm_xcr xcrs[KVM_MAX_XCRS]
    public fixed ulong padding[16];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_xsave
{
    public fixed uint region[1024];
}

/// <summary>The fixed part of the mmap'ed <c>kvm_run</c> that precedes the exit union.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_run_header
{
    public byte request_interrupt_window;
    public byte immediate_exit;
    public byte padding1_0, padding1_1, padding1_2, padding1_3, padding1_4, padding1_5;
    public uint exit_reason;
    public byte ready_for_interrupt_injection;
    public byte if_flag;
    public ushort flags;
    public ulong cr8;
    public ulong apic_base;
}

/// <summary>The KVM_EXIT_IO member of kvm_run's union (at offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_run_io
{
    public byte direction;
    public byte size;
    public ushort port;
    public uint count;
    public ulong data_offset;
}

/// <summary>The KVM_EXIT_MMIO member of kvm_run's union (at offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_run_mmio
{
    public ulong phys_addr;
    public fixed byte data[8];
    public uint len;
    public byte is_write;
}

/// <summary>The KVM_EXIT_INTERNAL_ERROR member of kvm_run's union (at offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_run_internal
{
    public uint suberror;
    public uint ndata;
    public fixed ulong data[16];
}

/// <summary>The KVM_EXIT_SYSTEM_EVENT member of kvm_run's union (at offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_run_system_event
{
    public uint type;
    public uint ndata;
    public ulong data0;
}

/// <summary>The KVM_EXIT_FAIL_ENTRY member of kvm_run's union (at offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_run_fail_entry
{
    public ulong hardware_entry_failure_reason;
    public uint cpu;
}
[StructLayout(LayoutKind.Sequential)]
internal struct kvm_irq_routing
{
    public uint nr;
    public uint flags;
    // Followed by nr kvm_irq_routing_entry.
}

/// <summary>
/// One GSI route: u32 gsi, type, flags, pad, then a 32-byte union; only the irqchip
/// (irqchip, pin) and msi (address_lo, address_hi, data, pad) members are used.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_irq_routing_entry
{
    public uint gsi;
    public uint type;
    public uint flags;
    public uint pad;
    public uint u0, u1, u2, u3;
    public fixed uint u_pad[4];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_irqfd
{
    public uint fd;
    public uint gsi;
    public uint flags;
    public uint resamplefd;
    public fixed byte pad[16];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct kvm_ioeventfd
{
    public ulong datamatch;
    public ulong addr;
    public uint len;
    public int fd;
    public uint flags;
    public fixed byte pad[36];
}
#pragma warning restore IDE1006, CA1815, CS0649
