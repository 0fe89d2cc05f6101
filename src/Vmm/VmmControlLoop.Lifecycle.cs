using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Vmm;

// The lifecycle actions (contract §2.3) and guest-driven transitions (§2.4). Events are emitted in
// upstream's order, including its quirks: vm/booting before the config check, vm/rebooting before
// any check, vm/pausing and vm/resuming also when the transition is then refused.
public sealed partial class VmmControlLoop
{
    private VmConfig? _config;
    private IGuestVm? _vm;
    private VmState _vmState;
    private long _vmGeneration;
    private long _nextGeneration;
    private Dictionary<string, DeviceNode>? _deviceTree;

    /// <summary>The phase every precondition is looked up with.</summary>
    private VmmPhase Phase => (_config, _vm) switch
    {
        (null, _) => VmmPhase.NoConfig,
        (_, null) => VmmPhase.Created,
        _ => _vmState switch
        {
            VmState.Running => VmmPhase.Running,
            VmState.Paused => VmmPhase.Paused,
            _ => VmmPhase.BootFailed,
        },
    };

    ValueTask<ApiResult> IRequestHandler.VmCreate(VmCreateCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var config = CloneConfig(command.Config);
        if (ValidateConfig(action, config, requirePayload: false) is { } invalid)
        {
            return Answer(invalid);
        }

        // Upstream keeps the config even when console setup then fails (contract §2.3).
        _config = config;
        try
        {
            _hypervisor.PrepareConsoles(config);
        }
        catch (Exception e) when (e is HypervisorException or IOException or UnauthorizedAccessException)
        {
            return Answer(Failed(action, e));
        }

        return Answer(config.LandlockEnable || _options.Landlock ? ApplyLandlock(action, config) : ApiResult.Ok());
    }

    ValueTask<ApiResult> IRequestHandler.VmBoot(VmBootCommand command)
    {
        var action = command.Action;
        var phase = Phase;
        if (phase is VmmPhase.NoConfig or VmmPhase.Created)
        {
            Publish(Events.Vm.Booting);
        }

        if (Preconditions.Check(action, phase) is { } refused)
        {
            return Answer(refused);
        }

        if (ValidateConfig(action, _config!, requirePayload: true) is { } invalid)
        {
            return Answer(invalid);
        }

        var unassigned = CloneConfig(_config!);
        AssignDeviceIds(_config!);
        var config = CloneConfig(_config!);
        return new(RunOperation(action, action.Name, cancellation =>
        {
            var built = BuildAndBoot(action, config, cancellation);
            return () =>
            {
                if (built.Cancelled)
                {
                    return Cancelled(action);
                }

                if (built.Vm is not null)
                {
                    AdoptVm(built.Vm, built.Error is null ? VmState.Running : VmState.Created, built.Generation);
                }
                else
                {
                    // Nothing was built (a refused or missing device): the config is left as it was given.
                    _config = unassigned;
                    _deviceIds = null;
                }

                if (built.Error is { } error)
                {
                    return error;
                }

                Publish(Events.Vm.Booted);
                return ApiResult.Ok();
            };
        }, cancellable: true));
    }

    ValueTask<ApiResult> IRequestHandler.VmShutdown(VmShutdownCommand command) => new(ShutdownVm(command.Action, "api"));

    ValueTask<ApiResult> IRequestHandler.VmReboot(VmRebootCommand command) => new(RebootVm(command.Action, "api"));

    ValueTask<ApiResult> IRequestHandler.VmPause(VmPauseCommand command)
    {
        var action = command.Action;
        var phase = Phase;
        if (_vm is not null)
        {
            Publish(Events.Vm.Pausing);
        }

        if (Preconditions.Check(action, phase) is { } refused)
        {
            return Answer(refused);
        }

        var vm = _vm!;
        return new(RunOperation(action, action.Name, () =>
        {
            var error = Try(action, vm.Pause);
            return () =>
            {
                if (error is not null)
                {
                    return error;
                }

                _vmState = VmState.Paused;
                Publish(Events.Vm.Paused);
                return ApiResult.Ok();
            };
        }));
    }

