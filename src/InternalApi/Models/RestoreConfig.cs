using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RestoreConfig</c>: the body of vm.restore. net_fds, vfio_fds and iommufd_fd are not in the OpenAPI (contract §9 item 8); the descriptors arrive with SCM_RIGHTS in that order (contract §1.6).</summary>
public sealed class RestoreConfig
{
    public required string SourceUrl { get; set; }

    public bool Prefault { get; set; }

    public MemoryRestoreMode MemoryRestoreMode { get; set; } = MemoryRestoreMode.Copy;

    public List<RestoredNetConfig>? NetFds { get; set; }

    public List<RestoredVfioConfig>? VfioFds { get; set; }

    [JsonConverter(typeof(UntrustedFdConverter))]
    public int? IommufdFd { get; set; }

    public bool Resume { get; set; }

    public List<VmMemoryZoneUpdateData>? ZoneUpdates { get; set; }
}
