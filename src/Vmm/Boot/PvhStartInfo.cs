using System.Buffers.Binary;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Boot;

/// <summary>
/// Xen's <c>hvm_start_info</c> (version 1, 56 bytes), its module list and memory map, as defined
/// in xen/include/public/arch-x86/hvm/start_info.h. The guest gets its address in EBX.
/// </summary>
public static class PvhStartInfo
{
    public const uint Magic = 0x336E_C578;
    public const int StartInfoSize = 56;
    public const int ModuleEntrySize = 32;
    public const int MemmapEntrySize = 24;

    /// <summary>The module list (one entry: the initramfs) sits right after the start info.</summary>
    public const ulong ModlistAddress = PlatformLayout.PvhInfoStart + 0x40;

    /// <summary>Bytes to write at <see cref="PlatformLayout.PvhInfoStart"/> (start info and module list).</summary>
    public static byte[] Build(ulong cmdlineAddress, ulong initramfsAddress, ulong initramfsSize, int memmapEntries)
    {
        var bytes = new byte[(int)(ModlistAddress - PlatformLayout.PvhInfoStart) + ModuleEntrySize];
        var p = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(p, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], 1); // version
        BinaryPrimitives.WriteUInt32LittleEndian(p[8..], 0); // flags
        var modules = initramfsSize > 0 ? 1u : 0u;
        BinaryPrimitives.WriteUInt32LittleEndian(p[12..], modules);
        BinaryPrimitives.WriteUInt64LittleEndian(p[16..], modules > 0 ? ModlistAddress : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], cmdlineAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(p[32..], PlatformLayout.RsdpStart);
        BinaryPrimitives.WriteUInt64LittleEndian(p[40..], PlatformLayout.PvhMemmapStart);
        BinaryPrimitives.WriteUInt32LittleEndian(p[48..], (uint)memmapEntries);
        if (modules > 0)
        {
            var m = p[(int)(ModlistAddress - PlatformLayout.PvhInfoStart)..];
            BinaryPrimitives.WriteUInt64LittleEndian(m, initramfsAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(m[8..], initramfsSize);
        }

        return bytes;
    }

    public static byte[] BuildMemmap(IReadOnlyList<MemoryMapEntry> memoryMap)
    {
        var bytes = new byte[memoryMap.Count * MemmapEntrySize];
        for (var i = 0; i < memoryMap.Count; i++)
        {
            var e = bytes.AsSpan(i * MemmapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(e, memoryMap[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], memoryMap[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)memoryMap[i].Type);
        }

        return bytes;
    }
}
