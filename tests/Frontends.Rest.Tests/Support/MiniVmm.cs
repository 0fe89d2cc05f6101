using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// A tiny lifecycle of the tests' own on top of <see cref="TableHandler"/>: enough state
/// (stored config, Created/Running/Paused) to drive upstream's docs/api.md examples and the
/// error kinds, and it publishes lifecycle events as the real VMM does.
/// </summary>
public static class MiniVmm
{
    public static TableHandler Create(EventMonitorHub? events = null)
    {
        var gate = new Lock();
        VmConfig? config = null;
        var state = VmState.Created;
        var booted = false;
        var handler = new TableHandler();

        ApiResult Publish(EventKind @event)
        {
            events?.Publish(@event);
            return ApiResult.Ok();
        }

        handler["vmm.ping"] = _ => ApiResult.Ok("""{"build_version":"v54.0.0","version":"54.0.0","pid":1,"features":["kvm"]}""");
        handler["vmm.shutdown"] = _ => ApiResult.Ok();
        handler["vm.create"] = c =>
        {
            lock (gate)
            {
                if (config is not null)
                {
                    return ApiError.For(c.Action, ApiErrorKind.InvalidState, "VM is already created");
                }

                config = ((VmCreateCommand)c).Config;
                state = VmState.Created;
                return ApiResult.Ok();
            }
        };
        handler["vm.boot"] = c =>
        {
            lock (gate)
            {
                if (config is null)
                {
                    return ApiError.For(c.Action, ApiErrorKind.NotCreated, "VM config is missing");
                }

                if (booted)
                {
                    return ApiError.For(c.Action, ApiErrorKind.InvalidState, "VM is already created");
                }

                (booted, state) = (true, VmState.Running);
                return Publish(Events.Vm.Booted);
            }
        };
        handler["vm.pause"] = c => Transition(c, VmState.Running, VmState.Paused, Events.Vm.Paused);
        handler["vm.resume"] = c => Transition(c, VmState.Paused, VmState.Running, Events.Vm.Resumed);
        handler["vm.reboot"] = c => Transition(c, VmState.Running, VmState.Running, Events.Vm.Rebooted);
        handler["vm.shutdown"] = c =>
        {
            lock (gate)
            {
                if (!booted)
                {
                    return ApiError.For(c.Action, ApiErrorKind.InvalidState, "VM is not running");
                }

                (booted, state) = (false, VmState.Created);
                return Publish(Events.Vm.Shutdown);
            }
        };
        handler["vm.delete"] = _ =>
        {
            lock (gate)
            {
                (config, booted, state) = (null, false, VmState.Created);
                return Publish(Events.Vm.Deleted);
            }
        };
        handler["vm.info"] = c =>
        {
            lock (gate)
            {
                if (config is null)
                {
                    return ApiError.For(c.Action, ApiErrorKind.NotCreated, "VM is not created");
                }

                var info = new VmInfo { Config = config, State = state, MemoryActualSize = config.Memory.Size };
                return ApiResult.Ok(ApiJson.Serialize(info, ApiJsonContext.Default.VmInfo));
            }
        };
        return handler;

        ApiResult Transition(ApiCommand c, VmState from, VmState to, EventKind @event)
        {
            lock (gate)
            {
                if (!booted || state != from)
                {
                    return ApiError.For(c.Action, ApiErrorKind.InvalidState, booted ? $"VM is {state}" : "VM is not running");
                }

                state = to;
                return Publish(@event);
            }
        }
    }
}
