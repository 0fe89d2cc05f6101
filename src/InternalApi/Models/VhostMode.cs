using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream <c>net[].vhost_mode</c>; default Client.</summary>
[JsonConverter(typeof(RustEnumConverter<VhostMode>))]
public enum VhostMode
{
    Client,
    Server,
}
