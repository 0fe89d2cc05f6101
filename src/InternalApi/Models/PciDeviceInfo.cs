using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>PciDeviceInfo</c>: the 200 answer of a hot add, e.g. <c>{"id":"_disk1","bdf":"0000:00:06.0"}</c>.</summary>
public sealed class PciDeviceInfo
{
    public required string Id { get; set; }

    /// <summary>Formatted <c>%04x:%02x:%02x.%x</c> (segment:bus:device.function).</summary>
    public required string Bdf { get; set; }
}
