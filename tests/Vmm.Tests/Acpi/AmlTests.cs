using CloudHypervisor.Vmm.Acpi;
using Xunit;

namespace CloudHypervisor.Vmm.Tests.Acpi;

/// <summary>Encodings checked byte for byte against the ACPI 6.5 AML grammar (§20.2) and what iasl emits for the same ASL.</summary>
public sealed class AmlTests
{
    [Theory]
    [InlineData(0ul, new byte[] { 0x00 })]
    [InlineData(1ul, new byte[] { 0x01 })]
    [InlineData(0x80ul, new byte[] { 0x0A, 0x80 })]
    [InlineData(0x3F8ul, new byte[] { 0x0B, 0xF8, 0x03 })]
    [InlineData(0xFEB0_0000ul, new byte[] { 0x0C, 0x00, 0x00, 0xB0, 0xFE })]
    [InlineData(0x1_0000_0000ul, new byte[] { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 })]
    [InlineData(ulong.MaxValue, new byte[] { 0xFF })]
    public void Integers_take_the_shortest_constant_encoding(ulong value, byte[] expected)
    {
        Assert.Equal(expected, Aml.Integer(value));
    }

    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(0x3E, new byte[] { 0x3F })]
    [InlineData(0x3F, new byte[] { 0x41, 0x04 })]
    [InlineData(0xFFD, new byte[] { 0x4F, 0xFF })]
    [InlineData(0xFFE, new byte[] { 0x81, 0x00, 0x01 })]
    [InlineData(0xFFFFC, new byte[] { 0x8F, 0xFF, 0xFF })]
    [InlineData(0xFFFFD, new byte[] { 0xC1, 0x00, 0x00, 0x01 })]
    public void PkgLength_counts_its_own_bytes_and_grows_by_the_lead_byte_count(int content, byte[] expected)
    {
        Assert.Equal(expected, Aml.PkgLength(content));
    }

    [Fact]
    public void PkgLength_refuses_lengths_beyond_28_bits()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Aml.PkgLength(1 << 28));
    }

    [Theory]
    [InlineData("_S5", new byte[] { 0x5F, 0x53, 0x35, 0x5F })]
    [InlineData("\\_SB", new byte[] { 0x5C, 0x5F, 0x53, 0x42, 0x5F })]
    [InlineData("\\_SB.PCI0", new byte[] { 0x5C, 0x2E, 0x5F, 0x53, 0x42, 0x5F, 0x50, 0x43, 0x49, 0x30 })]
    [InlineData("\\_SB.PCI0.ISA", new byte[] { 0x5C, 0x2F, 0x03, 0x5F, 0x53, 0x42, 0x5F, 0x50, 0x43, 0x49, 0x30, 0x49, 0x53, 0x41, 0x5F })]
    [InlineData("^PWRB", new byte[] { 0x5E, 0x50, 0x57, 0x52, 0x42 })]
    [InlineData("\\", new byte[] { 0x5C, 0x00 })]
    public void Name_strings_use_root_parent_dual_and_multi_name_prefixes(string path, byte[] expected)
    {
        Assert.Equal(expected, Aml.NameString(path));
    }

    [Theory]
    [InlineData("5ABC")]
    [InlineData("abcd")]
    [InlineData("TOOLONG")]
    public void Invalid_name_segments_are_refused(string segment)
    {
        Assert.Throws<ArgumentException>(() => Aml.NameSeg(segment));
    }

    [Fact]
    public void A_zero_s5_package_encodes_as_firmware_tables_have_it()
    {
        // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }) as compiled by iasl.
        Assert.Equal(
            new byte[] { 0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00 },
            Aml.Name("_S5", Aml.Package(Aml.Integer(0), Aml.Integer(0), Aml.Integer(0), Aml.Integer(0))));
    }

    [Fact]
    public void Eisa_ids_are_compressed_big_endian_dwords()
    {
        // Name (_HID, EisaId ("PNP0A03")) is 08 5F 48 49 44 0C 41 D0 0A 03 in every PC DSDT.
        Assert.Equal(new byte[] { 0x08, 0x5F, 0x48, 0x49, 0x44, 0x0C, 0x41, 0xD0, 0x0A, 0x03 }, Aml.Name("_HID", Aml.EisaId("PNP0A03")));
        Assert.Equal(new byte[] { 0x0C, 0x41, 0xD0, 0x0C, 0x0C }, Aml.EisaId("PNP0C0C"));
        Assert.Equal(new byte[] { 0x0C, 0x41, 0xD0, 0x05, 0x01 }, Aml.EisaId("PNP0501"));
    }

    [Fact]
    public void Strings_are_prefixed_and_nul_terminated()
    {
        Assert.Equal(new byte[] { 0x0D, 0x41, 0x43, 0x50, 0x49, 0x30, 0x30, 0x31, 0x33, 0x00 }, Aml.String("ACPI0013"));
    }

    [Fact]
    public void A_device_is_ext_op_device_op_pkglength_name_and_terms()
    {
        Assert.Equal(
            new byte[] { 0x5B, 0x82, 0x12, 0x50, 0x57, 0x52, 0x42, 0x08, 0x5F, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5F, 0x53, 0x54, 0x41, 0x0A, 0x0F },
            Aml.Device("PWRB", Aml.Name("_UID", Aml.Integer(0)), Aml.Name("_STA", Aml.Integer(0x0F))));
    }

    [Fact]
    public void A_method_carries_its_argument_count_and_serialize_flag()
    {
        // Method (_EVT, 1, Serialized) { Return (Arg0) }
        Assert.Equal(
            new byte[] { 0x14, 0x08, 0x5F, 0x45, 0x56, 0x54, 0x09, 0xA4, 0x68 },
            Aml.Method("_EVT", 1, serialized: true, Aml.Return(Aml.Arg(0))));
        Assert.Equal(0x02, Aml.Method("_PRS", 2, serialized: false)[6]);
    }

    [Fact]
    public void An_operation_region_and_its_field_encode_space_offset_flags_and_bit_widths()
    {
        Assert.Equal(
            new byte[] { 0x5B, 0x80, 0x47, 0x44, 0x53, 0x54, 0x00, 0x0C, 0x00, 0x00, 0xB0, 0xFE, 0x0A, 0x04 },
            Aml.OperationRegion("GDST", AmlRegionSpace.SystemMemory, 0xFEB0_0000, 4));
        // Field (GDST, DWordAcc, NoLock, WriteAsZeros) { GDAT, 32 }
        Assert.Equal(
            new byte[] { 0x5B, 0x81, 0x0B, 0x47, 0x44, 0x53, 0x54, 0x43, 0x47, 0x44, 0x41, 0x54, 0x20 },
            Aml.Field("GDST", AmlFieldAccess.DWordAcc, AmlFieldUpdate.WriteAsZeros, new AmlFieldUnit("GDAT", 32)));
    }

    [Fact]
    public void Store_and_if_notify_encode_as_in_the_grammar()
    {
        // Local0 = GDAT; If ((Local0 & One)) { Notify (PWRB, 0x80) }
        Assert.Equal(new byte[] { 0x70, 0x47, 0x44, 0x41, 0x54, 0x60 }, Aml.Store(Aml.Ref("GDAT"), Aml.Local(0)));
        Assert.Equal(
            new byte[] { 0xA0, 0x0C, 0x7B, 0x60, 0x01, 0x00, 0x86, 0x50, 0x57, 0x52, 0x42, 0x0A, 0x80 },
            Aml.If(Aml.And(Aml.Local(0), Aml.Integer(1)), Aml.Notify("PWRB", 0x80)));
    }

    [Fact]
    public void Resource_templates_hold_io_irq_memory_and_interrupt_descriptors_and_an_end_tag()
    {
        // ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4} }
        Assert.Equal(
            new byte[] { 0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 },
            Aml.ResourceTemplate(AmlResource.Io(0x3F8, 0x3F8, 1, 8), AmlResource.IrqNoFlags(4)));
        // Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5}
        Assert.Equal(new byte[] { 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00 }, AmlResource.Interrupt(true, false, false, 5));
        // Interrupt (ResourceConsumer, Level, ActiveLow, Shared) {0x20}
        Assert.Equal(new byte[] { 0x89, 0x06, 0x00, 0x0D, 0x01, 0x20, 0x00, 0x00, 0x00 }, AmlResource.Interrupt(false, true, true, 0x20));
        // Memory32Fixed (ReadWrite, 0xFEB00000, 0x00001000)
        Assert.Equal(new byte[] { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xB0, 0xFE, 0x00, 0x10, 0x00, 0x00 }, AmlResource.Memory32Fixed(true, 0xFEB0_0000, 0x1000));
    }

    [Fact]
    public void A_large_buffer_gets_a_two_byte_pkglength()
    {
        var buffer = Aml.Buffer(new byte[100]);

        // BufferOp, PkgLength of 2 + 2 (BytePrefix 0x64) + 100 = 104 = 0x68, BufferSize, data.
        Assert.Equal(new byte[] { 0x11, 0x48, 0x06, 0x0A, 0x64 }, buffer[..5]);
        Assert.Equal(105, buffer.Length);
    }
}
