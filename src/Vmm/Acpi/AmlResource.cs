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

    /// <summary>Address space resource types (§6.4.3.5): memory, I/O, bus number.</summary>
    private const byte SpaceMemory = 0, SpaceIo = 1, SpaceBus = 2;

    /// <summary>General flags of a window a host bridge produces: min and max fixed, producer (bit 0 clear).</summary>
    private const byte ProducerFixed = 0x0C;

    /// <summary>ASL <c>WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, count)</c>: Word Address Space (tag 0x88).</summary>
    public static byte[] WordBusNumber(ushort minimum, ushort maximum) => Word(SpaceBus, 0, minimum, maximum);

    /// <summary>ASL <c>WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, length)</c>.</summary>
    public static byte[] WordIo(ushort minimum, ushort maximum) => Word(SpaceIo, 0x03, minimum, maximum);

    private static byte[] Word(byte type, byte typeFlags, ushort minimum, ushort maximum)
    {
        var d = new byte[16];
        d[0] = 0x88;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 13);
        d[3] = type;
        d[4] = ProducerFixed;
        d[5] = typeFlags;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(8), minimum);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(10), maximum);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(14), (ushort)(maximum - minimum + 1));
        return d;
    }

    /// <summary>ASL <c>DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...)</c>: DWord Address Space (tag 0x87).</summary>
    public static byte[] DWordMemory(uint minimum, uint length)
    {
        var d = new byte[26];
        d[0] = 0x87;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 23);
        d[3] = SpaceMemory;
        d[4] = ProducerFixed;
        d[5] = 0x01;
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(10), minimum);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(14), minimum + length - 1);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(22), length);
        return d;
    }

    /// <summary>ASL <c>QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...)</c>: QWord Address Space (tag 0x8A).</summary>
    public static byte[] QWordMemory(ulong minimum, ulong length)
    {
        var d = new byte[46];
        d[0] = 0x8A;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 43);
        d[3] = SpaceMemory;
        d[4] = ProducerFixed;
        d[5] = 0x01;
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(14), minimum);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(22), minimum + length - 1);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(38), length);
        return d;
    }
}
