using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm;

// vm.snapshot and vm.restore (upstream-state.md §A). Both run as operations off the loop, so
// vmm.ping, vm.info and vm.counters answer while the files are written or read, and every other
// command answers Busy naming the operation.
public sealed partial class VmmControlLoop
{
    ValueTask<ApiResult> IRequestHandler.VmSnapshot(VmSnapshotCommand command)
    {
        var action = command.Action;
        if (_vm is not null)
        {
            // Upstream emits vm/snapshotting first, also when the snapshot is then refused.
            Publish(Events.Vm.Snapshotting);
        }

        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        string directory;
        try
        {
            directory = SnapshotFiles.DirectoryOf(command.Config.DestinationUrl);
        }
        catch (HypervisorException e)
        {
            return Answer(Failed(action, e));
        }

        var vm = _vm!;
        var config = CloneConfig(_config!);
        return new(RunOperation(action, action.Name, () =>
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            SnapshotWriteResult written = default;
            var error = Try(action, () => written = SnapshotFiles.Write(directory, config, vm.SaveState(), vm.Memory));
            return () =>
            {
                if (error is not null)
                {
                    return error;
                }

                _log.Information("Snapshot written to {Directory} in {Ms} ms: {Written} of {Memory} bytes of guest RAM were not zero",
                    directory, started.ElapsedMilliseconds, written.WrittenBytes, written.MemoryBytes);
                Publish(Events.Vm.Snapshotted);
                return ApiResult.Ok();
            };
        }));
    }

    ValueTask<ApiResult> IRequestHandler.VmRestore(VmRestoreCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var restore = command.Config;
        if (restore.Prefault && restore.MemoryRestoreMode == MemoryRestoreMode.OnDemand)
        {
            return Answer(ApiError.For(action, ApiErrorKind.InvalidArgument, "'prefault' cannot be combined with 'memory_restore_mode=ondemand'"));
        }

        string directory;
        try
        {
            directory = SnapshotFiles.DirectoryOf(restore.SourceUrl);
        }
        catch (HypervisorException e)
        {
            return Answer(Failed(action, e));
        }

        return new(RunOperation(action, action.Name, cancellation =>
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var generation = Interlocked.Increment(ref _nextGeneration);
            SnapshotImage image;
            IGuestVm vm;
            try
            {
                image = SnapshotFiles.Read(directory, restore.Prefault, restore.MemoryRestoreMode == MemoryRestoreMode.OnDemand);
                if (ValidateConfig(action, image.Config, requirePayload: false) is { } invalid)
                {
                    return () => ApiError.For(action, ApiErrorKind.InvalidArgument, ["Cannot restore VM", $"{SnapshotFiles.ConfigFile}: {string.Join(": ", invalid.Causes)}"]);
                }

                Publish(Events.Vm.Restoring);
                vm = _hypervisor.RestoreVm(image, new GuestEventSink(this, generation), cancellation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return () => Cancelled(action);
            }
            catch (Exception e)
            {
                return () => Failed(action, e);
            }

            Publish(Events.Vm.Restored);
            var restoredMs = started.ElapsedMilliseconds;
            ApiError? resumed = null;
            if (restore.Resume)
            {
                Publish(Events.Vm.Resuming);
                resumed = Try(ApiCatalog.VmResume, vm.Resume);
                if (resumed is null)
                {
                    Publish(Events.Vm.Resumed);
                }
            }

            return () =>
            {
                _log.Information("Restored the VM from {Directory} in {Ms} ms", directory, restoredMs);
                _config = image.Config;
                AssignDeviceIds(_config);
                AdoptVm(vm, restore.Resume && resumed is null ? VmState.Running : VmState.Paused, generation);
                return resumed ?? ApiResult.Ok();
            };
        }, cancellable: true));
    }
}
