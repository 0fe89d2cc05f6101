using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>MemoryConfig</c>. Required: size; the VmConfig default is 512 MiB with the defaults below (contract §3.1).</summary>
public sealed class MemoryConfig
{
    /// <summary>Guest RAM in bytes (besides zones).</summary>
    public required ulong Size { get; set; }

    public bool Mergeable { get; set; }

    public HotplugMethod HotplugMethod { get; set; } = HotplugMethod.Acpi;

    public ulong? HotplugSize { get; set; }

    public ulong? HotpluggedSize { get; set; }

    public bool Shared { get; set; }

    public bool Hugepages { get; set; }

    public ulong? HugepageSize { get; set; }

    public bool Prefault { get; set; }

    public bool Reserve { get; set; }

    public List<MemoryZoneConfig>? Zones { get; set; }

    public bool Thp { get; set; } = true;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal MemoryConfig Copy()
    {
        var copy = (MemoryConfig)MemberwiseClone();
        copy.Zones = VmConfig.CopyEach(Zones, z => z.Copy());
        return copy;
    }
}
