using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>NumaDistance</c>; distance is a u8 in the code (contract §9 item 11).</summary>
public sealed class NumaDistance
{
    public required uint Destination { get; set; }

    public required byte Distance { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal NumaDistance Copy() => (NumaDistance)MemberwiseClone();
}
