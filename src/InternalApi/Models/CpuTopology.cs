using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>CpuTopology</c>; every part is required and must be non-zero.</summary>
public sealed class CpuTopology
{
    public required ushort ThreadsPerCore { get; set; }

    public required ushort CoresPerDie { get; set; }

    public required ushort DiesPerPackage { get; set; }

    public required ushort Packages { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal CpuTopology Copy() => (CpuTopology)MemberwiseClone();
}
