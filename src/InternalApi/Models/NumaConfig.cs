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

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal NumaConfig Copy()
    {
        var copy = (NumaConfig)MemberwiseClone();
        copy.Cpus = Cpus is null ? null : [.. Cpus];
        copy.Distances = VmConfig.CopyEach(Distances, d => d.Copy());
        copy.MemoryZones = MemoryZones is null ? null : [.. MemoryZones];
        copy.PciSegments = PciSegments is null ? null : [.. PciSegments];
        return copy;
    }
}
