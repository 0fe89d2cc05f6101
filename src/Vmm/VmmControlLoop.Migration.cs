using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Migration;

namespace CloudHypervisor.Vmm;

// vm.send-migration and vm.receive-migration (upstream-state.md §B). Both run as operations off
// the loop: vm.info, vm.counters and vmm.ping answer during them, every other command answers Busy
// naming the operation, and vmm.shutdown cancels them (the socket is shut down, the source VM runs
// on as before, the destination is left with no VM).
public sealed partial class VmmControlLoop
{
    ValueTask<ApiResult> IRequestHandler.VmReceiveMigration(VmReceiveMigrationCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var options = command.Config;
        try
        {
            var url = MigrationUrl.Parse(options.ReceiverUrl);
            if (options.TlsDir is not null)
            {
                return Answer(url.IsUnix
                    ? ApiError.For(action, ApiErrorKind.InvalidArgument, "TLS is only supported for tcp: URLs")
                    : Unsupported(action, "Receiving a migration over TLS"));
            }
        }
        catch (HypervisorException e)
        {
            return Answer(Failed(action, e));
        }

        if (options.MemoryMode == MigrationMode.Postcopy)
        {
            return Answer(Unsupported(action, "Post-copy migration"));
        }

        return new(RunOperation(action, action.Name, cancellation =>
        {
            var generation = Interlocked.Increment(ref _nextGeneration);
            var receiver = new MigrationReceiver(options, _events, _log,
                config => ValidateConfig(action, config, requirePayload: false),
                image => _hypervisor.RestoreVm(image, new GuestEventSink(this, generation), cancellation));
            ReceivedVm received;
            try
            {
                received = receiver.Run(cancellation);
            }
            catch (Exception e)
            {
                var cancelled = cancellation.IsCancellationRequested;
                _log.Warning("Receiving the migration failed: {Error}", cancelled ? "cancelled" : e.Message);
                Publish(Events.Vm.MigrationReceiveFailed);
                return () => cancelled ? Cancelled(action) : Failed(action, e);
            }

            Publish(Events.Vm.MigrationReceiveFinished);
            return () =>
            {
                _log.Information("Received a migrated VM from {Url}; it is {State}", options.ReceiverUrl, received.Running ? "running" : "paused");
                _config = received.Config;
                AssignDeviceIds(_config);
                AdoptVm(received.Vm, received.Running ? VmState.Running : VmState.Paused, generation);
                return ApiResult.Ok();
            };
        }, cancellable: true));
    }

    ValueTask<ApiResult> IRequestHandler.VmSendMigration(VmSendMigrationCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var options = command.Config;
        if (ValidateSend(action, options) is { } invalid)
        {
            return Answer(invalid);
        }

        var vm = _vm!;
        var config = CloneConfig(_config!);
        var wasRunning = _vmState == VmState.Running;
        // Upstream answers at once and migrates on a worker; so do we, as an operation.
        _ = RunOperation(action, action.Name, cancellation =>
        {
            Publish(Events.Vm.MigrationStarted);
            var sender = new MigrationSender(vm, config, options, _events, _log);
            MigrationSendResult result;
            try
            {
                result = sender.Run(wasRunning, cancellation);
            }
            catch (Exception e)
            {
                var cause = cancellation.IsCancellationRequested ? $"cancelled by {_cancelledBy ?? "the VMM"}" : Describe(e);
                _log.Error("Migration failed: {Error}", cause);
                vm.StopDirtyLog();
                ApiError? resumed = null;
                if (sender.PausedByMigration)
                {
                    Publish(Events.Vm.Resuming);
                    resumed = Try(ApiCatalog.VmResume, vm.Resume);
                    if (resumed is null)
                    {
                        Publish(Events.Vm.Resumed);
                    }
                }

                Publish(Events.Vm.MigrationFailed);
                return () => resumed ?? (cancellation.IsCancellationRequested ? Cancelled(action) : Failed(action, e));
            }

            _log.Information("Migration to {Url} finished in {Total} ms: {Iterations} pre-copy iterations, {Bytes} bytes of RAM sent, downtime {Downtime:F1} ms (last pause to the destination's Complete answer)",
                options.DestinationUrl, result.TotalMs, result.Iterations, result.BytesSent, result.DowntimeMs);
            Publish(Events.Vm.MigrationFinished);
            if (options.PreserveSource)
            {
                return () =>
                {
                    _vmState = VmState.Paused;
                    return ApiResult.Ok();
                };
            }

            // As upstream: the VM goes without vm/shutdown, then the VMM shuts down and exits.
            DisposeQuietly(vm);
            return () =>
            {
                DropVm();
                _ = ShutdownVmm(ApiCatalog.VmmShutdown, "migration");
                return ApiResult.Ok();
            };
        }, cancellable: true);
        return Answer(ApiResult.Ok());
    }

    private static string Describe(Exception e) =>
        e is HypervisorException hv && hv.Causes.Count > 0 ? $"{hv.Message}: {string.Join(": ", hv.Causes)}" : e.Message;

    /// <summary>upstream's <c>VmSendMigrationData::validate</c>, and what this VMM does not do yet.</summary>
    private ApiError? ValidateSend(ApiAction action, SendMigrationData options)
    {
        MigrationUrl url;
        try
        {
            url = MigrationUrl.Parse(options.DestinationUrl);
        }
        catch (HypervisorException e)
        {
            return Failed(action, e);
        }

        ApiError Invalid(string cause) => ApiError.For(action, ApiErrorKind.InvalidArgument, cause);
        if (url.IsUnix && options.Connections > 1)
        {
            return Invalid("Multiple connections are only supported for tcp: URLs");
        }

        if (url.IsUnix && options.TlsDir is not null)
        {
            return Invalid("TLS is only supported for tcp: URLs");
        }

        if (options.Local && !url.IsUnix)
        {
            return Invalid("Local migration is only supported over unix: URLs");
        }

        if (options.PreserveSource && !options.Local)
        {
            return Invalid("preserve_source is only supported with local migration");
        }

        if (options.MemoryMode == MigrationMode.Postcopy && (options.Local || options.Connections > 1))
        {
            return Invalid("Post-copy cannot be combined with local migration or multiple connections");
        }

        if (options.Connections > 128)
        {
            return Invalid("connections must be between 1 and 128");
        }

        if (options.MemoryMode == MigrationMode.Postcopy)
        {
            return Unsupported(action, "Post-copy migration");
        }

        if (options.Connections > 1)
        {
            return Unsupported(action, "Migration over more than one connection");
        }

        if (options.TlsDir is not null)
        {
            return Unsupported(action, "Migration over TLS");
        }

        if (options.Local && !_config!.Memory.Shared)
        {
            return ApiError.For(action, ApiErrorKind.InvalidArgument, "Local migration requires shared memory or hugepages enabled");
        }

        return null;
    }
}
