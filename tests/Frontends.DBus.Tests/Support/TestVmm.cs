#if DBUS_API
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.Frontends.DBus.Tests.Support;

/// <summary>
/// A small VMM behind the channel for frontend tests: it keeps a VM config and a state, answers
/// with the real models and catalog errors, and publishes lifecycle events. Actions a frontend
/// test does not need answer Internal. (Replaced by the Vmm control loop once that lands.)
/// </summary>
public sealed class TestVmm : IRequestHandler
{
    private readonly CloudHypervisor.EventMonitor.EventMonitor _events;
    private VmConfig? _config;
    private VmState _state;

    private TestVmm(CloudHypervisor.EventMonitor.EventMonitor events) => _events = events;

    /// <summary>Runs the single-reader loop over <paramref name="channel"/> until it completes.</summary>
    public static Task RunAsync(ApiChannel channel, CloudHypervisor.EventMonitor.EventMonitor events)
    {
        var vmm = new TestVmm(events);
        return Task.Run(async () =>
        {
            await foreach (var request in channel.Reader.ReadAllAsync())
            {
                request.Answer(await request.Command.Dispatch(vmm));
            }
        });
    }

    public ValueTask<ApiResult> VmmPing(VmmPingCommand command) => Ok(ApiJson.Serialize(
        new VmmPingResponse { Version = "v54.0.0", BuildVersion = "test", Pid = Environment.ProcessId, Features = ["dbus_api"] },
        ApiJsonContext.Default.VmmPingResponse));

    public ValueTask<ApiResult> VmmShutdown(VmmShutdownCommand command) => Ok();

    public ValueTask<ApiResult> VmCreate(VmCreateCommand command)
    {
        if (_config is not null)
        {
            return Fail(command.Action, ApiErrorKind.InvalidState, "VM is already created");
        }

        _config = command.Config;
        _state = VmState.Created;
        return Ok();
    }

    public ValueTask<ApiResult> VmDelete(VmDeleteCommand command)
    {
        if (_config is not null)
        {
            _config = null;
            _events.Publish("vm", "deleted");
        }

        return Ok();
    }

    public ValueTask<ApiResult> VmBoot(VmBootCommand command)
    {
        if (_config is null)
        {
            return Fail(command.Action, ApiErrorKind.NotCreated, "VM is not created");
        }

        if (_state is VmState.Running or VmState.Paused)
        {
            return Fail(command.Action, ApiErrorKind.InvalidState, "VM is already running");
        }

        _events.Publish("vm", "booting");
        _state = VmState.Running;
        _events.Publish("vm", "booted");
        return Ok();
    }

    public ValueTask<ApiResult> VmShutdown(VmShutdownCommand command)
    {
        if (_config is null)
        {
            return Fail(command.Action, ApiErrorKind.NotCreated, "VM is not created");
        }

        if (_state is not (VmState.Running or VmState.Paused))
        {
            return Fail(command.Action, ApiErrorKind.InvalidState, "VM is not running");
        }

        _state = VmState.Shutdown;
        _events.Publish("vm", "shutdown");
        return Ok();
    }

    public ValueTask<ApiResult> VmPause(VmPauseCommand command)
    {
        if (_state != VmState.Running || _config is null)
        {
            return Fail(command.Action, ApiErrorKind.InvalidState, "VM is not running");
        }

        _events.Publish("vm", "pausing");
        _state = VmState.Paused;
        _events.Publish("vm", "paused");
        return Ok();
    }

    public ValueTask<ApiResult> VmResume(VmResumeCommand command)
    {
        if (_state != VmState.Paused || _config is null)
        {
            return Fail(command.Action, ApiErrorKind.InvalidState, "VM is not paused");
        }

        _events.Publish("vm", "resuming");
        _state = VmState.Running;
        _events.Publish("vm", "resumed");
        return Ok();
    }

    public ValueTask<ApiResult> VmInfo(VmInfoCommand command) => _config is null
        ? Fail(command.Action, ApiErrorKind.NotCreated, "VM is not created")
        : Ok(ApiJson.Serialize(new VmInfo { Config = _config, State = _state, MemoryActualSize = _config.Memory.Size }, ApiJsonContext.Default.VmInfo));

    public ValueTask<ApiResult> VmAddDisk(VmAddDiskCommand command)
    {
        if (_config is null)
        {
            return Fail(command.Action, ApiErrorKind.NotCreated, "VM is not created");
        }

        (_config.Disks ??= []).Add(command.Config);
        return Ok();
    }

    public ValueTask<ApiResult> VmReboot(VmRebootCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmPowerButton(VmPowerButtonCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmNmi(VmNmiCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmCounters(VmCountersCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmResize(VmResizeCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmResizeDisk(VmResizeDiskCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmResizeZone(VmResizeZoneCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddDevice(VmAddDeviceCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddUserDevice(VmAddUserDeviceCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddFs(VmAddFsCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddGenericVhostUser(VmAddGenericVhostUserCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddPmem(VmAddPmemCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddNet(VmAddNetCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddVdpa(VmAddVdpaCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmAddVsock(VmAddVsockCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmRemoveDevice(VmRemoveDeviceCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmSnapshot(VmSnapshotCommand command) => Unsupported(command);
#if GUEST_DEBUG
    public ValueTask<ApiResult> VmCoredump(VmCoredumpCommand command) => Unsupported(command);
#endif
    public ValueTask<ApiResult> VmRestore(VmRestoreCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmReceiveMigration(VmReceiveMigrationCommand command) => Unsupported(command);
    public ValueTask<ApiResult> VmSendMigration(VmSendMigrationCommand command) => Unsupported(command);

    private static ValueTask<ApiResult> Ok() => ValueTask.FromResult(ApiResult.Ok());

    private static ValueTask<ApiResult> Ok(string json) => ValueTask.FromResult(ApiResult.Ok(json));

    private static ValueTask<ApiResult> Fail(ApiAction action, ApiErrorKind kind, string cause) =>
        ValueTask.FromResult(ApiResult.Fail(ApiError.For(action, kind, cause)));

    private static ValueTask<ApiResult> Unsupported(ApiCommand command) =>
        Fail(command.Action, ApiErrorKind.Internal, "not implemented by the test VMM");
}
#endif
