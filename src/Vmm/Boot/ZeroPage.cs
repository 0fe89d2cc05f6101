using System.Buffers.Binary;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Boot;

/// <summary>
/// The Linux <c>boot_params</c> ("zero page") for the 64-bit boot protocol. Offsets are those of
/// arch/x86/include/uapi/asm/bootparam.h.
/// </summary>
public static class ZeroPage
{
    public const int Size = 4096;

    private const int AcpiRsdpAddr = 0x070;
    private const int ExtRamdiskImage = 0x0C0;
    private const int ExtRamdiskSize = 0x0C4;
    private const int ExtCmdLinePtr = 0x0C8;
    private const int E820Entries = 0x1E8;
    private const int BootFlag = 0x1FE;
    private const int Header = 0x202;
    private const int Version = 0x206;
    private const int TypeOfLoader = 0x210;
    private const int LoadFlags = 0x211;
    private const int RamdiskImage = 0x218;
    private const int RamdiskSize = 0x21C;
    private const int HeapEndPtr = 0x224;
    private const int CmdLinePtr = 0x228;
    private const int KernelAlignment = 0x230;
    private const int CmdlineSize = 0x238;
    private const int E820Table = 0x2D0;
    private const int E820Max = 128;

    private const byte LOADED_HIGH = 0x01;
    private const byte CAN_USE_HEAP = 0x80;

    /// <summary>
    /// Builds boot_params. <paramref name="setupHeader"/> is the bzImage's header (from 0x1F1) or
    /// empty for an ELF vmlinux, for which a minimal header is synthesized (boot flag, HdrS, 2.12).
    /// </summary>
    public static byte[] Build(
        ReadOnlySpan<byte> setupHeader,
        ulong cmdlineAddress,
        int cmdlineLength,
        ulong initramfsAddress,
        ulong initramfsSize,
        IReadOnlyList<MemoryMapEntry> memoryMap)
    {
        var page = new byte[Size];
        var p = page.AsSpan();
        if (setupHeader.IsEmpty)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(p[BootFlag..], 0xAA55);
            BinaryPrimitives.WriteUInt32LittleEndian(p[Header..], BzImageLoader.HdrSMagic);
            BinaryPrimitives.WriteUInt16LittleEndian(p[Version..], BzImageLoader.MinimumVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(p[KernelAlignment..], 0x100_0000);
        }
        else
        {
            setupHeader.CopyTo(p[BzImageLoader.SetupHeaderOffset..]);
        }

        p[TypeOfLoader] = 0xFF; // "undefined" boot loader id
        p[LoadFlags] = (byte)(p[LoadFlags] | LOADED_HIGH | CAN_USE_HEAP);
        BinaryPrimitives.WriteUInt16LittleEndian(p[HeapEndPtr..], 0xFE00);
        BinaryPrimitives.WriteUInt32LittleEndian(p[CmdLinePtr..], (uint)cmdlineAddress);
        p[ExtCmdLinePtr] = (byte)(cmdlineAddress >> 32);
        BinaryPrimitives.WriteUInt32LittleEndian(p[CmdlineSize..], (uint)cmdlineLength);
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskImage..], (uint)initramfsAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskImage..], (uint)(initramfsAddress >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskSize..], (uint)initramfsSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskSize..], (uint)(initramfsSize >> 32));
        BinaryPrimitives.WriteUInt64LittleEndian(p[AcpiRsdpAddr..], PlatformLayout.RsdpStart);

        if (memoryMap.Count > E820Max)
        {
            throw new BootImageException($"memory map has {memoryMap.Count} entries, e820 holds {E820Max}");
        }

        p[E820Entries] = (byte)memoryMap.Count;
        for (var i = 0; i < memoryMap.Count; i++)
        {
            var e = p[(E820Table + (i * 20))..];
            BinaryPrimitives.WriteUInt64LittleEndian(e, memoryMap[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], memoryMap[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)memoryMap[i].Type);
        }

        return page;
    }
}
