using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>CpuAffinity</c>: pins one vCPU to host CPUs.</summary>
public sealed class CpuAffinity
{
    public required uint Vcpu { get; set; }

    public required List<ulong> HostCpus { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal CpuAffinity Copy()
    {
        var copy = (CpuAffinity)MemberwiseClone();
        copy.HostCpus = [.. HostCpus];
        return copy;
    }
}
