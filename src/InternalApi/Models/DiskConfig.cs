namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream OpenAPI schema <c>DiskConfig</c>. Placeholder until the models land (issue 2).</summary>
public sealed class DiskConfig;
