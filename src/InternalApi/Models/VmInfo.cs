using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmInfo</c> (Rust <c>VmInfoResponse</c>): the vm.info answer. memory_actual_size is always written; device_tree only while a VM object exists (contract §1.7).</summary>
public sealed class VmInfo
{
    public required VmConfig Config { get; set; }

    public required VmState State { get; set; }

    public ulong MemoryActualSize { get; set; }

    public Dictionary<string, DeviceNode>? DeviceTree { get; set; }
}
