using System.Diagnostics;
using CloudHypervisor.Vmm.Acpi;
using CloudHypervisor.Vmm.Platform;
using Xunit;

namespace CloudHypervisor.Vmm.Tests.Acpi;

/// <summary>
/// ACPICA's own tools read our tables: <c>iasl -d</c> disassembles the DSDT (the AML parser an
/// OSPM uses) and the FADT/MADT (it recomputes checksums and decodes every field). Needs the
/// Debian package acpica-tools.
/// </summary>
public sealed class IaslTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acpi-iasl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Iasl_disassembles_the_dsdt_into_the_devices_we_describe()
    {
        var dsl = Disassemble("DSDT", 2);

        Assert.Contains("Name (_S5, Package (0x04)", dsl);
        Assert.Contains("Device (GED0)", dsl);
        Assert.Contains("Local0 = GDAT", dsl);
        Assert.Contains("If ((Local0 & One))", dsl);
        Assert.Contains("Name (_HID, \"ACPI0013\" /* Generic Event Device */)", dsl);
        Assert.Contains("Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )", dsl);
        Assert.Contains($"OperationRegion (GDST, SystemMemory, 0x{PlatformLayout.GedStart:X8}, 0x04)", dsl);
        Assert.Contains("Method (_EVT, 1, Serialized)", dsl);
        Assert.Contains("Notify (PWRB, 0x80)", dsl);
        Assert.Contains("Name (_HID, EisaId (\"PNP0C0C\") /* Power Button Device */)", dsl);
        Assert.Contains("Name (_HID, EisaId (\"PNP0501\") /* 16550A-compatible COM Serial Port */)", dsl);
        Assert.Contains("IO (Decode16,\n                    0x03F8,", dsl.Replace("\r", ""));
        Assert.Contains("IRQNoFlags ()\n                    {4}", dsl.Replace("\r", ""));
    }

    [Fact]
    public void Iasl_recompiles_the_disassembled_dsdt_to_the_same_aml()
    {
        var dsl = Disassemble("DSDT", 1);
        var dslPath = Path.Combine(_dir, "roundtrip.dsl");
        File.WriteAllText(dslPath, dsl);

        // -oa: no optimisation, so iasl keeps the name paths as written and the bytes are comparable.
        var (exit, output) = Run("iasl", $"-oa -p {Path.Combine(_dir, "roundtrip")} {dslPath}");

        Assert.True(exit == 0, output);
        var ours = Table("DSDT", 1);
        var theirs = File.ReadAllBytes(Path.Combine(_dir, "roundtrip.aml"));
        // The header's creator fields name the compiler; the definition block must be identical.
        Assert.Equal(ours[36..], theirs[36..]);
    }

    [Fact]
    public void Iasl_reads_the_pci_hotplug_aml_and_recompiles_it_to_the_same_bytes()
    {
        var config = new InternalApi.Models.VmConfig
        {
            Memory = new InternalApi.Models.MemoryConfig { Size = 64UL << 20 },
            Platform = new InternalApi.Models.PlatformConfig { NumPciSegments = 2 },
        };
        var pci = Devices.PciSegmentLayout.For(config, 64UL << 20);
        var path = Path.Combine(_dir, "pcidsdt.dat");
        File.WriteAllBytes(path, new AcpiImage(AcpiTables.Build(1, pci)).TablesFromRsdp(PlatformLayout.RsdpStart)["DSDT"]);
        var (exit, output) = Run("iasl", $"-d {path}");
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("Error", output);
        var dsl = File.ReadAllText(Path.ChangeExtension(path, ".dsl"));

        Assert.Contains("Device (PHPR)", dsl);
        Assert.Contains("Method (PCEJ, 2, Serialized)", dsl);
        Assert.Contains("B0EJ = (One << Arg0)", dsl);
        Assert.Contains("\\_SB.PC00.PCNT ()", dsl);
        Assert.Contains("\\_SB.PC01.PCNT ()", dsl);
        Assert.Contains("\\_SB.PHPR.PSCN ()", dsl);
        Assert.Contains("Device (S031)", dsl);
        Assert.Contains("\\_SB.PHPR.PCEJ (0x1F, One)", dsl);
        Assert.Contains("Notify (S002, Arg1)", dsl);
        Assert.Contains("DVNT (\\_SB.PHPR.PCID, 0x03)", dsl);

        // -oa as above: the definition block iasl compiles from its own disassembly is ours, byte for byte.
        var dslPath = Path.Combine(_dir, "pciroundtrip.dsl");
        File.WriteAllText(dslPath, dsl);
        (exit, output) = Run("iasl", $"-oa -p {Path.Combine(_dir, "pciroundtrip")} {dslPath}");
        Assert.True(exit == 0, output);
        Assert.Equal(File.ReadAllBytes(path)[36..], File.ReadAllBytes(Path.Combine(_dir, "pciroundtrip.aml"))[36..]);
    }

    [Fact]
    public void Iasl_decodes_the_fadt_as_hardware_reduced_with_correct_checksum()
    {
        var dsl = Disassemble("FACP", 1);

        Assert.Matches(@"Hardware Reduced \(V5\) : 1", dsl);
        Assert.Matches(@"Reset Register Supported \(V2\) : 1", dsl);
        Assert.Matches(@"Control Method Power Button \(V1\) : 1", dsl);
        Assert.DoesNotContain("Incorrect checksum", dsl);
        Assert.Matches(@"Sleep Control Register : \[Generic Address Structure\]\n.*Space ID : 01 \[SystemIO\]\n.*\n.*\n.*\n.*Address : 0000000000000600", dsl);
        Assert.Matches(@"Sleep Status Register : \[Generic Address Structure\]\n.*Space ID : 01 \[SystemIO\]\n.*\n.*\n.*\n.*Address : 0000000000000601", dsl);
        Assert.Matches(@"Reset Register : \[Generic Address Structure\]\n.*Space ID : 01 \[SystemIO\]\n.*\n.*\n.*\n.*Address : 0000000000000602\n\n.*Value to cause reset : 01", dsl);
    }

    [Fact]
    public void Iasl_decodes_the_madt_with_a_local_apic_per_vcpu()
    {
        var dsl = Disassemble("APIC", 3);

        Assert.DoesNotContain("Incorrect checksum", dsl);
        Assert.Equal(3, CountOf(dsl, "Subtable Type : 00 [Processor Local APIC]"));
        Assert.Equal(1, CountOf(dsl, "Subtable Type : 01 [I/O APIC]"));
        Assert.Contains("Address : FEC00000", dsl);
        Assert.Contains("Interrupt : 00000002", dsl);
    }

    private static int CountOf(string text, string what) => (text.Length - text.Replace(what, "").Length) / what.Length;

    private static byte[] Table(string signature, int vcpus) =>
        new AcpiImage(AcpiTables.Build(vcpus)).TablesFromRsdp(PlatformLayout.RsdpStart)[signature];

    private string Disassemble(string signature, int vcpus)
    {
        var path = Path.Combine(_dir, signature.ToLowerInvariant() + ".dat");
        File.WriteAllBytes(path, Table(signature, vcpus));

        var (exit, output) = Run("iasl", $"-d {path}");

        Assert.True(exit == 0, output);
        Assert.DoesNotContain("Error", output);
        return File.ReadAllText(Path.ChangeExtension(path, ".dsl"));
    }

    private (int Exit, string Output) Run(string tool, string arguments)
    {
        var start = new ProcessStartInfo(tool, arguments)
        {
            WorkingDirectory = _dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{tool}' is not installed: install the Debian package acpica-tools (./build.sh does). {e.Message}", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr);
        }
    }
}
