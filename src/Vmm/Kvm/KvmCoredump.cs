using CloudHypervisor.Vmm.Debug;
using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>A paused vCPU's registers, read through KVM, as <see cref="ElfCore"/> writes them.</summary>
internal static class KvmCoredump
{
    private const uint MSR_KERNEL_GS_BASE = 0xC0000102;

    public static CoreCpuState Read(int id, KvmVcpuFd fd)
    {
        var r = fd.GetRegs();
        var s = fd.GetSregs();
        var kernelGsBase = fd.GetMsrs([MSR_KERNEL_GS_BASE]) is [var msr] ? msr.data : 0;
        return new CoreCpuState
        {
            Id = id,
            Rax = r.rax, Rbx = r.rbx, Rcx = r.rcx, Rdx = r.rdx,
            Rsi = r.rsi, Rdi = r.rdi, Rsp = r.rsp, Rbp = r.rbp,
            R8 = r.r8, R9 = r.r9, R10 = r.r10, R11 = r.r11,
            R12 = r.r12, R13 = r.r13, R14 = r.r14, R15 = r.r15,
            Rip = r.rip, Rflags = r.rflags,
            Cs = Segment(s.cs), Ds = Segment(s.ds), Es = Segment(s.es), Fs = Segment(s.fs),
            Gs = Segment(s.gs), Ss = Segment(s.ss), Ldt = Segment(s.ldt), Tr = Segment(s.tr),
            Gdt = new CoreSegment(0, s.gdt.limit, 0, s.gdt.@base),
            Idt = new CoreSegment(0, s.idt.limit, 0, s.idt.@base),
            Cr0 = s.cr0, Cr2 = s.cr2, Cr3 = s.cr3, Cr4 = s.cr4, Cr8 = s.cr8,
            KernelGsBase = kernelGsBase,
        };
    }

    // QEMU's descriptor flags (DESC_TYPE_SHIFT 8, DESC_S 12, DESC_DPL 13, DESC_P 15, DESC_AVL 20,
    // DESC_L 21, DESC_B 22, DESC_G 23), the form its CPU-state note keeps them in.
    private static CoreSegment Segment(in kvm_segment s) => new(
        s.selector,
        s.limit,
        ((uint)s.type << 8) | ((uint)s.s << 12) | ((uint)s.dpl << 13) | ((uint)s.present << 15)
            | ((uint)s.avl << 20) | ((uint)s.l << 21) | ((uint)s.db << 22) | ((uint)s.g << 23),
        s.@base);
}
