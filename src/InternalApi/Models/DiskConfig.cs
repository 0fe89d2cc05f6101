using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>DiskConfig</c>: a virtio-block disk (vm.add-disk, <c>disks[]</c>). Nothing is required; defaults per contract §3.2.</summary>
public sealed class DiskConfig : IPciDeviceConfig
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

    public string? Path { get; set; }

    public bool Readonly { get; set; }

    public bool Direct { get; set; }

    public ulong NumQueues { get; set; } = 1;

    public ushort QueueSize { get; set; } = 128;

    public bool VhostUser { get; set; }

    public string? VhostSocket { get; set; }

    public string? RateLimitGroup { get; set; }

    public RateLimiterConfig? RateLimiterConfig { get; set; }

    /// <summary>Upstream test knob, written by vm.info though absent from the OpenAPI (contract §9 item 8).</summary>
    public bool DisableIoUring { get; set; }

    /// <summary>Upstream test knob, written by vm.info though absent from the OpenAPI (contract §9 item 8).</summary>
    public bool DisableAio { get; set; }

    public string? Serial { get; set; }

    public List<VirtQueueAffinity>? QueueAffinity { get; set; }

    public bool BackingFiles { get; set; }

    public bool Sparse { get; set; } = true;

    public ImageType ImageType { get; set; } = ImageType.Unknown;

    public LockGranularity LockGranularity { get; set; } = LockGranularity.ByteRange;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal DiskConfig Copy()
    {
        var copy = (DiskConfig)MemberwiseClone();
        copy.RateLimiterConfig = RateLimiterConfig?.Copy();
        copy.QueueAffinity = VmConfig.CopyEach(QueueAffinity, q => q.Copy());
        return copy;
    }
}
