using System.Buffers.Binary;
using System.Text;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// The 36-byte System Description Table header (ACPI 6.5 §5.2.6) and the checksum rule that
/// every ACPI structure shares: all bytes of the structure sum to zero modulo 256.
/// </summary>
internal static class AcpiSdt
{
    public const int HeaderSize = 36;
    public const int ChecksumOffset = 9;
    public const string OemId = "CLOUDH";
    public const uint OemRevision = 1;
    public const string CreatorId = "CHCS";
    public const uint CreatorRevision = 1;

    /// <summary>Builds a table: header (signature, length, revision, OEM and creator ids) followed by <paramref name="body"/>, checksummed.</summary>
    public static byte[] Build(string signature, byte revision, string oemTableId, ReadOnlySpan<byte> body)
    {
        var table = new byte[HeaderSize + body.Length];
        WriteAscii(table.AsSpan(0, 4), signature);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(4), (uint)table.Length);
        table[8] = revision;
        WriteAscii(table.AsSpan(10, 6), OemId);
        WriteAscii(table.AsSpan(16, 8), oemTableId);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(24), OemRevision);
        WriteAscii(table.AsSpan(28, 4), CreatorId);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(32), CreatorRevision);
        body.CopyTo(table.AsSpan(HeaderSize));
        table[ChecksumOffset] = Checksum(table);
        return table;
    }

    /// <summary>The byte that makes <paramref name="bytes"/> sum to zero, computed with the checksum byte itself taken as zero.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes, int checksumOffset = ChecksumOffset)
    {
        var sum = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (i != checksumOffset)
            {
                sum += bytes[i];
            }
        }

        return (byte)(0x100 - (sum & 0xFF));
    }

    /// <summary>Writes ASCII text padded with spaces (OEM fields) into <paramref name="target"/>.</summary>
    public static void WriteAscii(Span<byte> target, string text)
    {
        if (text.Length > target.Length)
        {
            throw new ArgumentException($"'{text}' does not fit in {target.Length} bytes.", nameof(text));
        }

        target.Fill((byte)' ');
        Encoding.ASCII.GetBytes(text, target);
    }
}
