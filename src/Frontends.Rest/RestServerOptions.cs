namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Where the REST API listens (contract §6.1 <c>--api-socket path=|fd=</c>): exactly one of
/// <see cref="SocketPath"/> or <see cref="ListenFd"/>; <see cref="ListenFd"/> wins when both are set.
/// </summary>
public sealed record RestServerOptions
{
    /// <summary>Bind a new Unix socket here, guarded by <c>&lt;path&gt;.lock</c>.</summary>
    public string? SocketPath { get; init; }

    /// <summary>Serve an inherited, already listening Unix socket (systemd socket activation passes 3).</summary>
    public int? ListenFd { get; init; }

    /// <summary>Largest accepted request body; upstream's limit is 4 MiB.</summary>
    public long MaxRequestBodySize { get; init; } = 4L << 20;

    /// <summary>The <c>Retry-After</c> seconds sent with a Busy (429) answer.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>How long <see cref="RestServer.StopAsync"/> waits for in-flight requests.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
