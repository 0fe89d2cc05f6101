using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>CpusConfig</c>. Required: boot_vcpus, max_vcpus; the VmConfig default is 1/1 with the defaults below (contract §3.1).</summary>
public sealed class CpusConfig
{
    public required uint BootVcpus { get; set; }

    public required uint MaxVcpus { get; set; }

    public CpuTopology? Topology { get; set; }

    public bool KvmHyperv { get; set; }

    public byte MaxPhysBits { get; set; } = 46;

    public List<CpuAffinity>? Affinity { get; set; }

    public CpuFeatures Features { get; set; } = new();

    public bool Nested { get; set; } = true;

    public CoreSchedulingMode CoreScheduling { get; set; } = CoreSchedulingMode.Vm;

    /// <summary>Not in the OpenAPI (contract §9 item 8); always Host upstream.</summary>
    public CpuProfile Profile { get; set; } = CpuProfile.Host;

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal CpusConfig Copy()
    {
        var copy = (CpusConfig)MemberwiseClone();
        copy.Topology = Topology?.Copy();
        copy.Affinity = VmConfig.CopyEach(Affinity, a => a.Copy());
        copy.Features = Features.Copy();
        return copy;
    }
}
