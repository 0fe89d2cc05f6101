namespace CloudHypervisor.InternalApi;

/// <summary>
/// One method per API action. The Vmm control loop implements it; commands reach it only through
/// <see cref="ApiCommand.Dispatch"/>. A method may complete later (long operations run off the
/// loop); the loop answers each command exactly once with the result.
/// </summary>
public interface IRequestHandler
{
    ValueTask<ApiResult> VmmPing(VmmPingCommand command);
    ValueTask<ApiResult> VmmShutdown(VmmShutdownCommand command);
    ValueTask<ApiResult> VmCreate(VmCreateCommand command);
    ValueTask<ApiResult> VmDelete(VmDeleteCommand command);
    ValueTask<ApiResult> VmBoot(VmBootCommand command);
    ValueTask<ApiResult> VmShutdown(VmShutdownCommand command);
    ValueTask<ApiResult> VmReboot(VmRebootCommand command);
    ValueTask<ApiResult> VmPause(VmPauseCommand command);
    ValueTask<ApiResult> VmResume(VmResumeCommand command);
    ValueTask<ApiResult> VmPowerButton(VmPowerButtonCommand command);
    ValueTask<ApiResult> VmNmi(VmNmiCommand command);
    ValueTask<ApiResult> VmInfo(VmInfoCommand command);
    ValueTask<ApiResult> VmCounters(VmCountersCommand command);
    ValueTask<ApiResult> VmResize(VmResizeCommand command);
    ValueTask<ApiResult> VmResizeDisk(VmResizeDiskCommand command);
    ValueTask<ApiResult> VmResizeZone(VmResizeZoneCommand command);
    ValueTask<ApiResult> VmAddDevice(VmAddDeviceCommand command);
    ValueTask<ApiResult> VmAddUserDevice(VmAddUserDeviceCommand command);
    ValueTask<ApiResult> VmAddDisk(VmAddDiskCommand command);
    ValueTask<ApiResult> VmAddFs(VmAddFsCommand command);
    ValueTask<ApiResult> VmAddGenericVhostUser(VmAddGenericVhostUserCommand command);
    ValueTask<ApiResult> VmAddPmem(VmAddPmemCommand command);
    ValueTask<ApiResult> VmAddNet(VmAddNetCommand command);
    ValueTask<ApiResult> VmAddVdpa(VmAddVdpaCommand command);
    ValueTask<ApiResult> VmAddVsock(VmAddVsockCommand command);
    ValueTask<ApiResult> VmRemoveDevice(VmRemoveDeviceCommand command);
    ValueTask<ApiResult> VmSnapshot(VmSnapshotCommand command);
#if GUEST_DEBUG
    ValueTask<ApiResult> VmCoredump(VmCoredumpCommand command);
#endif
    ValueTask<ApiResult> VmRestore(VmRestoreCommand command);
    ValueTask<ApiResult> VmReceiveMigration(VmReceiveMigrationCommand command);
    ValueTask<ApiResult> VmSendMigration(VmSendMigrationCommand command);
}
