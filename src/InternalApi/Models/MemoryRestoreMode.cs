using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>MemoryRestoreMode</c> of vm.restore; default Copy.</summary>
[JsonConverter(typeof(RustEnumConverter<MemoryRestoreMode>))]
public enum MemoryRestoreMode
{
    Copy,
    OnDemand,
}
