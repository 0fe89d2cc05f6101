namespace CloudHypervisor.InternalApi;

/// <summary>
/// One API action with its argument. Every command is a sealed record whose
/// <see cref="Dispatch"/> calls its own <see cref="IRequestHandler"/> method, so a command
/// without a handler does not compile (STYLE.md §6).
/// </summary>
public abstract record ApiCommand
{
    /// <summary>The catalog entry of this action (name, verb, error message).</summary>
    public abstract ApiAction Action { get; }

    /// <summary>
    /// The descriptors that came with the request (SCM_RIGHTS), already written into the body by
    /// <see cref="ApiAction.Parse(ReadOnlyMemory{byte}, PassedFds)"/>. The VMM keeps the ones its
    /// config refers to and closes the rest once the command is answered.
    /// </summary>
    public PassedFds Fds { get; init; } = PassedFds.None;

    /// <summary>Calls the handler method for this action.</summary>
    public abstract ValueTask<ApiResult> Dispatch(IRequestHandler handler);
}
