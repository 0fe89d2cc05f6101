using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>FsConfig</c>: a virtio-fs (vhost-user) device. num_queues and queue_size default to 1 and 1024 (the OpenAPI wrongly marks them required).</summary>
public sealed class FsConfig : IPciDeviceConfig
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

    public required string Tag { get; set; }

    public required string Socket { get; set; }

    public ulong NumQueues { get; set; } = 1;

    public ushort QueueSize { get; set; } = 1024;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal FsConfig Copy() => (FsConfig)MemberwiseClone();
}
