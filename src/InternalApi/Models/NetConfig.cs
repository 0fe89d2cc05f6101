using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>NetConfig</c>: a virtio-net device. ip, mask, mac and tap have no default (the OpenAPI defaults for ip and mask are stale, contract §9 item 9).</summary>
public sealed class NetConfig : IPciDeviceConfig
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

    public string? Tap { get; set; }

    public string? Ip { get; set; }

    public string? Mask { get; set; }

    public string? Mac { get; set; }

    public string? HostMac { get; set; }

    public ushort? Mtu { get; set; }

    public ulong NumQueues { get; set; } = 2;

    public ushort QueueSize { get; set; } = 256;

    public bool VhostUser { get; set; }

    public string? VhostSocket { get; set; }

    public VhostMode VhostMode { get; set; } = VhostMode.Client;

    /// <summary>
    /// Tap file descriptors (not in the OpenAPI). Numbers in JSON are never trusted: they read and
    /// write as -1; the VMM stores the real descriptors received with SCM_RIGHTS here.
    /// </summary>
    [JsonConverter(typeof(UntrustedFdListConverter))]
    public List<int>? Fds { get; set; }

    public RateLimiterConfig? RateLimiterConfig { get; set; }

    public bool OffloadTso { get; set; } = true;

    public bool OffloadUfo { get; set; } = true;

    public bool OffloadCsum { get; set; } = true;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal NetConfig Copy()
    {
        var copy = (NetConfig)MemberwiseClone();
        copy.Fds = Fds is null ? null : [.. Fds];
        copy.RateLimiterConfig = RateLimiterConfig?.Copy();
        return copy;
    }
}
