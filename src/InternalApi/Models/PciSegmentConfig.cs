using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>PciSegmentConfig</c>: MMIO aperture weights of one PCI segment. pci_segment defaults to 0 (the OpenAPI wrongly marks it required).</summary>
public sealed class PciSegmentConfig
{
    public ushort PciSegment { get; set; }

    public uint Mmio32ApertureWeight { get; set; } = 1;

    public uint Mmio64ApertureWeight { get; set; } = 1;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal PciSegmentConfig Copy() => (PciSegmentConfig)MemberwiseClone();
}
