using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RtcConfig</c>: only the common PCI fields.</summary>
public sealed class RtcConfig : IPciDeviceConfig
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


    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal RtcConfig Copy() => (RtcConfig)MemberwiseClone();
}
