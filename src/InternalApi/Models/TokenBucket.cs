using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>TokenBucket</c>: size tokens, refilled every refill_time milliseconds, with an optional initial burst.</summary>
public sealed class TokenBucket
{
    public required ulong Size { get; set; }

    public ulong? OneTimeBurst { get; set; }

    public required ulong RefillTime { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal TokenBucket Copy() => (TokenBucket)MemberwiseClone();
}
