using System.Buffers.Binary;
using System.Text;

namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>Just enough of an ELF64 little-endian x86-64 reader to check what a PVH loader relies on.</summary>
internal sealed record ElfImage(ushort Machine, ulong Entry, IReadOnlyList<ElfSegment> Segments, IReadOnlyList<ElfNote> Notes)
{
    public const uint PT_LOAD = 1;
    public const uint PT_NOTE = 4;
    public const uint PF_X = 1;
    public const ushort EM_X86_64 = 62;

    public static ElfImage Parse(byte[] file)
    {
        if (file.Length < 64 || file[0] != 0x7F || Encoding.ASCII.GetString(file, 1, 3) != "ELF")
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (file[4] != 2 || file[5] != 1)
        {
            throw new InvalidDataException("not ELF64 little-endian");
        }

        var s = file.AsSpan();
        var machine = BinaryPrimitives.ReadUInt16LittleEndian(s[18..]);
        var entry = BinaryPrimitives.ReadUInt64LittleEndian(s[24..]);
        var phoff = BinaryPrimitives.ReadUInt64LittleEndian(s[32..]);
        var phentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[54..]);
        var phnum = BinaryPrimitives.ReadUInt16LittleEndian(s[56..]);

        var segments = new List<ElfSegment>();
        var notes = new List<ElfNote>();
        for (var i = 0; i < phnum; i++)
        {
            var ph = s[(int)(phoff + (ulong)(i * phentsize))..];
            var segment = new ElfSegment(
                Type: BinaryPrimitives.ReadUInt32LittleEndian(ph),
                Flags: BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]),
                Offset: BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                PhysicalAddress: BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]),
                FileSize: BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]),
                MemorySize: BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]));
            segments.Add(segment);
            if (segment.Type == PT_NOTE)
            {
                notes.AddRange(ParseNotes(s.Slice((int)segment.Offset, (int)segment.FileSize)));
            }
        }

        return new ElfImage(machine, entry, segments, notes);
    }

    /// <summary>Notes: namesz, descsz, type, then name and desc, each padded to 4 bytes.</summary>
    private static List<ElfNote> ParseNotes(ReadOnlySpan<byte> data)
    {
        var notes = new List<ElfNote>();
        var offset = 0;
        while (offset + 12 <= data.Length)
        {
            var namesz = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
            var descsz = (int)BinaryPrimitives.ReadUInt32LittleEndian(data[(offset + 4)..]);
            var type = BinaryPrimitives.ReadUInt32LittleEndian(data[(offset + 8)..]);
            var nameStart = offset + 12;
            var descStart = nameStart + Align4(namesz);
            var name = Encoding.ASCII.GetString(data.Slice(nameStart, namesz)).TrimEnd('\0');
            notes.Add(new ElfNote(name, type, data.Slice(descStart, descsz).ToArray()));
            offset = descStart + Align4(descsz);
        }

        return notes;
    }

    private static int Align4(int n) => (n + 3) & ~3;
}

internal sealed record ElfSegment(uint Type, uint Flags, ulong Offset, ulong PhysicalAddress, ulong FileSize, ulong MemorySize);

internal sealed record ElfNote(string Name, uint Type, byte[] Desc);
