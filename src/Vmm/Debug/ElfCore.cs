using System.Buffers.Binary;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Vmm.Debug;

/// <summary>
/// A segment register or descriptor table as the core's QEMU note holds it; Flags are the
/// descriptor's attribute bits where QEMU keeps them: type at bit 8, S 12, DPL 13, P 15, AVL 20,
/// L 21, D/B 22, G 23.
/// </summary>
public readonly record struct CoreSegment(ushort Selector, uint Limit, uint Flags, ulong Base);

/// <summary>One vCPU's registers for the core's notes (NT_PRSTATUS and QEMU's CPU state).</summary>
public sealed record CoreCpuState
{
    public required int Id { get; init; }
    public ulong Rax { get; init; }
    public ulong Rbx { get; init; }
    public ulong Rcx { get; init; }
    public ulong Rdx { get; init; }
    public ulong Rsi { get; init; }
    public ulong Rdi { get; init; }
    public ulong Rsp { get; init; }
    public ulong Rbp { get; init; }
    public ulong R8 { get; init; }
    public ulong R9 { get; init; }
    public ulong R10 { get; init; }
    public ulong R11 { get; init; }
    public ulong R12 { get; init; }
    public ulong R13 { get; init; }
    public ulong R14 { get; init; }
    public ulong R15 { get; init; }
    public ulong Rip { get; init; }
    public ulong Rflags { get; init; }
    public CoreSegment Cs { get; init; }
    public CoreSegment Ds { get; init; }
    public CoreSegment Es { get; init; }
    public CoreSegment Fs { get; init; }
    public CoreSegment Gs { get; init; }
    public CoreSegment Ss { get; init; }
    public CoreSegment Ldt { get; init; }
    public CoreSegment Tr { get; init; }
    public CoreSegment Gdt { get; init; }
    public CoreSegment Idt { get; init; }
    public ulong Cr0 { get; init; }
    public ulong Cr2 { get; init; }
    public ulong Cr3 { get; init; }
    public ulong Cr4 { get; init; }
    public ulong Cr8 { get; init; }
    public ulong KernelGsBase { get; init; }
}

/// <summary>
/// vm.coredump's file, laid out as upstream's guest_debug coredump (upstream-state.md §C), which
/// is QEMU's dump-guest-memory ELF: an ET_CORE ELF64 header; one PT_NOTE program header and one
/// PT_LOAD per RAM range sorted by guest-physical address (p_paddr = GPA, p_vaddr 0); per vCPU a
/// "CORE" NT_PRSTATUS note (struct elf_prstatus, pid = vCPU id, regs in user_regs_struct order,
/// which gdb reads) and a "QEMU" note (QEMUCPUState version 1); then the RAM ranges packed back to
/// back. Pages of zeros are not written, so the file is sparse where the guest never wrote.
/// </summary>
public static class ElfCore
{
    public const int EhdrSize = 64;
    public const int PhdrSize = 56;
    public const int PrstatusSize = 336;
    public const int QemuCpuStateSize = 440;

    private const ushort ET_CORE = 4;
    private const ushort EM_X86_64 = 62;
    private const uint PT_LOAD = 1;
    private const uint PT_NOTE = 4;
    private const uint NT_PRSTATUS = 1;
    private const int PrstatusPid = 32;
    private const int PrstatusRegs = 112;

    // A note is namesz, descsz, type (4 bytes each), the name with its NUL padded to 4 bytes, the
    // descriptor padded to 4: "CORE\0" and "QEMU\0" take 8.
    private const int NoteHeader = 12 + 8;

    /// <summary>The bytes of the notes for <paramref name="cpus"/> vCPUs.</summary>
    public static int NoteSize(int cpus) => cpus * (NoteHeader + PrstatusSize + NoteHeader + QemuCpuStateSize);

    /// <summary>Where the first RAM range starts in the file.</summary>
    public static long MemoryOffset(int cpus, int ranges) => EhdrSize + ((long)PhdrSize * (1 + ranges)) + NoteSize(cpus);

