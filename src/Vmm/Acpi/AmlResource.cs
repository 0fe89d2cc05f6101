using System.Buffers.Binary;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// Resource descriptors for <see cref="Aml.ResourceTemplate"/> (ACPI 6.5 §6.4, "Resource Data
/// Types"). Small descriptors start with a tag byte holding type and length; large ones with a
/// tag byte and a 16-bit length.
/// </summary>
public static class AmlResource
{
    /// <summary>
    /// ASL <c>IO (Decode16, min, max, alignment, length)</c>: small item 0x08 (tag byte 0x47),
    /// information (bit 0 = 16-bit decode), range minimum, maximum, alignment, length.
    /// </summary>
    public static byte[] Io(ushort minimum, ushort maximum, byte alignment, byte length)
    {
        var d = new byte[8];
        d[0] = 0x47;
        d[1] = 0x01;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(2), minimum);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(4), maximum);
        d[6] = alignment;
        d[7] = length;
        return d;
    }

    /// <summary>ASL <c>IRQNoFlags () {irq}</c>: small item 0x04 of length 2 (tag 0x22), a 16-bit mask of ISA IRQs; edge, active high.</summary>
    public static byte[] IrqNoFlags(int irq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(irq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        var mask = (ushort)(1 << irq);
        return [0x22, (byte)mask, (byte)(mask >> 8)];
    }

    /// <summary>
    /// ASL <c>Memory32Fixed (ReadWrite|ReadOnly, base, length)</c>: large item 0x06 (tag 0x86),
    /// length 9, information (bit 0 = writeable), base, length.
    /// </summary>
    public static byte[] Memory32Fixed(bool writeable, uint baseAddress, uint length)
    {
        var d = new byte[12];
        d[0] = 0x86;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 9);
        d[3] = (byte)(writeable ? 1 : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(4), baseAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), length);
        return d;
    }

    /// <summary>
    /// ASL <c>Interrupt (ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) {gsi}</c>:
    /// the Extended Interrupt descriptor, large item 0x09 (tag 0x89), length 6 for one interrupt;
    /// flags bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared; a count, then the GSI.
    /// </summary>
    public static byte[] Interrupt(bool edgeTriggered, bool activeLow, bool shared, uint gsi)
    {
        var d = new byte[9];
        d[0] = 0x89;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 6);
        d[3] = (byte)(0x01 | (edgeTriggered ? 0x02 : 0) | (activeLow ? 0x04 : 0) | (shared ? 0x08 : 0));
        d[4] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(5), gsi);
        return d;
    }
}
