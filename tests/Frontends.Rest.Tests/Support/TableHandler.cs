using System.Collections.Concurrent;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// A request handler of the tests' own: a table from action name to answer. Actions not in the
/// table answer Internal "not in this test's table". Received commands are kept in order.
/// </summary>
public sealed class TableHandler : IRequestHandler
{
    private readonly Dictionary<string, Func<ApiCommand, ApiResult>> _table = new(StringComparer.Ordinal);

    public ConcurrentQueue<ApiCommand> Received { get; } = new();

    public Func<ApiCommand, ApiResult> this[string action]
    {
        set => _table[action] = value;
    }

    private ValueTask<ApiResult> Answer(ApiCommand command)
    {
        Received.Enqueue(command);
        return ValueTask.FromResult(_table.TryGetValue(command.Action.Name, out var answer)
            ? answer(command)
            : ApiError.For(command.Action, ApiErrorKind.Internal, "not in this test's table"));
    }

    public ValueTask<ApiResult> VmmPing(VmmPingCommand command) => Answer(command);
    public ValueTask<ApiResult> VmmShutdown(VmmShutdownCommand command) => Answer(command);
    public ValueTask<ApiResult> VmCreate(VmCreateCommand command) => Answer(command);
    public ValueTask<ApiResult> VmDelete(VmDeleteCommand command) => Answer(command);
    public ValueTask<ApiResult> VmBoot(VmBootCommand command) => Answer(command);
    public ValueTask<ApiResult> VmShutdown(VmShutdownCommand command) => Answer(command);
    public ValueTask<ApiResult> VmReboot(VmRebootCommand command) => Answer(command);
    public ValueTask<ApiResult> VmPause(VmPauseCommand command) => Answer(command);
    public ValueTask<ApiResult> VmResume(VmResumeCommand command) => Answer(command);
    public ValueTask<ApiResult> VmPowerButton(VmPowerButtonCommand command) => Answer(command);
    public ValueTask<ApiResult> VmNmi(VmNmiCommand command) => Answer(command);
    public ValueTask<ApiResult> VmInfo(VmInfoCommand command) => Answer(command);
    public ValueTask<ApiResult> VmCounters(VmCountersCommand command) => Answer(command);
    public ValueTask<ApiResult> VmResize(VmResizeCommand command) => Answer(command);
    public ValueTask<ApiResult> VmResizeDisk(VmResizeDiskCommand command) => Answer(command);
    public ValueTask<ApiResult> VmResizeZone(VmResizeZoneCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddDevice(VmAddDeviceCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddUserDevice(VmAddUserDeviceCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddDisk(VmAddDiskCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddFs(VmAddFsCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddGenericVhostUser(VmAddGenericVhostUserCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddPmem(VmAddPmemCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddNet(VmAddNetCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddVdpa(VmAddVdpaCommand command) => Answer(command);
    public ValueTask<ApiResult> VmAddVsock(VmAddVsockCommand command) => Answer(command);
    public ValueTask<ApiResult> VmRemoveDevice(VmRemoveDeviceCommand command) => Answer(command);
    public ValueTask<ApiResult> VmSnapshot(VmSnapshotCommand command) => Answer(command);
#if GUEST_DEBUG
    public ValueTask<ApiResult> VmCoredump(VmCoredumpCommand command) => Answer(command);
#endif
    public ValueTask<ApiResult> VmRestore(VmRestoreCommand command) => Answer(command);
    public ValueTask<ApiResult> VmReceiveMigration(VmReceiveMigrationCommand command) => Answer(command);
    public ValueTask<ApiResult> VmSendMigration(VmSendMigrationCommand command) => Answer(command);
}
