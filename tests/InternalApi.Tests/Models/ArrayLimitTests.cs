using System.Text;
using CloudHypervisor.InternalApi.Json;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>
/// Issue 14 item 4: a body's arrays are bounded before anything is deserialized, so 1.39 M empty
/// disks in 4 MB are one InvalidArgument answer instead of gigabytes of device objects.
/// </summary>
public sealed class ArrayLimitTests
{
    private static string Repeat(string each, int count) => string.Join(",", Enumerable.Repeat(each, count));

    [Fact]
    public void A_4_MB_body_of_1_39_million_empty_disks_is_refused_with_its_length_and_path()
    {
        var body = $$"""{"memory":{"size":33554432},"payload":{"kernel":"/k"},"disks":[{{Repeat("{}", 1_390_000)}}]}""";

        var error = Wire.Reject(body, Wire.VmConfig);

        Assert.Equal(ApiErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(["Failed to deserialize JSON", "invalid length 1390000, expected at most 8192 elements at $.disks"], error.Chain);
    }

    [Fact]
    public void A_nested_array_is_named_by_its_full_path() =>
        Assert.Equal(
            "invalid length 8193, expected at most 8192 elements at $.cpus.affinity[1].host_cpus",
            JsonArrayLimit.Check(Encoding.UTF8.GetBytes(
                """{"cpus":{"affinity":[{"vcpu":0,"host_cpus":[0]},{"vcpu":1,"host_cpus":[""" + Repeat("1", 8193) + "]}]}}")));

    [Fact]
    public void Arrays_up_to_the_limit_pass_and_reach_the_deserializer()
    {
        Assert.Null(JsonArrayLimit.Check(Encoding.UTF8.GetBytes($$"""{"disks":[{{Repeat("{}", 8192)}}],"net":[{{Repeat("{}", 8192)}}]}""")));
        Assert.Equal(8192, Wire.Parse($$"""{"disks":[{{Repeat("{}", 8192)}}]}""", Wire.VmConfig).Disks!.Count);
    }

    [Fact]
    public void Malformed_json_is_left_to_the_deserializer_to_describe()
    {
        Assert.Null(JsonArrayLimit.Check(Encoding.UTF8.GetBytes("""{"disks":[{},""")));
        Assert.Equal("Failed to deserialize JSON", Wire.Reject("""{"disks":[{},""", Wire.VmConfig).Chain[0]);
    }
}
