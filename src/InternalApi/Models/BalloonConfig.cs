using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>BalloonConfig</c>: the virtio-balloon device.</summary>
public sealed class BalloonConfig : IPciDeviceConfig
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

    /// <summary>Initial balloon size in bytes.</summary>
    public required ulong Size { get; set; }

    /// <summary>Deflate the balloon when the guest is under memory pressure.</summary>
    public bool DeflateOnOom { get; set; }

    /// <summary>Let the guest report free pages.</summary>
    public bool FreePageReporting { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal BalloonConfig Copy() => (BalloonConfig)MemberwiseClone();
}
