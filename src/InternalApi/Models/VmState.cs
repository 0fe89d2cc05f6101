using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>VmState</c>: the <c>state</c> of vm.info (contract §2.1). <c>Shutdown</c> is never reported in practice.</summary>
[JsonConverter(typeof(RustEnumConverter<VmState>))]
public enum VmState
{
    Created,
    Running,
    Shutdown,
    Paused,
    BreakPoint,
}
