using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>Contract §3.2 "Enum spellings": Rust variant names, case-sensitive, never numbers.</summary>
public sealed class EnumSpellingTests
{
    [Theory]
    [InlineData("Off")]
    [InlineData("Pty")]
    [InlineData("Tty")]
    [InlineData("File")]
    [InlineData("Socket")]
    [InlineData("Null")]
    public void Console_modes_round_trip_by_name(string mode) =>
        Assert.Equal($$"""{"mode":"{{mode}}"}""", Wire.RoundTrip($$"""{"mode":"{{mode}}"}""", ApiJsonContext.Default.SerialConfig));

    [Fact]
    public void Every_enum_prints_exactly_upstreams_variant_names()
    {
        Assert.Equal(["Off", "Pty", "Tty", "File", "Socket", "Null"], Enum.GetNames<ConsoleMode>());
        Assert.Equal(["Acpi", "VirtioMem"], Enum.GetNames<HotplugMethod>());
        Assert.Equal(["Vm", "Vcpu", "Off"], Enum.GetNames<CoreSchedulingMode>());
        Assert.Equal(["Client", "Server"], Enum.GetNames<VhostMode>());
        Assert.Equal(["FlatVmdk", "FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown"], Enum.GetNames<ImageType>());
        Assert.Equal(["ByteRange", "Full"], Enum.GetNames<LockGranularity>());
        Assert.Equal(["Copy", "OnDemand"], Enum.GetNames<MemoryRestoreMode>());
        Assert.Equal(["Precopy", "Postcopy"], Enum.GetNames<MigrationMode>());
        Assert.Equal(["Cancel", "Ignore"], Enum.GetNames<TimeoutStrategy>());
        Assert.Equal(["Created", "Running", "Shutdown", "Paused", "BreakPoint"], Enum.GetNames<VmState>());
        Assert.Equal("\"BreakPoint\"", Wire.Print(VmState.BreakPoint, ApiJsonContext.Default.VmState));
        Assert.Equal("\"VirtioMem\"", Wire.Print(HotplugMethod.VirtioMem, ApiJsonContext.Default.HotplugMethod));
    }

    [Fact]
    public void Every_disk_image_type_including_FlatVmdk_is_accepted()
    {
        foreach (var name in Enum.GetNames<ImageType>())
        {
            var disk = Wire.Parse($$"""{"image_type":"{{name}}"}""", ApiJsonContext.Default.DiskConfig);
            Assert.Equal(name, disk.ImageType.ToString());
        }
    }

    [Theory]
    [InlineData("\"acpi\"", "unknown variant `acpi`, expected one of `Acpi`, `VirtioMem`")]
    [InlineData("\"ACPI\"", "unknown variant `ACPI`")]
    [InlineData("0", "invalid type: integer, expected one of `Acpi`, `VirtioMem`")]
    [InlineData("\"Acpi, VirtioMem\"", "unknown variant `Acpi, VirtioMem`")]
    [InlineData("\"1\"", "unknown variant `1`")]
    public void A_wrongly_spelled_or_numeric_variant_is_rejected_like_serde(string value, string expected)
    {
        var error = Wire.Reject($$"""{"size":1,"hotplug_method":{{value}}}""", ApiJsonContext.Default.MemoryConfig);
        Assert.StartsWith(expected, error.Causes[0], StringComparison.Ordinal);
        Assert.EndsWith(" at $.hotplug_method", error.Causes[0], StringComparison.Ordinal);
    }
}