    ValueTask<ApiResult> IRequestHandler.VmResume(VmResumeCommand command)
    {
        var action = command.Action;
        var phase = Phase;
        if (_vm is not null)
        {
            Publish(Events.Vm.Resuming);
        }

        if (Preconditions.Check(action, phase) is { } refused)
        {
            return Answer(refused);
        }

        var vm = _vm!;
        return new(RunOperation(action, action.Name, () =>
        {
            var error = Try(action, vm.Resume);
            return () =>
            {
                if (error is not null)
                {
                    return error;
                }

                _vmState = VmState.Running;
                Publish(Events.Vm.Resumed);
                return ApiResult.Ok();
            };
        }));
    }

    ValueTask<ApiResult> IRequestHandler.VmPowerButton(VmPowerButtonCommand command) =>
        Signal(command.Action, static vm => vm.PowerButton());

    ValueTask<ApiResult> IRequestHandler.VmNmi(VmNmiCommand command) =>
        Signal(command.Action, static vm => vm.Nmi());

    ValueTask<ApiResult> IRequestHandler.VmDelete(VmDeleteCommand command) => new(DeleteVm(command.Action, "api"));

    ValueTask<ApiResult> IRequestHandler.VmmShutdown(VmmShutdownCommand command) => new(ShutdownVmm(command.Action, "api"));

    /// <summary>vmm.shutdown: vm.delete, then vmm/shutdown and the loop ends with 0, even when the delete failed.</summary>
    private Task<ApiResult> ShutdownVmm(ApiAction action, string origin)
    {
        if (_exitCode is not null)
        {
            return Done(ApiResult.Ok());
        }

        if (_operation is not null)
        {
            // A signal during an operation: run once it completes, as a deferred vmm.shutdown
            // would, and do not wait for ever for a boot that cannot finish.
            CancelOperation(action);
            _ = GiveUpOperationAfterGraceAsync(_operationId);
            _deferred.Add(new LoopMessage(null, () => _ = ShutdownVmm(action, origin)));
            return Done(ApiResult.Ok());
        }

        _log.Information("VMM shutdown requested ({Origin})", origin);
        return DeleteVm(action, origin, deleted =>
        {
            Publish(Events.Vmm.Shutdown);
            _exitCode = 0;
            return deleted;
        });
    }

    /// <summary>vm.delete: shuts a VM object down first, then clears the config; no config is a no-op.</summary>
    private Task<ApiResult> DeleteVm(ApiAction action, string origin, Func<ApiResult, ApiResult>? then = null)
    {
        then ??= Same;
        if (_config is null)
        {
            return Done(then(ApiResult.Ok()));
        }

        ApiResult ClearConfig(ApiResult shutdown)
        {
            if (!shutdown.IsSuccess)
            {
                return then(shutdown);
            }

            _config = null;
            _hypervisor.ReleaseConsoles();
            Publish(Events.Vm.Deleted);
            return then(ApiResult.Ok());
        }

        return _vm is null ? Done(ClearConfig(ApiResult.Ok())) : ShutdownVm(action, origin, ClearConfig);
    }

    /// <summary>vm.shutdown: stops and drops the VM object; the config stays ("Created").</summary>
    private Task<ApiResult> ShutdownVm(ApiAction action, string origin, Func<ApiResult, ApiResult>? then = null)
    {
        then ??= Same;
        if (Preconditions.Check(ApiCatalog.VmShutdown, Phase) is { } refused)
        {
            return Done(then(ApiError.For(action, refused.Kind, [.. refused.Causes])));
        }

        _log.Information("Shutting the VM down ({Origin})", origin);
        var vm = _vm!;
        return RunOperation(action, action.Name, () =>
        {
            var error = Try(action, vm.Shutdown);
            DisposeQuietly(vm);
            return () =>
            {
                // The VM object is dropped even when its shutdown failed: it cannot run again.
                DropVm();
                if (error is not null)
                {
                    return then(error);
                }

                Publish(Events.Vm.Shutdown);
                return then(ApiResult.Ok());
            };
        });
    }

