using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmmPingResponse</c>: all four fields are always written, in this order (contract §1.7).</summary>
public sealed class VmmPingResponse
{
    /// <summary><c>git describe</c> output or <c>v&lt;version&gt;</c>.</summary>
    public string BuildVersion { get; set; } = "";

    public required string Version { get; set; }

    public long Pid { get; set; }

    /// <summary>Compiled features in upstream's fixed order, e.g. <c>["io_uring","kvm"]</c>.</summary>
    public List<string> Features { get; set; } = [];
}
