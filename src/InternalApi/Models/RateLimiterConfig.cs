using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>RateLimiterConfig</c>: independent bytes/s and ops/s token buckets.</summary>
public sealed class RateLimiterConfig
{
    public TokenBucket? Bandwidth { get; set; }

    public TokenBucket? Ops { get; set; }
}
