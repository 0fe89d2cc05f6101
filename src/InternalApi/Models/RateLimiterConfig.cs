using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RateLimiterConfig</c>: independent bytes/s and ops/s token buckets.</summary>
public sealed class RateLimiterConfig
{
    public TokenBucket? Bandwidth { get; set; }

    public TokenBucket? Ops { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal RateLimiterConfig Copy()
    {
        var copy = (RateLimiterConfig)MemberwiseClone();
        copy.Bandwidth = Bandwidth?.Copy();
        copy.Ops = Ops?.Copy();
        return copy;
    }
}
