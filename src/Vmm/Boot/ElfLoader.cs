using System.Buffers.Binary;
using CloudHypervisor.Vmm.Memory;

namespace CloudHypervisor.Vmm.Boot;

/// <summary>
/// Loads an ELF kernel (ELF32 or ELF64, x86) by its PT_LOAD program headers at their physical
/// addresses. A PT_NOTE with the Xen note XEN_ELFNOTE_PHYS32_ENTRY (type 18, name "Xen") selects
/// PVH and gives the 32-bit entry point; without it the ELF entry is entered through the Linux
/// 64-bit boot protocol (a vmlinux's e_entry is physical: phys_startup_64).
/// </summary>
public static class ElfLoader
{
    public const uint XEN_ELFNOTE_PHYS32_ENTRY = 18;

    private const ushort EM_386 = 3;
    private const ushort EM_X86_64 = 62;
    private const uint PT_LOAD = 1;
    private const uint PT_NOTE = 4;
    private const int Elf32HeaderSize = 52;
    private const int Elf64HeaderSize = 64;

    public static bool IsElf(ReadOnlySpan<byte> image) =>
        image.Length >= 4 && image[0] == 0x7F && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';

    public static BootEntry Load(GuestMemory memory, ReadOnlySpan<byte> image)
    {
        if (!IsElf(image) || image.Length < 5)
        {
            throw new BootImageException("not an ELF file");
        }

        var is64 = image[4] switch
        {
            1 => false,
            2 => true,
            _ => throw new BootImageException($"unknown ELF class {image[4]}"),
        };
        var headerSize = is64 ? Elf64HeaderSize : Elf32HeaderSize;
        if (image.Length < headerSize)
        {
            throw new BootImageException($"ELF{(is64 ? 64 : 32)} file of {image.Length} bytes is shorter than its {headerSize}-byte header");
        }
        if (image[5] != 1)
        {
            throw new BootImageException("ELF is not little-endian");
        }

        var machine = BinaryPrimitives.ReadUInt16LittleEndian(image[18..]);
        if (machine is not (EM_X86_64 or EM_386))
        {
            throw new BootImageException($"ELF machine {machine} is not x86");
        }

        var entry = is64 ? BinaryPrimitives.ReadUInt64LittleEndian(image[24..]) : BinaryPrimitives.ReadUInt32LittleEndian(image[24..]);
        var phoff = is64 ? BinaryPrimitives.ReadUInt64LittleEndian(image[32..]) : BinaryPrimitives.ReadUInt32LittleEndian(image[28..]);
        var phentsize = BinaryPrimitives.ReadUInt16LittleEndian(image[(is64 ? 54 : 42)..]);
        var phnum = BinaryPrimitives.ReadUInt16LittleEndian(image[(is64 ? 56 : 44)..]);
        if (phnum == 0 || phentsize < (is64 ? 56 : 32) || phoff > (ulong)image.Length
            || (ulong)phnum * phentsize > (ulong)image.Length - phoff)
        {
            throw new BootImageException("ELF program headers are missing or truncated");
        }

        ulong? pvhEntry = null;
        ulong kernelEnd = 0;
        var loaded = 0;
        for (var i = 0; i < phnum; i++)
        {
            var ph = image.Slice((int)phoff + (i * phentsize), phentsize);
            var type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            ulong offset, paddr, filesz, memsz;
            if (is64)
            {
                offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
                paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]);
                filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
                memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]);
            }
            else
            {
                offset = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
                paddr = BinaryPrimitives.ReadUInt32LittleEndian(ph[12..]);
                filesz = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]);
                memsz = BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]);
            }

            if (offset > (ulong)image.Length || filesz > (ulong)image.Length - offset || filesz > memsz)
            {
                throw new BootImageException($"ELF segment {i} is truncated");
            }

            var data = image.Slice((int)offset, (int)filesz);
            if (type == PT_NOTE)
            {
                pvhEntry ??= FindPvhEntry(data);
            }
            else if (type == PT_LOAD && memsz > 0)
            {
                if (!memory.Contains(paddr, memsz))
                {
                    throw new BootImageException($"ELF segment {i} at 0x{paddr:X}+0x{memsz:X} is outside guest RAM");
                }

                if (PayloadLoader.OverlapsBootData(paddr, memsz) is { } what)
                {
                    throw new BootImageException($"ELF segment {i} at 0x{paddr:X}+0x{memsz:X} overlaps the {what}");
                }

                memory.Write(paddr, data);
                memory.Fill(paddr + filesz, memsz - filesz, 0);
                kernelEnd = Math.Max(kernelEnd, paddr + memsz);
                loaded++;
            }
        }

        if (loaded == 0)
        {
            throw new BootImageException("ELF has no loadable segment");
        }

        return pvhEntry is { } pvh
            ? new BootEntry(BootProtocol.Pvh, pvh, kernelEnd, "ELF (PVH)")
            : new BootEntry(BootProtocol.Linux64, entry, kernelEnd, "ELF (64-bit boot protocol)");
    }

    /// <summary>Walks ELF notes (namesz, descsz, type, name, desc; each padded to 4 bytes).</summary>
    internal static ulong? FindPvhEntry(ReadOnlySpan<byte> notes)
    {
        var pos = 0;
        while (pos + 12 <= notes.Length)
        {
            var rawNamesz = BinaryPrimitives.ReadUInt32LittleEndian(notes[pos..]);
            var rawDescsz = BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 4)..]);
            var type = BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 8)..]);
            var nameStart = pos + 12;
            // In 64-bit arithmetic: a note's sizes are the file's to choose.
            if ((long)nameStart + Align4(rawNamesz) + Align4(rawDescsz) > notes.Length)
            {
                return null;
            }

            var namesz = (int)rawNamesz;
            var descsz = (int)rawDescsz;
            var descStart = nameStart + (int)Align4(rawNamesz);

            var name = notes.Slice(nameStart, namesz);
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && name.SequenceEqual("Xen\0"u8))
            {
                var desc = notes.Slice(descStart, descsz);
                return descsz switch
                {
                    >= 8 => BinaryPrimitives.ReadUInt64LittleEndian(desc),
                    >= 4 => BinaryPrimitives.ReadUInt32LittleEndian(desc),
                    _ => throw new BootImageException("PVH entry note is shorter than 4 bytes"),
                };
            }

            pos = descStart + (int)Align4(rawDescsz);
        }

        return null;
    }

    private static long Align4(uint value) => ((long)value + 3) & ~3L;
}
