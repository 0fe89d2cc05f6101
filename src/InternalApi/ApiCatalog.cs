using CloudHypervisor.InternalApi.Json;

namespace CloudHypervisor.InternalApi;

/// <summary>
/// Every API action, listed once (DESIGN.md rule 1). The REST routes, the D-Bus methods,
/// <c>openapi/</c> and <c>dbus/</c> are all derived from or checked against this list.
/// Facts from contract §1.5 (error messages) and §4.2 (D-Bus argument names).
/// </summary>
public static class ApiCatalog
{
    public static readonly ApiAction VmmPing = new(
        "vmm.ping", ApiVerb.Get, null, null, ApiReplyKind.Json, "VmmPingResponse",
        "",
        ApiAction.BodyIgnored(static () => new VmmPingCommand()));

    public static readonly ApiAction VmmShutdown = new(
        "vmm.shutdown", ApiVerb.Put, null, null, ApiReplyKind.EmptyOk, null,
        "The VMM could not shutdown",
        ApiAction.BodyIgnored(static () => new VmmShutdownCommand()));

    public static readonly ApiAction VmCreate = new(
        "vm.create", ApiVerb.Put, "VmConfig", "vm_config", ApiReplyKind.NoContent, null,
        "The VM could not be created",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmConfig, static c =>
        {
            // vm.create takes no descriptors; numbers in the JSON are cleared (contract §1.6).
            c.ClearFileDescriptors();
            return new VmCreateCommand(c);
        }));

    public static readonly ApiAction VmDelete = new(
        "vm.delete", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not be deleted",
        ApiAction.NoBody(static () => new VmDeleteCommand()));

    public static readonly ApiAction VmBoot = new(
        "vm.boot", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not boot",
        ApiAction.NoBody(static () => new VmBootCommand()));

    public static readonly ApiAction VmShutdown = new(
        "vm.shutdown", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not shutdown",
        ApiAction.NoBody(static () => new VmShutdownCommand()));

    public static readonly ApiAction VmReboot = new(
        "vm.reboot", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not reboot",
        ApiAction.NoBody(static () => new VmRebootCommand()));

    public static readonly ApiAction VmPause = new(
        "vm.pause", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not be paused",
        ApiAction.NoBody(static () => new VmPauseCommand()));

    public static readonly ApiAction VmResume = new(
        "vm.resume", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "The VM could not resume",
        ApiAction.NoBody(static () => new VmResumeCommand()));

    public static readonly ApiAction VmPowerButton = new(
        "vm.power-button", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "Error triggering power button",
        ApiAction.NoBody(static () => new VmPowerButtonCommand()));

    public static readonly ApiAction VmNmi = new(
        "vm.nmi", ApiVerb.Put, null, null, ApiReplyKind.NoContent, null,
        "Error triggering NMI",
        ApiAction.NoBody(static () => new VmNmiCommand()));

    public static readonly ApiAction VmInfo = new(
        "vm.info", ApiVerb.Get, null, null, ApiReplyKind.Json, "VmInfo",
        "The VM info is not available",
        ApiAction.BodyIgnored(static () => new VmInfoCommand()));

    public static readonly ApiAction VmCounters = new(
        "vm.counters", ApiVerb.Get, null, null, ApiReplyKind.Json, "VmCounters",
        "The VM info is not available",
        ApiAction.NoBody(static () => new VmCountersCommand()));

    public static readonly ApiAction VmResize = new(
        "vm.resize", ApiVerb.Put, "VmResize", "vm_resize", ApiReplyKind.NoContent, null,
        "The VM could not be resized",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmResize, static c => new VmResizeCommand(c)));

    public static readonly ApiAction VmResizeDisk = new(
        "vm.resize-disk", ApiVerb.Put, "VmResizeDisk", "vm_resize_disk", ApiReplyKind.NoContent, null,
        "The disk could not be resized",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmResizeDisk, static c => new VmResizeDiskCommand(c)));

    public static readonly ApiAction VmResizeZone = new(
        "vm.resize-zone", ApiVerb.Put, "VmResizeZone", "vm_resize_zone", ApiReplyKind.NoContent, null,
        "The memory zone could not be resized",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmResizeZone, static c => new VmResizeZoneCommand(c)));

    public static readonly ApiAction VmAddDevice = new(
        "vm.add-device", ApiVerb.Put, "DeviceConfig", "device_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.DeviceConfig, static c => new VmAddDeviceCommand(c), PassedFdRules.AddDevice));

    public static readonly ApiAction VmAddUserDevice = new(
        "vm.add-user-device", ApiVerb.Put, "UserDeviceConfig", "vm_add_user_device", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The user device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.UserDeviceConfig, static c => new VmAddUserDeviceCommand(c)));

    public static readonly ApiAction VmAddDisk = new(
        "vm.add-disk", ApiVerb.Put, "DiskConfig", "disk_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The disk could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.DiskConfig, static c => new VmAddDiskCommand(c)));

    public static readonly ApiAction VmAddFs = new(
        "vm.add-fs", ApiVerb.Put, "FsConfig", "fs_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The fs could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.FsConfig, static c => new VmAddFsCommand(c)));

    public static readonly ApiAction VmAddGenericVhostUser = new(
        "vm.add-generic-vhost-user", ApiVerb.Put, "GenericVhostUserConfig", "generic_vhost_user_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The generic vhost-user device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.GenericVhostUserConfig, static c => new VmAddGenericVhostUserCommand(c)));

    public static readonly ApiAction VmAddPmem = new(
        "vm.add-pmem", ApiVerb.Put, "PmemConfig", "pmem_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The pmem device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.PmemConfig, static c => new VmAddPmemCommand(c)));

    public static readonly ApiAction VmAddNet = new(
        "vm.add-net", ApiVerb.Put, "NetConfig", "net_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The network device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.NetConfig, static c => new VmAddNetCommand(c), PassedFdRules.AddNet));

    public static readonly ApiAction VmAddVdpa = new(
        "vm.add-vdpa", ApiVerb.Put, "VdpaConfig", "vdpa_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The vDPA device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VdpaConfig, static c => new VmAddVdpaCommand(c)));

    public static readonly ApiAction VmAddVsock = new(
        "vm.add-vsock", ApiVerb.Put, "VsockConfig", "vsock_config", ApiReplyKind.OptionalJson, "PciDeviceInfo",
        "The vsock device could not be added to the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VsockConfig, static c => new VmAddVsockCommand(c)));

    public static readonly ApiAction VmRemoveDevice = new(
        "vm.remove-device", ApiVerb.Put, "VmRemoveDevice", "vm_remove_device", ApiReplyKind.NoContent, null,
        "The device could not be removed from the VM",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmRemoveDevice, static c => new VmRemoveDeviceCommand(c)));

    public static readonly ApiAction VmSnapshot = new(
        "vm.snapshot", ApiVerb.Put, "VmSnapshotConfig", "vm_snapshot_config", ApiReplyKind.NoContent, null,
        "The VM could not be snapshotted",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmSnapshotConfig, static c => new VmSnapshotCommand(c)));

#if GUEST_DEBUG
    public static readonly ApiAction VmCoredump = new(
        "vm.coredump", ApiVerb.Put, "VmCoredumpData", "vm_coredump_data", ApiReplyKind.NoContent, null,
        "The VM could not be coredumped",
        ApiAction.WithBody(static () => ApiJsonContext.Default.VmCoredumpData, static c => new VmCoredumpCommand(c)));
#endif

    public static readonly ApiAction VmRestore = new(
        "vm.restore", ApiVerb.Put, "RestoreConfig", "restore_config", ApiReplyKind.NoContent, null,
        "The VM could not be restored",
        ApiAction.WithBody(static () => ApiJsonContext.Default.RestoreConfig, static c => new VmRestoreCommand(c), PassedFdRules.Restore));

    public static readonly ApiAction VmReceiveMigration = new(
        "vm.receive-migration", ApiVerb.Put, "ReceiveMigrationData", "receive_migration_data", ApiReplyKind.NoContent, null,
        "Error receiving migration",
        ApiAction.WithBody(static () => ApiJsonContext.Default.ReceiveMigrationData, static c => new VmReceiveMigrationCommand(c), PassedFdRules.ReceiveMigration));

    public static readonly ApiAction VmSendMigration = new(
        "vm.send-migration", ApiVerb.Put, "SendMigrationData", "send_migration_data", ApiReplyKind.NoContent, null,
        "Error dispatching the migration worker",
        ApiAction.WithBody(static () => ApiJsonContext.Default.SendMigrationData, static c => new VmSendMigrationCommand(c)));

    /// <summary>All actions compiled into this build, in upstream's table order.</summary>
    public static IReadOnlyList<ApiAction> All { get; } =
    [
        VmmPing,
        VmmShutdown,
        VmCreate,
        VmDelete,
        VmBoot,
        VmShutdown,
        VmReboot,
        VmPause,
        VmResume,
        VmPowerButton,
        VmNmi,
        VmInfo,
        VmCounters,
        VmResize,
        VmResizeDisk,
        VmResizeZone,
        VmAddDevice,
        VmAddUserDevice,
        VmAddDisk,
        VmAddFs,
        VmAddGenericVhostUser,
        VmAddPmem,
        VmAddNet,
        VmAddVdpa,
        VmAddVsock,
        VmRemoveDevice,
        VmSnapshot,
#if GUEST_DEBUG
        VmCoredump,
#endif
        VmRestore,
        VmReceiveMigration,
        VmSendMigration,
    ];

    private static readonly Dictionary<string, ApiAction> ByName = All.ToDictionary(a => a.Name, StringComparer.Ordinal);
    private static readonly Dictionary<string, ApiAction> ByDBusMethod = All.ToDictionary(a => a.DBusMethod, StringComparer.Ordinal);

    /// <summary>The action called <paramref name="name"/> (e.g. <c>vm.boot</c>), or null.</summary>
    public static ApiAction? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>The action whose D-Bus method is <paramref name="method"/> (e.g. <c>VmBoot</c>), or null.</summary>
    public static ApiAction? FindByDBusMethod(string method) => ByDBusMethod.GetValueOrDefault(method);
}
