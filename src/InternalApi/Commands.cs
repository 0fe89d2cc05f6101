using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi;

// One record per upstream action, in the order of upstream's endpoint table (contract §1.5).
// The argument is the upstream OpenAPI schema of the request body.

public sealed record VmmPingCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmmPing;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmmPing(this);
}

public sealed record VmmShutdownCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmmShutdown;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmmShutdown(this);
}

public sealed record VmCreateCommand(VmConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmCreate;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmCreate(this);
}

public sealed record VmDeleteCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmDelete;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmDelete(this);
}

public sealed record VmBootCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmBoot;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmBoot(this);
}

public sealed record VmShutdownCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmShutdown;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmShutdown(this);
}

public sealed record VmRebootCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmReboot;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmReboot(this);
}

public sealed record VmPauseCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmPause;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmPause(this);
}

public sealed record VmResumeCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmResume;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmResume(this);
}

public sealed record VmPowerButtonCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmPowerButton;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmPowerButton(this);
}

public sealed record VmNmiCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmNmi;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmNmi(this);
}

public sealed record VmInfoCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmInfo;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmInfo(this);
}

public sealed record VmCountersCommand : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmCounters;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmCounters(this);
}

public sealed record VmResizeCommand(VmResize Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmResize;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmResize(this);
}

public sealed record VmResizeDiskCommand(VmResizeDisk Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmResizeDisk;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmResizeDisk(this);
}

public sealed record VmResizeZoneCommand(VmResizeZone Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmResizeZone;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmResizeZone(this);
}

public sealed record VmAddDeviceCommand(DeviceConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddDevice;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddDevice(this);
}

public sealed record VmAddUserDeviceCommand(UserDeviceConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddUserDevice;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddUserDevice(this);
}

public sealed record VmAddDiskCommand(DiskConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddDisk;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddDisk(this);
}

public sealed record VmAddFsCommand(FsConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddFs;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddFs(this);
}

public sealed record VmAddGenericVhostUserCommand(GenericVhostUserConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddGenericVhostUser;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddGenericVhostUser(this);
}

public sealed record VmAddPmemCommand(PmemConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddPmem;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddPmem(this);
}

public sealed record VmAddNetCommand(NetConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddNet;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddNet(this);
}

public sealed record VmAddVdpaCommand(VdpaConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddVdpa;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddVdpa(this);
}

public sealed record VmAddVsockCommand(VsockConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmAddVsock;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmAddVsock(this);
}

public sealed record VmRemoveDeviceCommand(VmRemoveDevice Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmRemoveDevice;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmRemoveDevice(this);
}

public sealed record VmSnapshotCommand(VmSnapshotConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmSnapshot;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmSnapshot(this);
}

#if GUEST_DEBUG
public sealed record VmCoredumpCommand(VmCoredumpData Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmCoredump;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmCoredump(this);
}
#endif

public sealed record VmRestoreCommand(RestoreConfig Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmRestore;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmRestore(this);
}

public sealed record VmReceiveMigrationCommand(ReceiveMigrationData Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmReceiveMigration;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmReceiveMigration(this);
}

public sealed record VmSendMigrationCommand(SendMigrationData Config) : ApiCommand
{
    public override ApiAction Action => ApiCatalog.VmSendMigration;
    public override ValueTask<ApiResult> Dispatch(IRequestHandler handler) => handler.VmSendMigration(this);
}
