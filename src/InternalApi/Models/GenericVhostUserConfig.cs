using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>GenericVhostUserConfig</c>: any vhost-user device by virtio device type.</summary>
public sealed class GenericVhostUserConfig : IPciDeviceConfig
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

    public required string Socket { get; set; }

    public required List<ushort> QueueSizes { get; set; }

    /// <summary>The virtio device type number.</summary>
    public required uint DeviceType { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal GenericVhostUserConfig Copy()
    {
        var copy = (GenericVhostUserConfig)MemberwiseClone();
        copy.QueueSizes = [.. QueueSizes];
        return copy;
    }
}
