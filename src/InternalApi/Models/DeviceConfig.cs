using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>DeviceConfig</c>: a VFIO device by sysfs path, or by a cdev descriptor passed with SCM_RIGHTS. <c>x_exclude_mmap_bars</c> is always written.</summary>
public sealed class DeviceConfig : IPciDeviceConfig
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

    /// <summary>The VFIO cdev descriptor. A number in JSON is never trusted (reads and writes as -1).</summary>
    [JsonConverter(typeof(UntrustedFdConverter))]
    public int? Fd { get; set; }

    public byte? XNvGpudirectClique { get; set; }

    public List<ulong> XExcludeMmapBars { get; set; } = [];

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal DeviceConfig Copy()
    {
        var copy = (DeviceConfig)MemberwiseClone();
        copy.XExcludeMmapBars = [.. XExcludeMmapBars];
        return copy;
    }
}
