using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmCoredumpData</c>: the body of vm.coredump (GUEST_DEBUG builds only).</summary>
public sealed class VmCoredumpData
{
    public required string DestinationUrl { get; set; }
}
