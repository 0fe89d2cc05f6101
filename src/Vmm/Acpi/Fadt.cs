using System.Buffers.Binary;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// The Fixed ACPI Description Table, revision 6.5 layout (276 bytes), in hardware-reduced mode
/// (§4.1): no PM1/GPE blocks, no FACS, no SCI; sleep goes through the sleep control/status
/// registers and reset through the reset register, all three byte-wide I/O ports of
/// <see cref="PlatformLayout"/>.
/// </summary>
internal static class Fadt
{
    public const int Length = 276;
    public const byte Revision = 6;
    public const byte MinorRevision = 5;

    // Field offsets from the start of the table (§5.2.9, Table 5.9).
    public const int FlagsOffset = 112;
    public const int ResetRegOffset = 116;
    public const int ResetValueOffset = 128;
    public const int MinorVersionOffset = 131;
    public const int XDsdtOffset = 140;
    public const int SleepControlRegOffset = 244;
    public const int SleepStatusRegOffset = 256;
    public const int HypervisorVendorOffset = 268;
    public const int IaPcBootArchOffset = 109;

    // Flags (Table 5.10).
    public const uint PowerButtonIsControlMethod = 1 << 4;
    public const uint SleepButtonIsControlMethod = 1 << 5;
    public const uint ResetRegSupported = 1 << 10;
    public const uint HardwareReducedAcpi = 1 << 20;

    /// <summary>IA-PC boot architecture flags (Table 5.11): no VGA. We claim no 8042 (only its reset line exists) and keep the CMOS RTC.</summary>
    public const ushort IaPcVgaNotPresent = 1 << 2;

    /// <summary>Generic Address Structure address space id for system I/O (§5.2.3.2).</summary>
    public const byte GasSystemIo = 1;

    /// <summary>GAS access size 1 = byte access.</summary>
    public const byte GasByteAccess = 1;

    public static byte[] Build(ulong dsdtAddress)
    {
        var body = new byte[Length - AcpiSdt.HeaderSize];
        Span<byte> b = body;
        const int H = AcpiSdt.HeaderSize;
        BinaryPrimitives.WriteUInt16LittleEndian(b[(IaPcBootArchOffset - H)..], IaPcVgaNotPresent);
        BinaryPrimitives.WriteUInt32LittleEndian(b[(FlagsOffset - H)..],
            HardwareReducedAcpi | ResetRegSupported | PowerButtonIsControlMethod | SleepButtonIsControlMethod);
        WriteIoRegister(b[(ResetRegOffset - H)..], PlatformLayout.ResetPort);
        b[ResetValueOffset - H] = PlatformLayout.ResetValue;
        b[MinorVersionOffset - H] = MinorRevision;
        // Only X_DSDT: the 32-bit DSDT field stays 0 so OSPMs never see two different pointers.
        BinaryPrimitives.WriteUInt64LittleEndian(b[(XDsdtOffset - H)..], dsdtAddress);
        WriteIoRegister(b[(SleepControlRegOffset - H)..], PlatformLayout.SleepControlPort);
        WriteIoRegister(b[(SleepStatusRegOffset - H)..], PlatformLayout.SleepStatusPort);
        AcpiSdt.WriteAscii(b.Slice(HypervisorVendorOffset - H, 8), "CLOUDHYP");
        return AcpiSdt.Build("FACP", Revision, "CHFACP", body);
    }

    /// <summary>A GAS for a byte-wide I/O port: space 1, width 8, offset 0, byte access, address.</summary>
    private static void WriteIoRegister(Span<byte> gas, ushort port)
    {
        gas[0] = GasSystemIo;
        gas[1] = 8;
        gas[2] = 0;
        gas[3] = GasByteAccess;
        BinaryPrimitives.WriteUInt64LittleEndian(gas[4..], port);
    }
}
