using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

/// <summary>The outcome of a <see cref="ColdAdd"/>: the new config to store, or the whole API error.</summary>
public readonly record struct ColdAddResult(VmConfig? Config, ApiError? Error);

/// <summary>
/// Upstream's cold add (contract §1.5): append the device to a clone of the stored config and run
/// full validation on it (payload included, so a VM created without payload cannot cold-add).
/// On success store <see cref="ColdAddResult.Config"/> and answer 204; no id is assigned here.
/// The errors are complete: <c>["Error from API", &lt;per-action message&gt;, "Failed to validate config", ...]</c>.
/// Hot add can use the same check before plugging the device in.
/// </summary>
public static class ColdAdd
{
    public static ColdAddResult Disk(VmConfig stored, DiskConfig disk) =>
        Apply(stored, ApiCatalog.VmAddDisk, c => (c.Disks ??= []).Add(disk));

    public static ColdAddResult Net(VmConfig stored, NetConfig net) =>
        Apply(stored, ApiCatalog.VmAddNet, c => (c.Net ??= []).Add(net));

    public static ColdAddResult Fs(VmConfig stored, FsConfig fs) =>
        Apply(stored, ApiCatalog.VmAddFs, c => (c.Fs ??= []).Add(fs));

    public static ColdAddResult Pmem(VmConfig stored, PmemConfig pmem) =>
        Apply(stored, ApiCatalog.VmAddPmem, c => (c.Pmem ??= []).Add(pmem));

    public static ColdAddResult Device(VmConfig stored, DeviceConfig device) =>
        Apply(stored, ApiCatalog.VmAddDevice, c => (c.Devices ??= []).Add(device));

    public static ColdAddResult UserDevice(VmConfig stored, UserDeviceConfig device) =>
        Apply(stored, ApiCatalog.VmAddUserDevice, c => (c.UserDevices ??= []).Add(device));

    public static ColdAddResult Vdpa(VmConfig stored, VdpaConfig vdpa) =>
        Apply(stored, ApiCatalog.VmAddVdpa, c => (c.Vdpa ??= []).Add(vdpa));

    public static ColdAddResult GenericVhostUser(VmConfig stored, GenericVhostUserConfig device) =>
        Apply(stored, ApiCatalog.VmAddGenericVhostUser, c => (c.GenericVhostUser ??= []).Add(device));

    /// <summary>
    /// A VM has at most one vsock. Upstream answers a second one with 500 "Too many virtio-vsock
    /// devices" (not a validation error); here it is AlreadyExists (409), like other duplicates.
    /// </summary>
    public static ColdAddResult Vsock(VmConfig stored, VsockConfig vsock)
    {
        ArgumentNullException.ThrowIfNull(stored);
        return stored.Vsock is not null
            ? new ColdAddResult(null, ApiError.For(ApiCatalog.VmAddVsock, ApiErrorKind.AlreadyExists, VmConfigValidator.TooManyVsockDevices))
            : Apply(stored, ApiCatalog.VmAddVsock, c => c.Vsock = vsock);
    }

    private static ColdAddResult Apply(VmConfig stored, ApiAction action, Action<VmConfig> add)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var candidate = stored.Clone();
        add(candidate);
        return VmConfigValidator.Validate(candidate) is { } error
            ? new ColdAddResult(null, error.ToApiError(action))
            : new ColdAddResult(candidate, null);
    }
}
