namespace CloudHypervisor.Vmm.Boot;

/// <summary>
/// The boot GDT at <see cref="Platform.PlatformLayout.BootGdtStart"/>. Selector 0x08 is the flat
/// 32-bit code segment PVH enters with; 0x10/0x18 are __BOOT_CS/__BOOT_DS as the Linux 64-bit boot
/// protocol requires (64-bit code, flat data); 0x20 is the TSS that VMX needs loaded.
/// </summary>
public static class BootGdt
{
    public const ushort Code32Selector = 0x08;
    public const ushort Code64Selector = 0x10;
    public const ushort DataSelector = 0x18;
    public const ushort TssSelector = 0x20;

    /// <summary>Access byte (low 8 bits) and flags nibble (bits 12-15) of each descriptor.</summary>
    public const ushort Code32Flags = 0xC09B; // G, D/B, present, code, read/execute, accessed
    public const ushort Code64Flags = 0xA09B; // G, L, present, code, read/execute, accessed
    public const ushort DataFlags = 0xC093;   // G, D/B, present, data, read/write, accessed
    public const ushort TssFlags = 0x808B;    // G, present, 32-bit busy TSS

    public static readonly ulong[] Entries =
    [
        0,
        Entry(Code32Flags, 0, 0xFFFFF),
        Entry(Code64Flags, 0, 0xFFFFF),
        Entry(DataFlags, 0, 0xFFFFF),
        Entry(TssFlags, 0, 0x67),
    ];

    /// <summary>Encodes a segment descriptor (Intel SDM vol. 3, 3.4.5).</summary>
    public static ulong Entry(ushort flags, uint @base, uint limit) =>
        (((ulong)@base & 0xFF00_0000) << 32)
        | (((ulong)flags & 0xF0FF) << 40)
        | (((ulong)limit & 0x000F_0000) << 32)
        | (((ulong)@base & 0x00FF_FFFF) << 16)
        | ((ulong)limit & 0xFFFF);

    public static byte[] Bytes()
    {
        var bytes = new byte[Entries.Length * 8];
        for (var i = 0; i < Entries.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), Entries[i]);
        }

        return bytes;
    }
}
