using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmRemoveDevice</c>: the body of vm.remove-device; id required.</summary>
public sealed class VmRemoveDevice
{
    public required string Id { get; set; }
}
