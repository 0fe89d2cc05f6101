using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RateLimitGroupConfig</c> (Rust <c>RateLimiterGroupConfig</c>): a limiter shared by the disks naming it in rate_limit_group.</summary>
public sealed class RateLimitGroupConfig
{
    public required string Id { get; set; }

    public required RateLimiterConfig RateLimiterConfig { get; set; }

    /// <summary>For <see cref="VmConfig.Clone"/>: each list or object member gets its own copy.</summary>
    internal RateLimitGroupConfig Copy()
    {
        var copy = (RateLimitGroupConfig)MemberwiseClone();
        copy.RateLimiterConfig = RateLimiterConfig.Copy();
        return copy;
    }
}
