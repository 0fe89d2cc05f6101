using System.Buffers.Binary;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// The Multiple APIC Description Table (§5.2.12): the local APIC address, one Processor Local
/// APIC entry per vCPU (ACPI processor UID = APIC id = vCPU index), the IOAPIC, the interrupt
/// source override a PC has (ISA IRQ 0, the PIT, on GSI 2) and LINT1 as NMI on every CPU.
/// </summary>
internal static class Madt
{
    public const byte Revision = 5;

    /// <summary>Flags bit 0, PCAT_COMPAT: the platform also has dual 8259 PICs (the in-kernel irqchip does).</summary>
    public const uint PcAtCompat = 1;

    public const byte TypeLocalApic = 0;
    public const byte TypeIoApic = 1;
    public const byte TypeInterruptSourceOverride = 2;
    public const byte TypeLocalApicNmi = 4;

    /// <summary>IOAPIC id 0: what KVM's in-kernel IOAPIC reports after reset (xAPIC systems keep IOAPIC ids apart from local APIC ids).</summary>
    public const byte IoApicId = 0;

    /// <summary>Local APIC entry flag: enabled.</summary>
    public const uint LocalApicEnabled = 1;

    /// <summary>MPS INTI flags for the NMI entry: edge triggered (bits 2-3 = 01), active high (bits 0-1 = 01).</summary>
    public const ushort NmiFlags = 0x0005;

    public static byte[] Build(int vcpuCount)
    {
        var body = new List<byte>();
        var header = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)PlatformLayout.LocalApicStart);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), PcAtCompat);
        body.AddRange(header);

        for (var cpu = 0; cpu < vcpuCount; cpu++)
        {
            var entry = new byte[8];
            entry[0] = TypeLocalApic;
            entry[1] = 8;
            entry[2] = (byte)cpu;
            entry[3] = (byte)cpu;
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), LocalApicEnabled);
            body.AddRange(entry);
        }

        var ioApic = new byte[12];
        ioApic[0] = TypeIoApic;
        ioApic[1] = 12;
        ioApic[2] = IoApicId;
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(4), (uint)PlatformLayout.IoApicStart);
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(8), 0);
        body.AddRange(ioApic);

        body.AddRange(InterruptSourceOverride(PlatformLayout.PitIrq, 2, flags: 0));

        // Local APIC NMI: processor UID 0xFF means all processors; LINT1.
        body.AddRange(new byte[] { TypeLocalApicNmi, 6, 0xFF, (byte)NmiFlags, (byte)(NmiFlags >> 8), 1 });

        return AcpiSdt.Build("APIC", Revision, "CHMADT", body.ToArray());
    }

    /// <summary>Type 2 entry: bus 0 (ISA), source IRQ, GSI, MPS INTI flags (0 = conforms to the bus).</summary>
    private static byte[] InterruptSourceOverride(int irq, uint gsi, ushort flags)
    {
        var entry = new byte[10];
        entry[0] = TypeInterruptSourceOverride;
        entry[1] = 10;
        entry[2] = 0;
        entry[3] = (byte)irq;
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), gsi);
        BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(8), flags);
        return entry;
    }
}
