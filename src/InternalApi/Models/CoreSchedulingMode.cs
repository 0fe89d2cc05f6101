using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>CoreSchedulingMode</c> (Rust <c>CoreScheduling</c>); default Vm.</summary>
[JsonConverter(typeof(RustEnumConverter<CoreSchedulingMode>))]
public enum CoreSchedulingMode
{
    Vm,
    Vcpu,
    Off,
}
