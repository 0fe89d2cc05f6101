using System.CommandLine;
using System.Text.Json.Serialization.Metadata;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Options;

namespace CloudHypervisor.ChRemote;

internal static partial class ChRemoteCli
{
    /// <summary>
    /// The subcommands whose argument is an option string: the same strings as the
    /// <c>cloud-hypervisor</c> flags, parsed by the shared <see cref="RemoteOptions"/> parsers,
    /// sent as the model's JSON (contract §7.2).
    /// </summary>
    private static IEnumerable<Command> OptionStringCommands()
    {
        yield return Add("add-disk", ApiCatalog.VmAddDisk, "disk_config", RemoteOptions.AddDisk, static () => ApiJsonContext.Default.DiskConfig);
        yield return Add("add-fs", ApiCatalog.VmAddFs, "fs_config", RemoteOptions.AddFs, static () => ApiJsonContext.Default.FsConfig);
        yield return Add("add-generic-vhost-user", ApiCatalog.VmAddGenericVhostUser, "generic_vhost_user_config",
            RemoteOptions.AddGenericVhostUser, static () => ApiJsonContext.Default.GenericVhostUserConfig);
        yield return Add("add-pmem", ApiCatalog.VmAddPmem, "pmem_config", RemoteOptions.AddPmem, static () => ApiJsonContext.Default.PmemConfig);
        yield return Add("add-user-device", ApiCatalog.VmAddUserDevice, "user_device_config",
            RemoteOptions.AddUserDevice, static () => ApiJsonContext.Default.UserDeviceConfig);
        yield return Add("add-vdpa", ApiCatalog.VmAddVdpa, "vdpa_config", RemoteOptions.AddVdpa, static () => ApiJsonContext.Default.VdpaConfig);
        yield return Add("add-vsock", ApiCatalog.VmAddVsock, "vsock_config", RemoteOptions.AddVsock, static () => ApiJsonContext.Default.VsockConfig);
        yield return WithArgument("add-net", ApiCatalog.VmAddNet, "net_config", "Add a network device to the VM",
            text => BodyOf(RemoteOptions.AddNet(text), r => ApiJson.Serialize(r.Body, ApiJsonContext.Default.NetConfig), r => r.Fds));
        yield return WithArgument("add-device", ApiCatalog.VmAddDevice, "device_config", "Add a VFIO device to the VM",
            text => BodyOf(RemoteOptions.AddDevice(text), r => ApiJson.Serialize(r.Body, ApiJsonContext.Default.DeviceConfig), r => r.Fds));
        yield return WithArgument("restore", ApiCatalog.VmRestore, "restore_config", "Restore a VM from a snapshot",
            text => BodyOf(RemoteOptions.Restore(text), r => RemoteJson.Restore(r.Body), r => r.Fds));
        yield return WithArgument("receive-migration", ApiCatalog.VmReceiveMigration, "receive_migration_config",
            "Receive a VM migration",
            text => BodyOf(RemoteOptions.ReceiveMigration(text), r => RemoteJson.ReceiveMigration(r.Body), r => r.Fds));
        yield return WithArgument("send-migration", ApiCatalog.VmSendMigration, "send_migration_config", "Send a VM migration",
            text => BodyOf(RemoteOptions.SendMigration(text), RemoteJson.SendMigration, _ => []));
    }

    // The JSON type is fetched when the subcommand runs: building one means building its whole model.
    private static Command Add<T>(string name, ApiAction action, string argument, Func<string, OptionResult<T>> parse, Func<JsonTypeInfo<T>> json) =>
        WithArgument(name, action, argument, $"Add a device to the VM ({action.BodySchema} option string)",
            text => BodyOf(parse(text), value => ApiJson.Serialize(value, json()), _ => []));

    /// <summary>
    /// The body of a parsed option string, and the descriptors (<c>fd=</c>, <c>net_fds</c>,
    /// <c>vfio_fds</c>, <c>iommufd_fd</c>) that the option parser moved out of it: they are
    /// this process's open descriptors and travel beside the body as SCM_RIGHTS.
    /// </summary>
    private static BodyOrError BodyOf<T>(OptionResult<T> parsed, Func<T, string> body, Func<T, IReadOnlyList<int>> fds) =>
        parsed.TryGet(out var value, out var error)
            ? BodyOrError.Of(body(value)) with { Fds = fds(value) }
            : new BodyOrError(null, error.Chain);

    /// <summary>resize, resize-disk, resize-zone: sizes with K/M/G like every other size option.</summary>
    private static IEnumerable<Command> ResizeCommands()
    {
        var resize = new Command("resize", "Resize the VM: vCPUs, memory or balloon");
        var cpus = new Option<string>("--cpus") { Description = "New number of vCPUs" };
        var memory = new Option<string>("--memory") { Description = "New memory size (K/M/G suffix)" };
        var balloon = new Option<string>("--balloon") { Description = "New balloon size (K/M/G suffix)" };
        resize.Options.Add(cpus);
        resize.Options.Add(memory);
        resize.Options.Add(balloon);
        resize.SetAction((result, ct) => RunAsync(result, ApiCatalog.VmResize,
            BodyOf(RemoteOptions.Resize(result.GetValue(cpus), result.GetValue(memory), result.GetValue(balloon)),
                RemoteJson.Resize, _ => []), ct));
        yield return resize;

        var resizeDisk = new Command("resize-disk", "Resize a disk image");
        var disk = new Option<string>("--disk") { Description = "Disk id", Required = true };
        var diskSize = new Option<string>("--size") { Description = "New size (K/M/G suffix)", Required = true };
        resizeDisk.Options.Add(disk);
        resizeDisk.Options.Add(diskSize);
        resizeDisk.SetAction((result, ct) => RunAsync(result, ApiCatalog.VmResizeDisk,
            BodyOf(RemoteOptions.ResizeDisk(result.GetValue(disk)!, result.GetValue(diskSize)!),
                r => ApiJson.Serialize(r, ApiJsonContext.Default.VmResizeDisk), _ => []), ct));
        yield return resizeDisk;

        var resizeZone = new Command("resize-zone", "Resize a memory zone");
        var zone = new Option<string>("--id") { Description = "Memory zone id", Required = true };
        var zoneSize = new Option<string>("--size") { Description = "New size (K/M/G suffix)", Required = true };
        resizeZone.Options.Add(zone);
        resizeZone.Options.Add(zoneSize);
        resizeZone.SetAction((result, ct) => RunAsync(result, ApiCatalog.VmResizeZone,
            BodyOf(RemoteOptions.ResizeZone(result.GetValue(zone)!, result.GetValue(zoneSize)!),
                r => ApiJson.Serialize(r, ApiJsonContext.Default.VmResizeZone), _ => []), ct));
        yield return resizeZone;
    }
}
