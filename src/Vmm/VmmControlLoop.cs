using System.Collections.Concurrent;
using System.Threading.Channels;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Hypervisor;
using Microsoft.Win32.SafeHandles;
using ILogger = Serilog.ILogger;

namespace CloudHypervisor.Vmm;

/// <summary>
/// The VMM control loop (DESIGN.md rules 2 and 3). Threading model: one long-running task owns
/// every piece of VM state (the stored config, the VM object and its state, the operation in
/// progress) and is the only code that mutates it. It takes messages from one inbox: API requests
/// (forwarded in FIFO order from <see cref="ApiChannel.Reader"/>, of which this class is the single
/// reader), completions of long operations, guest exits and shutdown requests. Long work (boot,
/// reboot, shutdown, pause, resume) runs on one worker thread as an "operation"; its result comes back
/// through the inbox and is applied by the loop. While an operation runs, vmm.ping, vm.info and
/// vm.counters answer at once, vmm.shutdown and guest exits wait for it, and every other command
/// answers Busy naming the operation. Every request is answered exactly once; an exception never
/// crosses the channel, it becomes an Internal error and the loop keeps running.
/// </summary>
/// <remarks>
/// Use: construct with the shared <see cref="ApiChannel"/>, start <see cref="RunAsync"/>, and call
/// <see cref="RequestShutdown"/> on SIGTERM/SIGINT. <see cref="RunAsync"/> returns the process exit
/// code once vmm.shutdown (API, signal, or guest poweroff without NoShutdown) has been handled; by
/// then the channel is completed and every request left in it has been answered.
/// </remarks>
public sealed partial class VmmControlLoop : IRequestHandler
{
    private readonly ApiChannel _channel;
    private readonly IEventPublisher _events;
    private readonly IHypervisor _hypervisor;
    private readonly ILogger _log;
    private readonly VmmOptions _options;
    private readonly Channel<LoopMessage> _inbox =
        Channel.CreateUnbounded<LoopMessage>(new UnboundedChannelOptions { SingleReader = true });

    // Loop-owned state: read and written only on the loop.
    // Operations run one at a time, so one long-lived thread runs them all: no thread start per
    // pause or resume, and blocking backend calls never occupy the thread pool.
    private readonly BlockingCollection<Action> _worker = [];
    private readonly List<LoopMessage> _deferred = [];
    private readonly Dictionary<ApiRequest, Task> _pendingAnswers = [];
    // Descriptors passed with requests (SCM_RIGHTS), kept while the stored config refers to them.
    private readonly Dictionary<int, SafeFileHandle> _keptFds = [];
    private string? _operation;
    // The operation in progress, when it can be cancelled (boot, reboot): vm.delete and
    // vmm.shutdown cancel it instead of waiting for a boot that may take long or never end.
    private CancellationTokenSource? _operationCancel;
    private string? _cancelledBy;
    private TaskCompletionSource<ApiResult>? _operationDone;
    private ApiAction? _operationAction;
    private long _operationId;
    private int? _exitCode;
    private int _started;

