using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>NumaConfig</c>: one guest NUMA node.</summary>
public sealed class NumaConfig
{
    public required uint GuestNumaId { get; set; }

    public List<uint>? Cpus { get; set; }

    public List<NumaDistance>? Distances { get; set; }

    public List<string>? MemoryZones { get; set; }

    public List<ushort>? PciSegments { get; set; }

    public string? DeviceId { get; set; }
}
