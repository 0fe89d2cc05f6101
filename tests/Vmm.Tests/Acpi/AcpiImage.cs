using System.Buffers.Binary;
using System.Text;
using CloudHypervisor.Vmm.Acpi;

namespace CloudHypervisor.Vmm.Tests.Acpi;

/// <summary>
/// The ACPI blobs laid into a flat image of guest memory, read back the way an OSPM reads them:
/// from the RSDP through physical pointers, never through the blob list's order.
/// </summary>
internal sealed class AcpiImage
{
    private readonly Dictionary<ulong, byte[]> _blobs;

    public AcpiImage(IReadOnlyList<AcpiBlob> blobs)
    {
        _blobs = blobs.ToDictionary(b => b.GuestAddress, b => b.Bytes);
    }

    /// <summary>The bytes of the structure that starts at <paramref name="address"/>; fails if nothing was placed there.</summary>
    public byte[] At(ulong address) =>
        _blobs.TryGetValue(address, out var bytes) ? bytes : throw new InvalidOperationException($"No ACPI structure at 0x{address:X}.");

    public static string Signature(byte[] table) => Encoding.ASCII.GetString(table, 0, 4);

    public static uint Length(byte[] table) => BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(4));

    public static int Sum(ReadOnlySpan<byte> bytes)
    {
        var sum = 0;
        foreach (var b in bytes)
        {
            sum += b;
        }

        return sum & 0xFF;
    }

    public static ulong XsdtAddress(byte[] rsdp) => BinaryPrimitives.ReadUInt64LittleEndian(rsdp.AsSpan(24));

    /// <summary>The tables the XSDT points at, by signature.</summary>
    public Dictionary<string, byte[]> TablesFromRsdp(ulong rsdpAddress)
    {
        var xsdt = At(XsdtAddress(At(rsdpAddress)));
        var tables = new Dictionary<string, byte[]> { ["XSDT"] = xsdt };
        for (var offset = 36; offset < xsdt.Length; offset += 8)
        {
            var table = At(BinaryPrimitives.ReadUInt64LittleEndian(xsdt.AsSpan(offset)));
            tables.Add(Signature(table), table);
        }

        var fadt = tables["FACP"];
        var dsdt = At(BinaryPrimitives.ReadUInt64LittleEndian(fadt.AsSpan(140)));
        tables.Add(Signature(dsdt), dsdt);
        return tables;
    }

    /// <summary>MADT interrupt controller structures after the 44-byte fixed part: (type, bytes).</summary>
    public static List<(byte Type, byte[] Entry)> MadtEntries(byte[] madt)
    {
        var entries = new List<(byte, byte[])>();
        var offset = 44;
        while (offset < madt.Length)
        {
            var length = madt[offset + 1];
            if (length < 2)
            {
                throw new InvalidOperationException($"MADT entry at {offset} has length {length}.");
            }

            entries.Add((madt[offset], madt.AsSpan(offset, length).ToArray()));
            offset += length;
        }

        if (offset != madt.Length)
        {
            throw new InvalidOperationException("MADT entries overrun the table length.");
        }

        return entries;
    }
}
