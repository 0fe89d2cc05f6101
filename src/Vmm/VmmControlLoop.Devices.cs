using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Validation;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm;

// Reads (ping, info, counters), config edits of a created VM (cold add, remove, resize) and the
// actions the KVM backend cannot do yet, which answer a typed error rather than pretend.
public sealed partial class VmmControlLoop
{
    private DeviceIdAllocator? _deviceIds;

    ValueTask<ApiResult> IRequestHandler.VmmPing(VmmPingCommand command)
    {
        var ping = new VmmPingResponse
        {
            BuildVersion = _options.BuildVersion,
            Version = _options.Version,
            Pid = Environment.ProcessId,
            Features = [.. _options.Features],
        };
        return Answer(ApiResult.Ok(ApiJson.Serialize(ping, ApiJsonContext.Default.VmmPingResponse)));
    }

    ValueTask<ApiResult> IRequestHandler.VmInfo(VmInfoCommand command)
    {
        var phase = Phase;
        if (Preconditions.Check(command.Action, phase) is { } refused)
        {
            return Answer(refused);
        }

        var info = new VmInfo
        {
            Config = _config!,
            State = VmmPhases.StateOf(phase)!.Value,
            // As upstream: the configured RAM less what the balloon holds (no virtio-mem here yet).
            MemoryActualSize = MemorySize.Configured(_config!) - Math.Min(MemorySize.Configured(_config!), _vm?.BalloonActualSize ?? 0),
            // Live once booted: a device the guest ejected leaves the tree when it goes.
            DeviceTree = _deviceTree is null ? null : new Dictionary<string, DeviceNode>(_vm?.DeviceTree ?? _deviceTree),
        };
        return Answer(ApiResult.Ok(ApiJson.Serialize(info, ApiJsonContext.Default.VmInfo)));
    }

