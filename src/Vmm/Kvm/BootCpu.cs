using CloudHypervisor.Vmm.Boot;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Kvm;

// SAFETY: the only pointer use reads and writes a 32-bit LVT register at a fixed offset
// (0x350/0x360) inside the 1024-byte kvm_lapic_state that is pinned by `fixed`.
/// <summary>The initial vCPU state: MSRs and LAPIC for every vCPU, registers for the boot vCPU.</summary>
internal static unsafe class BootCpu
{
    private const ulong X86_CR0_PE = 0x1;
    private const ulong X86_CR0_ET = 0x10;
    private const ulong X86_CR0_PG = 0x8000_0000;
    private const ulong X86_CR4_PAE = 0x20;
    private const ulong EFER_LME = 0x100;
    private const ulong EFER_LMA = 0x400;

    private const int APIC_LVT0 = 0x350;
    private const int APIC_LVT1 = 0x360;
    private const uint APIC_MODE_NMI = 0x4;
    private const uint APIC_MODE_EXTINT = 0x7;

    /// <summary>MSRs a fresh x86 CPU has, as other VMMs set them: zeroed syscall MSRs, fast strings, MTRRs on with write-back default.</summary>
    public static kvm_msr_entry[] BootMsrs() =>
    [
        new() { index = 0x174 },                            // IA32_SYSENTER_CS
        new() { index = 0x175 },                            // IA32_SYSENTER_ESP
        new() { index = 0x176 },                            // IA32_SYSENTER_EIP
        new() { index = 0xC000_0081 },                      // STAR
        new() { index = 0xC000_0082 },                      // LSTAR
        new() { index = 0xC000_0083 },                      // CSTAR
        new() { index = 0xC000_0084 },                      // SYSCALL_MASK
        new() { index = 0xC000_0102 },                      // KERNEL_GS_BASE
        new() { index = 0x1A0, data = 1 },                  // IA32_MISC_ENABLE: fast strings
        new() { index = 0x2FF, data = (1 << 11) | 6 },      // IA32_MTRR_DEF_TYPE: enabled, write-back
    ];

    /// <summary>LINT0 in ExtINT mode on the boot vCPU (the legacy PIC path), LINT1 as NMI on all.</summary>
    public static void SetupLapic(KvmVcpuFd vcpu, bool bootVcpu)
    {
        var lapic = vcpu.GetLapic();
        if (bootVcpu)
        {
            SetDeliveryMode(ref lapic, APIC_LVT0, APIC_MODE_EXTINT);
        }

        SetDeliveryMode(ref lapic, APIC_LVT1, APIC_MODE_NMI);
        vcpu.SetLapic(lapic);
    }

    private static void SetDeliveryMode(ref kvm_lapic_state lapic, int register, uint mode)
    {
        fixed (byte* regs = lapic.regs)
        {
            var value = (uint*)(regs + register);
            *value = (*value & ~0x700u) | (mode << 8);
        }
    }

    /// <summary>Sets the boot vCPU's registers for <paramref name="entry"/>.</summary>
    public static void SetupBootVcpu(KvmVcpuFd vcpu, BootEntry entry)
    {
        var sregs = vcpu.GetSregs();
        var data = Segment(BootGdt.DataSelector, BootGdt.DataFlags, 0xFFFFF);
        var tss = Segment(BootGdt.TssSelector, BootGdt.TssFlags, 0x67);
        sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
        sregs.tr = tss;
        sregs.gdt = new kvm_dtable { @base = PlatformLayout.BootGdtStart, limit = (ushort)((BootGdt.Entries.Length * 8) - 1) };
        sregs.idt = new kvm_dtable { @base = 0, limit = 0 };

        var regs = new kvm_regs { rflags = 0x2, rip = entry.EntryPoint };
        if (entry.Protocol == BootProtocol.Pvh)
        {
            // PVH: 32-bit protected mode, paging off, EBX = hvm_start_info (Xen's PVH ABI).
            sregs.cs = Segment(BootGdt.Code32Selector, BootGdt.Code32Flags, 0xFFFFF);
            sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
            sregs.cr4 = 0;
            sregs.efer = 0;
            regs.rbx = PlatformLayout.PvhInfoStart;
        }
        else
        {
            // Linux 64-bit boot protocol: long mode with identity paging, RSI = boot_params.
            sregs.cs = Segment(BootGdt.Code64Selector, BootGdt.Code64Flags, 0xFFFFF);
            sregs.cr3 = PlatformLayout.PageTablesStart;
            sregs.cr4 = X86_CR4_PAE;
            sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
            sregs.efer = EFER_LME | EFER_LMA;
            regs.rsi = PlatformLayout.ZeroPageStart;
            regs.rsp = regs.rbp = PlatformLayout.ZeroPageStart - 0x10; // below the zero page, inside low RAM
        }

        vcpu.SetSregs(sregs);
        vcpu.SetRegs(regs);

        // x87 control word and MXCSR as after FNINIT / reset with exceptions masked.
        var fpu = new kvm_fpu { fcw = 0x37F, mxcsr = 0x1F80 };
        vcpu.SetFpu(fpu);
    }

    /// <summary>The hidden part of a segment register as the descriptor in <see cref="BootGdt"/> defines it.</summary>
    internal static kvm_segment Segment(ushort selector, ushort flags, uint limit)
    {
        var granular = (flags >> 15) & 1;
        return new kvm_segment
        {
            @base = 0,
            limit = granular == 1 ? (limit << 12) | 0xFFF : limit,
            selector = selector,
            type = (byte)(flags & 0xF),
            present = (byte)((flags >> 7) & 1),
            dpl = (byte)((flags >> 5) & 3),
            db = (byte)((flags >> 14) & 1),
            s = (byte)((flags >> 4) & 1),
            l = (byte)((flags >> 13) & 1),
            g = (byte)granular,
            avl = (byte)((flags >> 12) & 1),
            unusable = (byte)(((flags >> 7) & 1) == 0 ? 1 : 0),
        };
    }
}
