using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmResizeDisk</c>: the body of vm.resize-disk; both fields required (contract §9 item 10).</summary>
public sealed class VmResizeDisk
{
    public required string Id { get; set; }

    /// <summary>Desired disk size in bytes.</summary>
    public required ulong DesiredSize { get; set; }
}