    ValueTask<ApiResult> IRequestHandler.VmCounters(VmCountersCommand command)
    {
        if (Preconditions.Check(command.Action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var counters = new Dictionary<string, Dictionary<string, ulong>>();
        foreach (var (device, values) in _vm!.Counters())
        {
            counters[device] = new Dictionary<string, ulong>(values);
        }

        return Answer(ApiResult.Ok(ApiJson.Serialize(counters, ApiJsonContext.Default.DictionaryStringDictionaryStringUInt64)));
    }

    ValueTask<ApiResult> IRequestHandler.VmResize(VmResizeCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        if (_vm is { } vm)
        {
            return Answer(ResizeBooted(action, vm, command.Config));
        }

        var edited = _config!.Clone();
        ConfigEdits.Resize(edited, command.Config);
        return Answer(Store(action, edited));
    }

    /// <summary>
    /// vm.resize of a booted VM: the balloon's target (desired_balloon) is set at once and the
    /// guest told, with vm/resizing and vm/resized around it, and the config's balloon size
    /// follows, as upstream. vCPU and RAM hot-plug are not done by this VMM yet.
    /// </summary>
    private ApiResult ResizeBooted(ApiAction action, Hypervisor.IGuestVm vm, VmResize resize)
    {
        if (resize.DesiredVcpus is not null || resize.DesiredRam is not null)
        {
            return Unsupported(action, "Resizing the vCPUs or the RAM of a booted VM (hot-plug)");
        }

        if (resize.DesiredBalloon is not { } balloon)
        {
            return ApiResult.Ok();
        }

        if (_config!.Balloon is null)
        {
            return ApiError.For(action, ApiErrorKind.InvalidArgument, "Cannot resize the balloon", "the VM has no virtio-balloon device (--balloon)");
        }

        var ram = MemorySize.Configured(_config);
        if (balloon >= ram)
        {
            return ApiError.For(action, ApiErrorKind.InvalidArgument, "Cannot resize the balloon", $"Ballon size ({balloon}) greater than RAM ({ram})");
        }

        Publish(Events.Vm.Resizing);
        if (Try(action, () => vm.ResizeBalloon(balloon)) is { } error)
        {
            return error;
        }

        var edited = _config.Clone();
        edited.Balloon!.Size = balloon;
        _config = edited;
        Publish(Events.Vm.Resized);
        return ApiResult.Ok();
    }

    ValueTask<ApiResult> IRequestHandler.VmResizeZone(VmResizeZoneCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        if (_vm is not null)
        {
            return Answer(Unsupported(action, "Resizing a memory zone of a booted VM"));
        }

        var edited = _config!.Clone();
        return ConfigEdits.ResizeZone(edited, command.Config)
            ? Answer(Store(action, edited))
            : Answer(ApiError.For(action, ApiErrorKind.NotFound, "Failed resizing a memory zone", $"Unknown memory zone {command.Config.Id}"));
    }

    ValueTask<ApiResult> IRequestHandler.VmResizeDisk(VmResizeDiskCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var id = command.Config.Id;
        if (!(_config!.Disks ?? []).Exists(d => d.Id == id))
        {
            return Answer(ApiError.For(action, ApiErrorKind.NotFound, Preconditions.ResizeDiskFailed, $"Unknown device id {id}"));
        }

        var vm = _vm;
        if (vm is null)
        {
            return Answer(Unsupported(action, "Resizing a disk of a VM that is not booted"));
        }

        var size = command.Config.DesiredSize;
        return new(RunOperation(action, action.Name, () =>
        {
            var error = Try(action, () => vm.ResizeDisk(id, size));
            return () => error is null ? ApiResult.Ok() : error;
        }));
    }

    ValueTask<ApiResult> IRequestHandler.VmAddDevice(VmAddDeviceCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Device(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddUserDevice(VmAddUserDeviceCommand command) =>
        AddDevice(command.Action, c => ColdAdd.UserDevice(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddDisk(VmAddDiskCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Disk(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddFs(VmAddFsCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Fs(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddGenericVhostUser(VmAddGenericVhostUserCommand command) =>
        AddDevice(command.Action, c => ColdAdd.GenericVhostUser(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddPmem(VmAddPmemCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Pmem(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddNet(VmAddNetCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Net(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddVdpa(VmAddVdpaCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Vdpa(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmAddVsock(VmAddVsockCommand command) =>
        AddDevice(command.Action, c => ColdAdd.Vsock(c, command.Config));

    ValueTask<ApiResult> IRequestHandler.VmRemoveDevice(VmRemoveDeviceCommand command)
    {
        var action = command.Action;
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var id = command.Config.Id;
        var edited = _config!.Clone();
        if (!ConfigEdits.RemoveDevice(edited, id) && !(_deviceTree?.ContainsKey(id) ?? false))
        {
            return Answer(ApiError.For(action, ApiErrorKind.NotFound, $"No device with id \"{id}\" to remove"));
        }

        // A booted VM: the guest is asked to eject the device (it goes, and vm/device-removed is
        // emitted, when it does); the config forgets it at once, as upstream.
        if (_vm is { } vm && Try(action, () => vm.HotUnplug(id)) is { } error)
        {
            return Answer(error);
        }

        _config = edited;
        return Answer(ApiResult.Ok());
    }


    /// <summary>
    /// Cold add: validated on a clone and stored, 204. A booted VM gets the same validation (so a
    /// duplicate id is still AlreadyExists) and then the not-supported answer.
    /// </summary>
    private ValueTask<ApiResult> AddDevice(ApiAction action, Func<VmConfig, ColdAddResult> add)
    {
        if (Preconditions.Check(action, Phase) is { } refused)
        {
            return Answer(refused);
        }

        var added = add(_config!);
        if (added.Error is { } invalid)
        {
            return Answer(invalid);
        }

        if (LandlockRefusal(action, added.Config!) is { } sandboxed)
        {
            return Answer(sandboxed);
        }

        if (_vm is { } vm)
        {
            return Answer(HotPlug(action, vm, added.Config!));
        }

        _config = added.Config!;
        return Answer(ApiResult.Ok());
    }

    /// <summary>
    /// Hot add, as upstream: the new entry gets the next id of the boot's counter, the backend
    /// builds it and signals the guest, the config follows at once, and the answer is 200 with
    /// PciDeviceInfo. A backend failure leaves the config as it was.
    /// </summary>
    private ApiResult HotPlug(ApiAction action, Hypervisor.IGuestVm vm, VmConfig config)
    {
        DeviceIds.AssignNew(_deviceIds ??= DeviceIds.Assign(_config!.Clone()), config);
        var before = DeviceIds.InUse(_config!).ToHashSet(StringComparer.Ordinal);
        var id = DeviceIds.InUse(config).First(i => !before.Contains(i));
        string? bdf = null;
        if (Try(action, () => bdf = vm.HotPlug(config, id)) is { } error)
        {
            return error;
        }

        _config = config;
        _deviceTree = new Dictionary<string, DeviceNode>(vm.DeviceTree);
        var info = new PciDeviceInfo { Id = id, Bdf = bdf! };
        return ApiResult.Ok(ApiJson.Serialize(info, ApiJsonContext.Default.PciDeviceInfo));
    }

    /// <summary>Validates an edited config (payload not required: it may not be set yet) and stores it.</summary>
    private ApiResult Store(ApiAction action, VmConfig edited)
    {
        if (ValidateConfig(action, edited, requirePayload: false) is { } invalid)
        {
            return invalid;
        }

        _config = edited;
        return ApiResult.Ok();
    }

    private ValueTask<ApiResult> Refuse(ApiAction action, string what) =>
        Answer(Preconditions.Check(action, Phase) ?? Unsupported(action, what));

    private static ApiError? ValidateConfig(ApiAction action, VmConfig config, bool requirePayload) =>
        (requirePayload ? VmConfigValidator.Validate(config) : VmConfigValidator.ValidateWithoutPayload(config))
            ?.ToApiError(action);

    private static VmConfig CloneConfig(VmConfig config) => config.Clone();

    private void AssignDeviceIds(VmConfig config) => _deviceIds = DeviceIds.Assign(config);

    /// <summary>
    /// The answer for what the KVM backend cannot do yet. One place decides its kind: Internal
    /// (HTTP 500, as upstream answers a failed action), with a cause that says so plainly.
    /// </summary>
    private static ApiError Unsupported(ApiAction action, string what) =>
        ApiError.For(action, ApiErrorKind.Internal, $"{what} is not supported by this VMM yet");
}
