using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VsockConfig</c>: the virtio-vsock device (at most one). cid is a u32 in the code.</summary>
public sealed class VsockConfig : IPciDeviceConfig
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

    /// <summary>The guest context id; 0, 1, 2 and u32::MAX are reserved.</summary>
    public required uint Cid { get; set; }

    /// <summary>The Unix socket that proxies vsock connections.</summary>
    public required string Socket { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal VsockConfig Copy() => (VsockConfig)MemberwiseClone();
}
