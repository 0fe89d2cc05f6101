using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>LandlockConfig</c>: one extra Landlock rule (path and access such as "rw").</summary>
public sealed class LandlockConfig
{
    public required string Path { get; set; }

    public required string Access { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal LandlockConfig Copy() => (LandlockConfig)MemberwiseClone();
}
