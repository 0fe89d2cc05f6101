using System.Threading.Channels;

namespace CloudHypervisor.InternalApi;

/// <summary>Where a request came from; for logs and journald fields only.</summary>
public enum ApiOrigin
{
    Rest,
    DBus,
    Cli,
    Internal,
}

/// <summary>One command in flight with the place its single answer goes.</summary>
public sealed class ApiRequest(ApiCommand command, ApiOrigin origin)
{
    private readonly TaskCompletionSource<ApiResult> _reply =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ApiCommand Command { get; } = command;
    public ApiOrigin Origin { get; } = origin;

    /// <summary>Completes when the control loop has answered.</summary>
    public Task<ApiResult> Reply => _reply.Task;

    /// <summary>Answers the request. Only the first answer counts; a second is a bug and returns false.</summary>
    public bool Answer(ApiResult result) => _reply.TrySetResult(result);
}

/// <summary>What a frontend needs: send a command, await its one answer.</summary>
public interface IApiSender
{
    Task<ApiResult> SendAsync(ApiCommand command, ApiOrigin origin, CancellationToken cancellationToken = default);
}

/// <summary>
/// The control-loop channel (DESIGN.md rule 2): many writers (REST, D-Bus, CLI, guest events),
/// exactly one reader, the Vmm control loop.
/// </summary>
public sealed class ApiChannel : IApiSender
{
    private readonly Channel<ApiRequest> _channel = Channel.CreateUnbounded<ApiRequest>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    /// <summary>The single consumer's end.</summary>
    public ChannelReader<ApiRequest> Reader => _channel.Reader;

    public async Task<ApiResult> SendAsync(ApiCommand command, ApiOrigin origin, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var request = new ApiRequest(command, origin);
        if (!_channel.Writer.TryWrite(request))
        {
            return ApiError.For(command.Action, ApiErrorKind.Internal, "The VMM is shutting down");
        }

        return await request.Reply.WaitAsync(cancellationToken);
    }

    /// <summary>No more commands are accepted; pending ones still reach the loop.</summary>
    public void Complete() => _channel.Writer.TryComplete();
}