    /// <summary>
    /// Writes the core of <paramref name="cpus"/> and <paramref name="memory"/> into
    /// <paramref name="file"/> (empty, opened for writing). Returns the RAM bytes actually written.
    /// </summary>
    public static ulong Write(SafeFileHandle file, IReadOnlyList<CoreCpuState> cpus, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(cpus);
        ArgumentNullException.ThrowIfNull(memory);
        var ranges = memory.Regions.OrderBy(r => r.GuestAddress).ToList();
        var memoryOffset = MemoryOffset(cpus.Count, ranges.Count);
        var head = new byte[memoryOffset];
        var span = head.AsSpan();
        WriteEhdr(span, (ushort)(1 + ranges.Count));

        var noteOffset = EhdrSize + (PhdrSize * (1 + ranges.Count));
        WritePhdr(span[EhdrSize..], PT_NOTE, (ulong)noteOffset, 0, (ulong)NoteSize(cpus.Count));
        var offset = (ulong)memoryOffset;
        for (var i = 0; i < ranges.Count; i++)
        {
            WritePhdr(span[(EhdrSize + (PhdrSize * (1 + i)))..], PT_LOAD, offset, ranges[i].GuestAddress, ranges[i].Size);
            offset += ranges[i].Size;
        }

        var at = noteOffset;
        foreach (var cpu in cpus)
        {
            at += WriteNote(span[at..], "CORE", NT_PRSTATUS, PrstatusSize, d => WritePrstatus(d, cpu));
            at += WriteNote(span[at..], "QEMU", 0, QemuCpuStateSize, d => WriteQemuState(d, cpu));
        }

        var written = SnapshotMemory.Write(memory, file, memoryOffset);
        RandomAccess.Write(file, head, 0);
        return written;
    }

    private static void WriteEhdr(Span<byte> e, ushort phnum)
    {
        e[0] = 0x7f;
        e[1] = (byte)'E';
        e[2] = (byte)'L';
        e[3] = (byte)'F';
        e[4] = 2; // ELFCLASS64
        e[5] = 1; // ELFDATA2LSB
        e[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(e[16..], ET_CORE);
        BinaryPrimitives.WriteUInt16LittleEndian(e[18..], EM_X86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(e[20..], 1); // e_version
        BinaryPrimitives.WriteUInt64LittleEndian(e[32..], EhdrSize); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(e[52..], EhdrSize); // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(e[54..], PhdrSize); // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(e[56..], phnum);
    }

    private static void WritePhdr(Span<byte> p, uint type, ulong offset, ulong paddr, ulong size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(p, type);
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], paddr); // p_vaddr (16) stays 0, as upstream
        BinaryPrimitives.WriteUInt64LittleEndian(p[32..], size); // p_filesz
        BinaryPrimitives.WriteUInt64LittleEndian(p[40..], size); // p_memsz
    }

    private static int WriteNote(Span<byte> n, string name, uint type, int size, Action<Span<byte>> descriptor)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)name.Length + 1);
        BinaryPrimitives.WriteUInt32LittleEndian(n[4..], (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(n[8..], type);
        for (var i = 0; i < name.Length; i++)
        {
            n[12 + i] = (byte)name[i];
        }

        descriptor(n.Slice(NoteHeader, size));
        return NoteHeader + size;
    }

    /// <summary>struct elf_prstatus of x86-64: pr_pid at 32, pr_reg (user_regs_struct) at 112.</summary>
    private static void WritePrstatus(Span<byte> d, CoreCpuState c)
    {
        BinaryPrimitives.WriteInt32LittleEndian(d[PrstatusPid..], c.Id);
        ulong[] regs =
        [
            c.R15, c.R14, c.R13, c.R12, c.Rbp, c.Rbx, c.R11, c.R10,
            c.R9, c.R8, c.Rax, c.Rcx, c.Rdx, c.Rsi, c.Rdi, 0, // orig_rax
            c.Rip, c.Cs.Selector, c.Rflags, c.Rsp, c.Ss.Selector,
            c.Fs.Base, c.Gs.Base, c.Ds.Selector, c.Es.Selector, c.Fs.Selector, c.Gs.Selector,
        ];
        Put(d[PrstatusRegs..], regs);
    }

    /// <summary>QEMU's QEMUCPUState, version 1: the segments as {selector, limit, flags, pad, base}.</summary>
    private static void WriteQemuState(Span<byte> d, CoreCpuState c)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], QemuCpuStateSize);
        Put(d[8..],
        [
            c.Rax, c.Rbx, c.Rcx, c.Rdx, c.Rsi, c.Rdi, c.Rsp, c.Rbp,
            c.R8, c.R9, c.R10, c.R11, c.R12, c.R13, c.R14, c.R15,
            c.Rip, c.Rflags,
        ]);
        var at = 8 + (18 * 8);
        foreach (var s in new[] { c.Cs, c.Ds, c.Es, c.Fs, c.Gs, c.Ss, c.Ldt, c.Tr, c.Gdt, c.Idt })
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d[at..], s.Selector);
            BinaryPrimitives.WriteUInt32LittleEndian(d[(at + 4)..], s.Limit);
            BinaryPrimitives.WriteUInt32LittleEndian(d[(at + 8)..], s.Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(d[(at + 16)..], s.Base);
            at += 24;
        }

        // Upstream fills cr[] as cr0, cr8, cr2, cr3, cr4.
        Put(d[at..], [c.Cr0, c.Cr8, c.Cr2, c.Cr3, c.Cr4, c.KernelGsBase]);
    }

    private static void Put(Span<byte> d, ReadOnlySpan<ulong> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(d[(i * 8)..], values[i]);
        }
    }
}
