using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>MemoryZoneConfig</c>: one guest memory zone. Required: id, size.</summary>
public sealed class MemoryZoneConfig
{
    public required string Id { get; set; }

    public required ulong Size { get; set; }

    public string? File { get; set; }

    public bool Shared { get; set; }

    public bool Hugepages { get; set; }

    public ulong? HugepageSize { get; set; }

    public uint? HostNumaNode { get; set; }

    public ulong? HotplugSize { get; set; }

    public ulong? HotpluggedSize { get; set; }

    public bool Prefault { get; set; }

    public bool Reserve { get; set; }

    public bool Mergeable { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal MemoryZoneConfig Copy() => (MemoryZoneConfig)MemberwiseClone();
}
