using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>ReceiveMigrationData</c> (Rust <c>VmReceiveMigrationData</c>): the body of vm.receive-migration. vfio_fds and iommufd_fd are not in the OpenAPI.</summary>
public sealed class ReceiveMigrationData
{
    public required string ReceiverUrl { get; set; }

    /// <summary>TLS server material (server-cert.pem, server-key.pem, ca-cert.pem); tcp: URLs only.</summary>
    public string? TlsDir { get; set; }

    public MigrationMode MemoryMode { get; set; } = MigrationMode.Precopy;

    public List<VmMemoryZoneUpdateData>? ZoneUpdates { get; set; }

    public List<RestoredVfioConfig>? VfioFds { get; set; }

    [JsonConverter(typeof(UntrustedFdConverter))]
    public int? IommufdFd { get; set; }
}