    /// <summary>vm.reboot: shuts the VM down and boots a new one from the same config.</summary>
    private Task<ApiResult> RebootVm(ApiAction action, string origin, Func<ApiResult, ApiResult>? then = null)
    {
        then ??= Same;
        Publish(Events.Vm.Rebooting);
        if (Preconditions.Check(ApiCatalog.VmReboot, Phase) is { } refused)
        {
            return Done(then(ApiError.For(action, refused.Kind, [.. refused.Causes])));
        }

        _log.Information("Rebooting the VM ({Origin})", origin);
        var old = _vm!;
        var config = CloneConfig(_config!);
        // Not cancellable: the old VM is gone once the new one is being built, and a reboot
        // reads the payload that booted already.
        return RunOperation(action, action.Name, () =>
        {
            var stopped = Try(action, old.Shutdown);
            DisposeQuietly(old);
            var built = stopped is null ? BuildAndBoot(action, config, CancellationToken.None) : default;
            return () =>
            {
                DropVm();
                if (stopped is not null)
                {
                    return then(stopped);
                }

                if (built.Vm is not null)
                {
                    AdoptVm(built.Vm, built.Error is null ? VmState.Running : VmState.Created, built.Generation);
                }

                if (built.Error is { } error)
                {
                    return then(error);
                }

                Publish(Events.Vm.Rebooted);
                return then(ApiResult.Ok());
            };
        });
    }

    private ValueTask<ApiResult> Signal(ApiAction action, Action<IGuestVm> signal)
    {
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        // Injecting an interrupt only queues it for the vCPUs; it does not wait for the guest.
        var vm = _vm!;
        return Answer(Try(action, () => signal(vm)) ?? ApiResult.Ok());
    }

    /// <summary>Called on the loop for a guest exit reported by VM <paramref name="generation"/>.</summary>
    private void OnGuestExit(long generation, GuestExit exit)
    {
        if (_exitCode is not null)
        {
            return;
        }

        if (_operation is not null)
        {
            _deferred.Add(new LoopMessage(null, () => OnGuestExit(generation, exit)));
            return;
        }

        if (_vm is null || generation != _vmGeneration)
        {
            // The VM that exited has already been shut down or replaced.
            _log.Debug("Ignoring a guest exit ({Kind}) of a VM that is gone", exit.Kind.ToString());
            return;
        }

        switch (exit.Kind)
        {
            case GuestExitKind.Reset:
                _log.Information("Guest reset: {Reason}", exit.Reason);
                _ = RebootVm(ApiCatalog.VmReboot, "guest reset", LogFailure);
                break;
            case GuestExitKind.Poweroff:
            case GuestExitKind.Fatal:
                if (exit.Kind == GuestExitKind.Fatal)
                {
                    _log.Error("The VM cannot continue: {Reason}", exit.Reason);
                }
                else
                {
                    _log.Information("Guest poweroff: {Reason}", exit.Reason);
                }

                _ = _options.NoShutdown
                    ? ShutdownVm(ApiCatalog.VmShutdown, "guest poweroff", LogFailure)
                    : ShutdownVmm(ApiCatalog.VmmShutdown, "guest poweroff");
                break;
            default:
                _log.Error("Unknown guest exit {Kind}: {Reason}", exit.Kind.ToString(), exit.Reason);
                break;
        }
    }

    private ApiResult LogFailure(ApiResult result)
    {
        if (result.Error is { } error)
        {
            _log.Error("Guest-driven transition failed: {Error}", error.ToString());
        }

        return result;
    }

