using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>TimeoutStrategy</c> of vm.send-migration; default Cancel.</summary>
[JsonConverter(typeof(RustEnumConverter<TimeoutStrategy>))]
public enum TimeoutStrategy
{
    Cancel,
    Ignore,
}
