using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>DeviceNode</c>: one entry of vm.info device_tree. parent (not in the OpenAPI) and pci_bdf are omitted when null.</summary>
public sealed class DeviceNode
{
    public required string Id { get; set; }

    /// <summary>Externally tagged Rust enums, e.g. <c>{"LegacyIrq":5}</c> or <c>{"MmioAddressRange":{"base":..,"size":..}}</c>.</summary>
    public List<System.Text.Json.JsonElement> Resources { get; set; } = [];

    public string? Parent { get; set; }

    public List<string> Children { get; set; } = [];

    public string? PciBdf { get; set; }
}
