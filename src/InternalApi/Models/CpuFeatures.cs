using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>CpuFeatures</c>; on x86_64 always written as <c>{"amx":false}</c> by default.</summary>
public sealed class CpuFeatures
{
    public bool Amx { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal CpuFeatures Copy() => (CpuFeatures)MemberwiseClone();
}
