using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmMemoryZoneUpdateData</c>: moves a memory zone to another host NUMA node on restore or receive.</summary>
public sealed class VmMemoryZoneUpdateData
{
    public required string Id { get; set; }

    public required uint HostNumaNode { get; set; }
}
