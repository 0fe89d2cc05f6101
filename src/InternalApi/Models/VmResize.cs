using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmResize</c> (Rust <c>VmResizeData</c>): the body of vm.resize; every field optional.</summary>
public sealed class VmResize
{
    public uint? DesiredVcpus { get; set; }

    /// <summary>Desired RAM in bytes.</summary>
    public ulong? DesiredRam { get; set; }

    /// <summary>Desired balloon size in bytes.</summary>
    public ulong? DesiredBalloon { get; set; }
}