    /// <summary>Creates the loop; nothing runs until <see cref="RunAsync"/>.</summary>
    /// <param name="channel">The control-loop channel every frontend sends to.</param>
    /// <param name="events">Where lifecycle events go (the event monitor).</param>
    /// <param name="hypervisor">The backend that builds VMs (KVM in the product).</param>
    /// <param name="logger">Serilog logger for this component.</param>
    /// <param name="options">NoShutdown, version strings and the feature list for vmm.ping.</param>
    public VmmControlLoop(ApiChannel channel, IEventPublisher events, IHypervisor hypervisor, ILogger logger, VmmOptions options)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(hypervisor);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(options);
        _channel = channel;
        _events = events;
        _hypervisor = hypervisor;
        _log = logger.ForContext<VmmControlLoop>();
        _options = options;
    }

    /// <summary>
    /// Runs the loop until vmm.shutdown has been handled and returns the exit code (0). Cancelling
    /// <paramref name="cancellationToken"/> stops the loop at once without a graceful shutdown
    /// (the VM object, if any, is disposed) and throws <see cref="OperationCanceledException"/>.
    /// May be called once.
    /// </summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The control loop is already running.");
        }

        var worker = new Thread(RunOperations) { IsBackground = true, Name = "vmm-operations" };
        worker.Start();
        using var stopPump = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pump = PumpAsync(stopPump.Token);
        try
        {
            while (_exitCode is null)
            {
                var message = await _inbox.Reader.ReadAsync(cancellationToken);
                Handle(message);
            }
        }
        finally
        {
            if (_exitCode is null)
            {
                // Cancelled: no graceful shutdown, but do not leak the VM's threads and memory.
                DisposeVmQuietly();
            }

            foreach (var handle in _keptFds.Values)
            {
                handle.Dispose();
            }

            _keptFds.Clear();

            // No new commands; the ones already sent still get exactly one answer.
            _channel.Complete();
            _worker.CompleteAdding();
            if (cancellationToken.IsCancellationRequested)
            {
                await stopPump.CancelAsync();
            }

            await pump;
            while (_inbox.Reader.TryRead(out var left))
            {
                _deferred.Add(left);
            }

            foreach (var left in _deferred)
            {
                // Only vmm.shutdown requests wait in _deferred: the VMM is now shutting down as asked.
                left.Request?.Answer(left.Request.Command is VmmShutdownCommand && _exitCode is not null
                    ? ApiResult.Ok()
                    : ShuttingDown(left.Request.Command.Action));
            }

            if (_exitCode is null)
            {
                // Cancelled with an operation in flight: its answer may never come.
                foreach (var request in _pendingAnswers.Keys)
                {
                    request.Answer(ShuttingDown(request.Command.Action));
                }
            }
            else
            {
                await Task.WhenAll(_pendingAnswers.Values);
            }
        }

        _log.Information("Control loop ended with exit code {ExitCode}", _exitCode.Value);
        return _exitCode.Value;
    }

    /// <summary>
    /// Asks the loop for vmm.shutdown semantics (SIGTERM/SIGINT): the VM is deleted, vmm/shutdown
    /// is emitted and <see cref="RunAsync"/> returns 0. Thread-safe; never blocks.
    /// </summary>
    public void RequestShutdown() => Post(() => _ = ShutdownVmm(ApiCatalog.VmmShutdown, "signal"));

    private async Task PumpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var request in _channel.Reader.ReadAllAsync(cancellationToken))
            {
                if (!_inbox.Writer.TryWrite(new LoopMessage(request, null)))
                {
                    request.Answer(ShuttingDown(request.Command.Action));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            while (_channel.Reader.TryRead(out var request))
            {
                request.Answer(ShuttingDown(request.Command.Action));
            }
        }
    }

    private void RunOperations()
    {
        // Each item catches its own exceptions (see RunOperation).
        foreach (var operation in _worker.GetConsumingEnumerable())
        {
            operation();
        }
    }

    /// <summary>Runs <paramref name="work"/> on the loop. Thread-safe.</summary>
    private void Post(Action work) => _inbox.Writer.TryWrite(new LoopMessage(null, work));

    private void Handle(LoopMessage message)
    {
        if (message.Request is { } request)
        {
            Keep(request.Command.Fds);
            HandleRequest(request);
        }
        else
        {
            try
            {
                message.Work!();
            }
            catch (Exception e)
            {
                _log.Error(e, "Unexpected failure in the control loop");
            }
        }

        CloseUnreferencedFds();
    }

    /// <summary>Takes a request's descriptors; <see cref="CloseUnreferencedFds"/> closes those the config did not keep.</summary>
    private void Keep(PassedFds fds)
    {
        foreach (var handle in fds.Release())
        {
            _keptFds[(int)handle.DangerousGetHandle()] = handle;
        }
    }

    /// <summary>
    /// The one rule for passed descriptors: the VMM holds one exactly as long as the stored config
    /// refers to it. So a refused add-net closes its taps at once, and remove-device, vm.delete or
    /// a replaced config close theirs.
    /// </summary>
    private void CloseUnreferencedFds()
    {
        if (_keptFds.Count == 0)
        {
            return;
        }

        var referenced = _config?.FileDescriptors().ToHashSet() ?? [];
        foreach (var fd in _keptFds.Keys.Where(fd => !referenced.Contains(fd)).ToList())
        {
            _keptFds.Remove(fd, out var handle);
            handle!.Dispose();
            _log.Debug("Closed passed file descriptor {Fd}: the VM config no longer refers to it", fd);
        }
    }

    private void HandleRequest(ApiRequest request)
    {
        var action = request.Command.Action;
        try
        {
            if (_operation is { } operation && !Preconditions.RunsDuringOperation(action))
            {
                if (request.Command is VmmShutdownCommand)
                {
                    // vmm.shutdown must not be refused (the VMM exits even on error): it runs as
                    // soon as the operation in progress completes, which it cancels if it can.
                    CancelOperation(action);
                    _ = GiveUpOperationAfterGraceAsync(_operationId);
                    _deferred.Add(new LoopMessage(request, null));
                    return;
                }

                if (request.Command is VmDeleteCommand && _operationCancel is not null)
                {
                    // A boot that cannot finish (a huge payload, a stuck device) would otherwise
                    // make vm.delete answer Busy for as long as it lasts.
                    CancelOperation(action);
                    _deferred.Add(new LoopMessage(request, null));
                    return;
                }

                request.Answer(Preconditions.Busy(action, operation));
                return;
            }

            var reply = request.Command.Dispatch(this);
            if (reply.IsCompleted)
            {
                request.Answer(reply.Result);
                return;
            }

            var answering = AnswerWhenDone(request, reply);
            _pendingAnswers.Add(request, answering);
            _ = answering.ContinueWith(
                _ => Post(() => _pendingAnswers.Remove(request)),
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        catch (Exception e)
        {
            request.Answer(Unexpected(action, e));
        }
    }

    private async Task AnswerWhenDone(ApiRequest request, ValueTask<ApiResult> reply)
    {
        try
        {
            request.Answer(await reply);
        }
        catch (Exception e)
        {
            request.Answer(Unexpected(request.Command.Action, e));
        }
    }

    private static ApiError ShuttingDown(ApiAction action) =>
        ApiError.For(action, ApiErrorKind.Internal, "The VMM is shutting down");

    private ApiError Unexpected(ApiAction action, Exception e)
    {
        _log.Error(e, "Unexpected failure handling {Action}", action.Name);
        return ApiError.For(action, ApiErrorKind.Internal, e.Message);
    }

    /// <summary>
    /// Starts long work off the loop. <paramref name="offLoop"/> runs on the worker thread and returns
    /// what to do back on the loop, which produces the answer. Only one operation runs at a time.
    /// </summary>
    private Task<ApiResult> RunOperation(ApiAction action, string name, Func<Func<ApiResult>> offLoop) =>
        RunOperation(action, name, _ => offLoop(), cancellable: false);

    /// <summary>
    /// <see cref="RunOperation(ApiAction, string, Func{Func{ApiResult}})"/> whose work gets a token
    /// that vm.delete and vmm.shutdown cancel when <paramref name="cancellable"/>.
    /// </summary>
    private Task<ApiResult> RunOperation(ApiAction action, string name, Func<CancellationToken, Func<ApiResult>> offLoop, bool cancellable)
    {
        if (_operation is { } running)
        {
            // A guest exit or deferred request started while another operation runs is a bug in
            // this class; answer rather than run two operations on one VM.
            return Task.FromResult<ApiResult>(Preconditions.Busy(action, running));
        }

        _operation = name;
        _operationAction = action;
        _cancelledBy = null;
        var cancel = cancellable ? new CancellationTokenSource() : null;
        _operationCancel = cancel;
        var token = cancel?.Token ?? CancellationToken.None;
        var id = ++_operationId;
        var done = new TaskCompletionSource<ApiResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _operationDone = done;
        _worker.Add(() =>
        {
            Func<ApiResult> onLoop;
            try
            {
                onLoop = offLoop(token);
            }
            catch (Exception e)
            {
                onLoop = () => Unexpected(action, e);
            }

            Post(() => CompleteOperation(id, action, onLoop, done));
        });
        return done.Task;
    }

    /// <summary>Asks the operation in progress to stop, if it can; <paramref name="by"/> is named in its answer.</summary>
    private void CancelOperation(ApiAction by)
    {
        if (_operationCancel is not { IsCancellationRequested: false } cancel)
        {
            return;
        }

        _log.Information("Cancelling {Operation} for {Action}", _operation, by.Name);
        _cancelledBy = by.Name;
        cancel.Cancel();
    }

    /// <summary>The answer of an operation that stopped because <see cref="CancelOperation"/> asked it to.</summary>
    private ApiError Cancelled(ApiAction action) =>
        ApiError.For(action, ApiErrorKind.InvalidState, $"{action.Name} was cancelled by {_cancelledBy ?? "the VMM"}");

    /// <summary>
    /// vmm.shutdown waits for the operation it cancelled, but not for ever: an operation that
    /// does not stop within the grace (a read stuck in the kernel) is answered as shut down and
    /// given up, so the VMM still exits, as SIGTERM and vmm.shutdown promise.
    /// </summary>
    private async Task GiveUpOperationAfterGraceAsync(long id)
    {
        await Task.Delay(_options.OperationCancelGrace);
        Post(() =>
        {
            if (_operationId != id || _operation is null || _exitCode is not null)
            {
                return;
            }

            _log.Warning("{Operation} did not stop within {Grace} of being cancelled; the VMM shuts down without it", _operation, _options.OperationCancelGrace);
            var done = _operationDone!;
            var action = _operationAction!;
            EndOperation();
            // The operation may still own the VM (a reboot); nothing can run on the worker it
            // occupies, so the shutdown goes on without the VM object.
            DropVm();
            done.TrySetResult(ShuttingDown(action));
            RunDeferred();
        });
    }

    private void EndOperation()
    {
        _operation = null;
        _operationAction = null;
        _operationDone = null;
        _operationCancel?.Dispose();
        _operationCancel = null;
        _operationId++;
    }

    private void CompleteOperation(long id, ApiAction action, Func<ApiResult> onLoop, TaskCompletionSource<ApiResult> done)
    {
        if (id != _operationId)
        {
            // Given up at shutdown (GiveUpOperationAfterGraceAsync): already answered.
            return;
        }

        EndOperation();
        ApiResult result;
        try
        {
            result = onLoop();
        }
        catch (Exception e)
        {
            result = Unexpected(action, e);
        }

        done.SetResult(result);
        RunDeferred();
    }

    private void RunDeferred()
    {
        while (_operation is null && _exitCode is null && _deferred.Count > 0)
        {
            var next = _deferred[0];
            _deferred.RemoveAt(0);
            Handle(next);
        }
    }

    private readonly record struct LoopMessage(ApiRequest? Request, Action? Work);
}
