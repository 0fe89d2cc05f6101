using System.Buffers.Binary;
using CloudHypervisor.InternalApi.Validation;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// Builds the ACPI tables that describe our x86-64 platform (<see cref="PlatformLayout"/>) to a
/// guest: RSDP (revision 2) → XSDT → FADT (hardware-reduced) → DSDT, and XSDT → MADT. Pure byte
/// generation; the KVM backend copies each blob to its guest address and passes
/// <see cref="PlatformLayout.RsdpStart"/> as <c>hvm_start_info.rsdp_paddr</c> (PVH) or lets Linux find
/// it by scanning 0xE0000-0xFFFFF (64-bit boot protocol).
/// </summary>
public static class AcpiTables
{
    /// <summary>xAPIC ids are 8 bits and 0xFF is the broadcast id; validation refuses more at vm.create.</summary>
    public const int MaxVcpus = (int)VmConfigValidator.MaxVcpus;

    /// <summary>Tables are placed on 16-byte boundaries after <see cref="PlatformLayout.AcpiTablesStart"/>.</summary>
    private const int TableAlignment = 16;

    /// <summary>
    /// The RSDP first, then XSDT, FADT, DSDT and MADT, each with its guest-physical address; all
    /// lie in the BIOS area below <see cref="PlatformLayout.KernelStart"/>.
    /// </summary>
    public static IReadOnlyList<AcpiBlob> Build(int vcpuCount, IReadOnlyList<PciSegmentLayout>? pci = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vcpuCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vcpuCount, MaxVcpus);

        var dsdt = Dsdt.Build(pci);
        var madt = Madt.Build(vcpuCount);
        var mcfg = pci is { Count: > 0 } ? Mcfg(pci) : null;
        var xsdtLength = AcpiSdt.HeaderSize + ((mcfg is null ? 2 : 3) * 8);

        var xsdtAddress = PlatformLayout.AcpiTablesStart;
        var fadtAddress = Align(xsdtAddress + (ulong)xsdtLength);
        var dsdtAddress = Align(fadtAddress + Fadt.Length);
        var madtAddress = Align(dsdtAddress + (ulong)dsdt.Length);
        var mcfgAddress = Align(madtAddress + (ulong)madt.Length);

        var fadt = Fadt.Build(dsdtAddress);
        var xsdt = mcfg is null ? Xsdt(fadtAddress, madtAddress) : Xsdt(fadtAddress, madtAddress, mcfgAddress);
        var rsdp = Rsdp(xsdtAddress);

        var end = mcfg is null ? madtAddress + (ulong)madt.Length : mcfgAddress + (ulong)mcfg.Length;
        if (end > PlatformLayout.KernelStart)
        {
            throw new InvalidOperationException($"ACPI tables end at 0x{end:X}, beyond the low area (0x{PlatformLayout.KernelStart:X}).");
        }

        return
        [
            new AcpiBlob(PlatformLayout.RsdpStart, rsdp),
            new AcpiBlob(xsdtAddress, xsdt),
            new AcpiBlob(fadtAddress, fadt),
            new AcpiBlob(dsdtAddress, dsdt),
            new AcpiBlob(madtAddress, madt),
            .. (mcfg is null ? Array.Empty<AcpiBlob>() : [new AcpiBlob(mcfgAddress, mcfg)]),
        ];
    }

    /// <summary>
    /// MCFG (PCI Firmware 3.0 §4.1.2): 8 reserved bytes, then per segment the ECAM base address,
    /// the segment number, start and end bus (0-0) and 4 reserved bytes.
    /// </summary>
    private static byte[] Mcfg(IReadOnlyList<PciSegmentLayout> segments)
    {
        var body = new byte[8 + (segments.Count * 16)];
        for (var i = 0; i < segments.Count; i++)
        {
            var entry = body.AsSpan(8 + (i * 16));
            BinaryPrimitives.WriteUInt64LittleEndian(entry, segments[i].EcamBase);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[8..], segments[i].Id);
            entry[10] = 0;
            entry[11] = 0;
        }

        return AcpiSdt.Build("MCFG", 1, "CHMCFG", body);
    }

    private static ulong Align(ulong address) => (address + TableAlignment - 1) & ~(ulong)(TableAlignment - 1);

    private static byte[] Xsdt(params ulong[] tables)
    {
        var body = new byte[tables.Length * 8];
        for (var i = 0; i < tables.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(i * 8), tables[i]);
        }

        return AcpiSdt.Build("XSDT", 1, "CHXSDT", body);
    }

    /// <summary>
    /// RSDP revision 2 (§5.2.5.3), 36 bytes: "RSD PTR ", checksum of the first 20 bytes, OEM id,
    /// revision, RSDT address (0: we have only an XSDT), length, XSDT address, extended checksum
    /// of all 36 bytes, 3 reserved bytes.
    /// </summary>
    private static byte[] Rsdp(ulong xsdtAddress)
    {
        var r = new byte[36];
        AcpiSdt.WriteAscii(r.AsSpan(0, 8), "RSD PTR ");
        AcpiSdt.WriteAscii(r.AsSpan(9, 6), AcpiSdt.OemId);
        r[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(20), 36);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), xsdtAddress);
        r[8] = AcpiSdt.Checksum(r.AsSpan(0, 20), 8);
        r[32] = AcpiSdt.Checksum(r, 32);
        return r;
    }
}
