using System.Buffers.Binary;
using System.Text;
using CloudHypervisor.Vmm.Acpi;
using CloudHypervisor.Vmm.Platform;
using Xunit;

namespace CloudHypervisor.Vmm.Tests.Acpi;

public sealed class AcpiTablesTests
{
    private static Dictionary<string, byte[]> Tables(int vcpus) =>
        new AcpiImage(AcpiTables.Build(vcpus)).TablesFromRsdp(PlatformLayout.RsdpStart);

    [Fact]
    public void The_rsdp_is_revision_2_at_the_platform_address_with_both_checksums_right()
    {
        var rsdp = new AcpiImage(AcpiTables.Build(1)).At(PlatformLayout.RsdpStart);

        Assert.Equal(36, rsdp.Length);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(rsdp, 0, 8));
        Assert.Equal(2, rsdp[15]);
        Assert.Equal(36u, BinaryPrimitives.ReadUInt32LittleEndian(rsdp.AsSpan(20)));
        Assert.Equal(0, AcpiImage.Sum(rsdp.AsSpan(0, 20)));
        Assert.Equal(0, AcpiImage.Sum(rsdp));
        Assert.Equal(PlatformLayout.AcpiTablesStart, AcpiImage.XsdtAddress(rsdp));
        // Linux scans for the RSDP on 16-byte boundaries of 0xE0000-0xFFFFF.
        Assert.Equal(0ul, PlatformLayout.RsdpStart % 16);
        Assert.InRange(PlatformLayout.RsdpStart, 0xE0000ul, 0xFFFFFul);
    }

    [Fact]
    public void The_xsdt_points_at_the_fadt_and_the_madt_and_the_fadt_at_the_dsdt()
    {
        var tables = Tables(2);

        Assert.Equal(["APIC", "DSDT", "FACP", "XSDT"], tables.Keys.Order().ToArray());
        Assert.Equal(36 + 16u, AcpiImage.Length(tables["XSDT"]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(AcpiTables.MaxVcpus)]
    public void Every_table_has_its_length_in_the_header_and_sums_to_zero(int vcpus)
    {
        foreach (var (signature, table) in Tables(vcpus))
        {
            Assert.True(AcpiImage.Length(table) == (uint)table.Length, $"{signature} length field");
            Assert.True(AcpiImage.Sum(table) == 0, $"{signature} checksum");
            Assert.Equal("CLOUDH", Encoding.ASCII.GetString(table, 10, 6));
        }
    }

    [Fact]
    public void Tables_lie_below_the_kernel_without_overlapping()
    {
        var blobs = AcpiTables.Build(AcpiTables.MaxVcpus).OrderBy(b => b.GuestAddress).ToList();

        for (var i = 1; i < blobs.Count; i++)
        {
            Assert.True(blobs[i - 1].GuestAddress + (ulong)blobs[i - 1].Bytes.Length <= blobs[i].GuestAddress, "overlap");
        }

        Assert.True(blobs[^1].GuestAddress + (ulong)blobs[^1].Bytes.Length <= PlatformLayout.KernelStart);
        Assert.True(blobs.Skip(1).All(b => b.GuestAddress >= PlatformLayout.AcpiTablesStart));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(AcpiTables.MaxVcpus)]
    public void The_madt_has_one_enabled_local_apic_per_vcpu_with_apic_id_equal_to_the_index(int vcpus)
    {
        var madt = Tables(vcpus)["APIC"];
        var localApics = AcpiImage.MadtEntries(madt).Where(e => e.Type == 0).Select(e => e.Entry).ToList();

        Assert.Equal(vcpus, localApics.Count);
        for (var i = 0; i < vcpus; i++)
        {
            Assert.Equal(8, localApics[i].Length);
            Assert.Equal(i, localApics[i][2]);
            Assert.Equal(i, localApics[i][3]);
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(localApics[i].AsSpan(4)) & 1);
        }
    }

    [Fact]
    public void The_madt_gives_the_local_apic_address_the_ioapic_and_the_pc_interrupt_overrides()
    {
        var madt = Tables(2)["APIC"];
        var entries = AcpiImage.MadtEntries(madt);

        Assert.Equal(5, madt[8]);
        Assert.Equal((uint)PlatformLayout.LocalApicStart, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(36)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(40)) & 1);

        var ioApic = Assert.Single(entries, e => e.Type == 1).Entry;
        Assert.Equal(12, ioApic.Length);
        Assert.Equal(0, ioApic[2]);
        Assert.Equal((uint)PlatformLayout.IoApicStart, BinaryPrimitives.ReadUInt32LittleEndian(ioApic.AsSpan(4)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(ioApic.AsSpan(8)));

        var overrideEntry = Assert.Single(entries, e => e.Type == 2).Entry;
        Assert.Equal(10, overrideEntry.Length);
        Assert.Equal(0, overrideEntry[2]);
        Assert.Equal(PlatformLayout.PitIrq, overrideEntry[3]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(overrideEntry.AsSpan(4)));

        var nmi = Assert.Single(entries, e => e.Type == 4).Entry;
        Assert.Equal([4, 6, 0xFF, 0x05, 0x00, 1], nmi);
    }

    [Fact]
    public void The_fadt_is_hardware_reduced_with_sleep_control_status_and_reset_registers_at_the_platform_ports()
    {
        var fadt = Tables(1)["FACP"];

        Assert.Equal(276, fadt.Length);
        Assert.Equal(6, fadt[8]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(112));
        Assert.True((flags & (1u << 20)) != 0, "HW_REDUCED_ACPI");
        Assert.True((flags & (1u << 10)) != 0, "RESET_REG_SUP");
        Assert.True((flags & (1u << 4)) != 0, "PWR_BUTTON (control method)");

        AssertIoRegister(fadt.AsSpan(116), PlatformLayout.ResetPort);
        Assert.Equal(PlatformLayout.ResetValue, fadt[128]);
        AssertIoRegister(fadt.AsSpan(244), PlatformLayout.SleepControlPort);
        AssertIoRegister(fadt.AsSpan(256), PlatformLayout.SleepStatusPort);

        // No PM1 or GPE blocks, no SCI, no FACS in hardware-reduced mode.
        Assert.All(fadt.AsSpan(36, 60).ToArray(), b => Assert.Equal(0, b));
        Assert.All(fadt.AsSpan(148, 96).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void The_s5_value_in_the_platform_matches_the_dsdt_sleep_type_and_slp_en()
    {
        var dsdt = Tables(1)["DSDT"];
        var s5 = Aml.Name("_S5", Aml.Package(Aml.Integer(5), Aml.Integer(5), Aml.Integer(0), Aml.Integer(0)));

        Assert.True(dsdt.AsSpan(36).IndexOf(s5) >= 0, "\\_S5 package in the DSDT");
        Assert.Equal((5 << 2) | (1 << 5), PlatformLayout.SleepControlS5);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(AcpiTables.MaxVcpus + 1)]
    public void Build_refuses_a_vcpu_count_the_madt_cannot_describe(int vcpus)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AcpiTables.Build(vcpus));
    }

    private static void AssertIoRegister(ReadOnlySpan<byte> gas, ushort port)
    {
        Assert.Equal(1, gas[0]);
        Assert.Equal(8, gas[1]);
        Assert.Equal(0, gas[2]);
        Assert.Equal(1, gas[3]);
        Assert.Equal(port, BinaryPrimitives.ReadUInt64LittleEndian(gas[4..]));
    }
}
