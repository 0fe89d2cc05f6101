using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmSnapshotConfig</c>: the body of vm.snapshot, e.g. <c>{"destination_url":"file:///tmp/snap"}</c>.</summary>
public sealed class VmSnapshotConfig
{
    public required string DestinationUrl { get; set; }
}
