using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream <c>RestoredNetConfig</c> (not in the OpenAPI): how many tap descriptors the restore request carries for net device id.</summary>
public sealed class RestoredNetConfig
{
    public required string Id { get; set; }

    public ulong NumFds { get; set; }

    /// <summary>The descriptors; numbers in JSON read as -1, the VMM fills in the received ones.</summary>
    [JsonConverter(typeof(UntrustedFdListConverter))]
    public List<int>? Fds { get; set; }
}
