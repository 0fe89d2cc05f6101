using CloudHypervisor.InternalApi;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>One answer from the VMM, transport-neutral.</summary>
internal sealed record CallResult(bool Success, string? Body, ApiErrorKind? Kind, IReadOnlyList<string> Chain)
{
    public static CallResult Ok(string? body) => new(true, body, null, []);
}

/// <summary>A failure below the API: the VMM was not reachable or did not answer.</summary>
internal sealed class TransportException(int exitCode, IReadOnlyList<string> chain)
    : Exception(string.Join(": ", chain))
{
    public int ExitCode { get; } = exitCode;
    public IReadOnlyList<string> Chain { get; } = chain;
}

/// <summary>How ch-remote talks to the VMM: REST on the API socket, or D-Bus.</summary>
internal interface IChTransport : IAsyncDisposable
{
    /// <summary>A name for the first line of an error chain, as upstream ("http client error").</summary>
    string ErrorHeading { get; }

    /// <summary>
    /// Sends one action. <paramref name="fds"/>: descriptors of this process to pass with it
    /// (SCM_RIGHTS on the REST socket; D-Bus refuses them).
    /// </summary>
    Task<CallResult> CallAsync(ApiAction action, string? body, IReadOnlyList<int> fds, CancellationToken cancellationToken);

    /// <summary>
    /// Event records as compact JSON lines. <paramref name="since"/>: replay from that seq (REST
    /// only). <paramref name="follow"/>: keep reading new events; otherwise end after the
    /// buffered ones.
    /// </summary>
    IAsyncEnumerable<string> EventsAsync(long? since, bool follow, CancellationToken cancellationToken);
}
