#if GUEST_DEBUG
using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Debug;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Vmm;

// vm.coredump (GUEST_DEBUG builds, as upstream's guest_debug feature; upstream-state.md §C): the
// guest's vCPUs and RAM as an ELF core. It runs as an operation off the loop, so vmm.ping, vm.info
// and vm.counters answer while RAM is written and every other command answers Busy. As upstream,
// a running VM is paused for the dump (vm/pausing, vm/paused) and resumed after it.
public sealed partial class VmmControlLoop
{
    ValueTask<ApiResult> IRequestHandler.VmCoredump(VmCoredumpCommand command)
    {
        var action = command.Action;
        if (_vm is not null)
        {
            // Upstream emits vm/coredumping first, also when the dump is then refused.
            Publish(Events.Vm.Coredumping);
        }

        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        string path;
        try
        {
            path = CoreFile.PathOf(command.Config.DestinationUrl);
        }
        catch (HypervisorException e)
        {
            return Answer(Failed(action, e));
        }

        var vm = _vm!;
        var running = Phase == VmmPhase.Running;
        return new(RunOperation(action, action.Name, () =>
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            if (running)
            {
                Publish(Events.Vm.Pausing);
                if (Try(action, vm.Pause) is { } paused)
                {
                    return () => paused;
                }

                Publish(Events.Vm.Paused);
            }

            CoreWriteResult written = default;
            var error = Try(action, () => written = CoreFile.Write(path,
                vm.CoreCpus(), vm.Memory ?? throw new HypervisorException("This VM has no guest RAM to dump", [])));
            var dumpMs = started.ElapsedMilliseconds;
            ApiError? resumed = null;
            if (running)
            {
                Publish(Events.Vm.Resuming);
                resumed = Try(action, vm.Resume);
                if (resumed is null)
                {
                    Publish(Events.Vm.Resumed);
                }
            }

            return () =>
            {
                if (running)
                {
                    _vmState = resumed is null ? VmState.Running : VmState.Paused;
                }

                if (error is null)
                {
                    _log.Information("Core dump written to {Path} in {Ms} ms: {File} bytes, {Written} of {Memory} bytes of guest RAM were not zero",
                        path, dumpMs, written.FileBytes, written.WrittenBytes, written.MemoryBytes);
                }

                return error ?? resumed ?? ApiResult.Ok();
            };
        }));
    }
}
#endif
