using CloudHypervisor.InternalApi.Json;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>
/// Bodies that do not deserialize answer 400 <c>["Failed to deserialize JSON", "&lt;what and where&gt;"]</c>.
/// Unknown fields are rejected (DESIGN.md "Deliberately better"), naming the field.
/// </summary>
public sealed class JsonErrorTests
{
    [Theory]
    [InlineData("""{"bogus":1}""", "unknown field `bogus` at $.bogus")]
    [InlineData("""{"memory":{"size":1,"sizee":2}}""", "unknown field `sizee` at $.memory.sizee")]
    [InlineData("""{"disks":[{"path":"/a"},{"pat":"/b"}]}""", "unknown field `pat` at $.disks[1].pat")]
    [InlineData("""{"payload":{"kernel":"/k","initrd":"/i"}}""", "unknown field `initrd` at $.payload.initrd")]
    public void An_unknown_field_is_rejected_naming_the_field_and_where(string body, string cause)
    {
        var error = Wire.Reject(body, Wire.VmConfig);
        Assert.Equal(["Failed to deserialize JSON", cause], error.Chain);
        Assert.False(error.FromApi);
    }

    [Fact]
    public void An_unknown_field_on_an_action_body_is_rejected_too()
    {
        var error = Wire.Reject("""{"id":"_disk0","desired_size":1,"force":true}""", ApiJsonContext.Default.VmResizeDisk);
        Assert.Equal("unknown field `force` at $.force", error.Causes[0]);
    }

    [Theory]
    [InlineData("""{"memory":{"size":"1"}}""", "invalid type or value at $.memory.size")]
    [InlineData("""{"memory":{"size":-1}}""", "invalid type or value at $.memory.size")]
    [InlineData("""{"cpus":{"boot_vcpus":1,"max_vcpus":1,"max_phys_bits":300}}""", "invalid type or value at $.cpus.max_phys_bits: expected u8")]
    [InlineData("""{"disks":[{"queue_size":70000}]}""", "invalid type or value at $.disks[0].queue_size: expected u16")]
    [InlineData("""{"vsock":{"cid":4294967296,"socket":"/s"}}""", "invalid type or value at $.vsock.cid")]
    [InlineData("""{"iommu":"yes"}""", "invalid type or value at $.iommu: expected a boolean")]
    [InlineData("""{"rng":{"src":null}}""", "invalid type: null at $.rng.src")]
    [InlineData("""{"rng":{"src":5}}""", "invalid type or value at $.rng.src")]
    [InlineData("""{"disks":{}}""", "invalid type or value at $.disks")]
    public void A_wrong_type_or_out_of_range_number_is_rejected_naming_the_field(string body, string cause) =>
        Assert.StartsWith(cause, Wire.Reject(body, Wire.VmConfig).Causes[0], StringComparison.Ordinal);

    [Fact]
    public void A_missing_required_field_of_an_action_body_is_rejected_naming_it()
    {
        Assert.Equal("missing field `desired_size` at $", Wire.Reject("""{"id":"_disk0"}""", ApiJsonContext.Default.VmResizeDisk).Causes[0]);
        Assert.Equal("missing field `id` at $", Wire.Reject("{}", ApiJsonContext.Default.VmRemoveDevice).Causes[0]);
        Assert.Equal("missing field `destination_url` at $", Wire.Reject("{}", ApiJsonContext.Default.VmSnapshotConfig).Causes[0]);
        Assert.Contains("`id`", Wire.Reject("{}", ApiJsonContext.Default.VmResizeZone).Causes[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"memory":{"size":4096,"size":8192}}""", "duplicate field `size` at $.memory")]
    [InlineData("""{"iommu":true,"iommu":false}""", "duplicate field `iommu` at $")]
    public void A_field_given_twice_is_rejected_as_serde_does(string body, string cause) =>
        Assert.StartsWith(cause, Wire.Reject(body, Wire.VmConfig).Causes[0], StringComparison.Ordinal);

    [Theory]
    [InlineData("{")]
    [InlineData("""{"memory":""")]
    [InlineData("[]")]
    [InlineData("\"vm\"")]
    [InlineData("null")]
    [InlineData("{} {}")]
    public void Malformed_json_or_a_non_object_is_rejected(string body) =>
        Assert.NotEmpty(Wire.Reject(body, Wire.VmConfig).Causes[0]);

    [Theory]
    [InlineData("downtime_ms", "u64")]
    [InlineData("timeout_s", "u64")]
    [InlineData("connections", "u32")]
    public void Zero_for_a_NonZero_migration_number_is_a_json_error(string field, string width)
    {
        var error = Wire.Reject($$"""{"destination_url":"unix:/m","{{field}}":0}""", ApiJsonContext.Default.SendMigrationData);
        Assert.StartsWith($"invalid value: integer `0`, expected a nonzero {width}", error.Causes[0], StringComparison.Ordinal);
    }
}
