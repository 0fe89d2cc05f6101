using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream <c>cpus.profile</c> (not in the OpenAPI, contract §9 item 8): always Host in upstream's default build.</summary>
[JsonConverter(typeof(RustEnumConverter<CpuProfile>))]
public enum CpuProfile
{
    Host,
}
