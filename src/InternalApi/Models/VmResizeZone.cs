using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmResizeZone</c>: the body of vm.resize-zone; both fields required (contract §9 item 10).</summary>
public sealed class VmResizeZone
{
    public required string Id { get; set; }

    /// <summary>Desired zone size in bytes.</summary>
    public required ulong DesiredRam { get; set; }
}
