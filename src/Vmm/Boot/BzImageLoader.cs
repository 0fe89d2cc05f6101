using System.Buffers.Binary;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Boot;

/// <summary>
/// Loads a Linux bzImage for the 64-bit boot protocol (Documentation/arch/x86/boot.rst): the
/// protected-mode kernel goes to 1 MiB, the setup header is copied into the zero page by
/// <see cref="ZeroPage"/>, and the 64-bit entry point is the load address + 0x200.
/// </summary>
public static class BzImageLoader
{
    /// <summary>Offset of the setup header inside the image and inside boot_params.</summary>
    public const int SetupHeaderOffset = 0x1F1;

    public const uint HdrSMagic = 0x5372_6448; // "HdrS"

    /// <summary>Boot protocol 2.12 introduced xloadflags (XLF_KERNEL_64).</summary>
    public const ushort MinimumVersion = 0x020C;

    private const ushort XLF_KERNEL_64 = 1;

    public static bool IsBzImage(ReadOnlySpan<byte> image) =>
        image.Length > 0x264
        && BinaryPrimitives.ReadUInt16LittleEndian(image[0x1FE..]) == 0xAA55
        && BinaryPrimitives.ReadUInt32LittleEndian(image[0x202..]) == HdrSMagic;

    /// <summary>The setup header bytes as they are in the image (0x1F1 up to the end the header declares).</summary>
    public static ReadOnlySpan<byte> SetupHeader(ReadOnlySpan<byte> image)
    {
        // The byte at 0x201 is the operand of the short jump at 0x200: the header ends at 0x202 + it.
        var end = Math.Min(0x202 + image[0x201], ZeroPage.Size);
        return image[SetupHeaderOffset..end];
    }

    public static BootEntry Load(GuestMemory memory, ReadOnlySpan<byte> image)
    {
        if (!IsBzImage(image))
        {
            throw new BootImageException("not a bzImage (no 0xAA55 boot flag and HdrS header)");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(image[0x206..]);
        if (version < MinimumVersion)
        {
            throw new BootImageException($"bzImage boot protocol {version >> 8}.{version & 0xFF} is older than 2.12 (no 64-bit entry)");
        }

        var xloadflags = BinaryPrimitives.ReadUInt16LittleEndian(image[0x236..]);
        if ((xloadflags & XLF_KERNEL_64) == 0)
        {
            throw new BootImageException("bzImage has no 64-bit entry point (XLF_KERNEL_64 is clear)");
        }

        var setupSects = image[0x1F1] == 0 ? 4 : image[0x1F1];
        var kernelOffset = (setupSects + 1) * 512;
        if (kernelOffset >= image.Length)
        {
            throw new BootImageException("bzImage is truncated before its protected-mode kernel");
        }

        var kernel = image[kernelOffset..];
        const ulong loadAddress = PlatformLayout.KernelStart;

        // init_size is what the kernel needs from its load address while it decompresses itself.
        var initSize = BinaryPrimitives.ReadUInt32LittleEndian(image[0x260..]);
        var needed = Math.Max((ulong)kernel.Length, initSize);
        if (!memory.Contains(loadAddress, needed))
        {
            throw new BootImageException($"bzImage needs 0x{needed:X} bytes of RAM from 0x{loadAddress:X}");
        }

        memory.Write(loadAddress, kernel);
        return new BootEntry(BootProtocol.Linux64, loadAddress + 0x200, loadAddress + needed, "bzImage");
    }
}