    /// <summary>
    /// Builds a VM and boots it, off the loop. A VM whose boot failed is returned with the error;
    /// when <paramref name="cancellation"/> stops the build (the payload read), no VM is left and
    /// the outcome says it was cancelled. A VM built is booted: what cancelled it deletes it next.
    /// </summary>
    private BootOutcome BuildAndBoot(ApiAction action, VmConfig config, CancellationToken cancellation)
    {
        var generation = Interlocked.Increment(ref _nextGeneration);
        var events = new GuestEventSink(this, generation);
        IGuestVm vm;
        try
        {
            vm = _hypervisor.CreateVm(config, events, cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new BootOutcome(null, null, generation, Cancelled: true);
        }
        catch (Exception e)
        {
            return new BootOutcome(null, Failed(action, e), generation);
        }

        return new BootOutcome(vm, Try(action, vm.Boot), generation);
    }

    private void AdoptVm(IGuestVm vm, VmState state, long generation)
    {
        _vm = vm;
        _vmState = state;
        _vmGeneration = generation;
        try
        {
            // Read once: the device tree changes only by hot-plug, which this VMM does not do yet,
            // and vm.info must not call into the backend while an operation runs on the VM.
            _deviceTree = new Dictionary<string, DeviceNode>(vm.DeviceTree);
        }
        catch (Exception e) when (e is HypervisorException or InvalidOperationException)
        {
            _log.Warning("The device tree is not available: {Error}", e.Message);
            _deviceTree = new Dictionary<string, DeviceNode>();
        }
    }

    private void DropVm()
    {
        _vm = null;
        _deviceTree = null;
        _vmState = VmState.Created;
    }

    private void DisposeVmQuietly()
    {
        if (_vm is { } vm)
        {
            DisposeQuietly(vm);
            DropVm();
        }
    }

    private void DisposeQuietly(IGuestVm vm)
    {
        try
        {
            vm.Dispose();
        }
        catch (Exception e)
        {
            _log.Error(e, "Releasing the VM failed");
        }
    }

    /// <summary>Runs a backend call; null on success, else the error for <paramref name="action"/>.</summary>
    private ApiError? Try(ApiAction action, Action call)
    {
        try
        {
            call();
            return null;
        }
        catch (Exception e)
        {
            return Failed(action, e);
        }
    }

    /// <summary>A backend failure as an Internal error with the backend's chain as causes.</summary>
    private ApiError Failed(ApiAction action, Exception e)
    {
        if (e is HypervisorException hv)
        {
            _log.Warning("{Action} failed: {Message}", action.Name, hv.Message);
            return ApiError.For(action, hv.Kind, [hv.Message, .. hv.Causes]);
        }

        if (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("{Action} failed: {Message}", action.Name, e.Message);
            return ApiError.For(action, ApiErrorKind.Internal, e.Message);
        }

        return Unexpected(action, e);
    }

    private void Publish(EventKind kind) => _events.Publish(kind);

    private static ValueTask<ApiResult> Answer(ApiResult result) => ValueTask.FromResult(result);

    private static Task<ApiResult> Done(ApiResult result) => Task.FromResult(result);

    private static ApiResult Same(ApiResult result) => result;

    private readonly record struct BootOutcome(IGuestVm? Vm, ApiError? Error, long Generation, bool Cancelled = false);

    /// <summary>The backend's view of the loop for one VM: exits go through the inbox, device events straight to the monitor.</summary>
    private sealed class GuestEventSink(VmmControlLoop loop, long generation) : IGuestEvents
    {
        public void GuestExited(GuestExit exit)
        {
            ArgumentNullException.ThrowIfNull(exit);
            loop.Post(() => loop.OnGuestExit(generation, exit));
        }

        public void DeviceEvent(EventKind kind, IReadOnlyDictionary<string, string>? properties = null) =>
            loop._events.Publish(kind, properties);
    }
}
