using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream <c>RestoredVfioConfig</c> (not in the OpenAPI): a VFIO device id whose cdev descriptor the request carries.</summary>
public sealed class RestoredVfioConfig
{
    public required string Id { get; set; }

    /// <summary>The descriptor; a number in JSON reads as -1, the VMM fills in the received one.</summary>
    [JsonConverter(typeof(UntrustedFdConverter))]
    public int? Fd { get; set; }
}
