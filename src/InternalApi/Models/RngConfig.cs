using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RngConfig</c>: the virtio-rng device; the VmConfig default is <c>{"pci_segment":0,"src":"/dev/urandom"}</c>.</summary>
public sealed class RngConfig : IPciDeviceConfig
{
    /// <inheritdoc/>
    public string? Id { get; set; }

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Iommu { get; set; }

    /// <inheritdoc/>
    public ushort PciSegment { get; set; }

    /// <inheritdoc/>
    public byte? PciDeviceId { get; set; }

    /// <summary>The entropy source file; upstream default <c>/dev/urandom</c>.</summary>
    public required string Src { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal RngConfig Copy() => (RngConfig)MemberwiseClone();
}
