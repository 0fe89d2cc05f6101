using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>TpmConfig</c>: a swtpm socket.</summary>
public sealed class TpmConfig
{
    public required string Socket { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal TpmConfig Copy() => (TpmConfig)MemberwiseClone();
}
