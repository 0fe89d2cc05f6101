using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.Vmm.Control;

/// <summary>
/// Edits of a stored config that is not booted (contract §1.5): vm.remove-device, vm.resize and
/// vm.resize-zone change the config and the next boot uses it. Callers work on a clone and
/// validate it before storing.
/// </summary>
public static class ConfigEdits
{
    /// <summary>
    /// Removes the device whose id is <paramref name="id"/> from every device list and the vsock,
    /// as upstream's <c>VmConfig::remove_device</c>. False when no device has that id.
    /// </summary>
    public static bool RemoveDevice(VmConfig config, string id)
    {
        ArgumentNullException.ThrowIfNull(config);
        var removed = RemoveFrom(config.Disks, id)
            | RemoveFrom(config.Net, id)
            | RemoveFrom(config.Fs, id)
            | RemoveFrom(config.Pmem, id)
            | RemoveFrom(config.Devices, id)
            | RemoveFrom(config.UserDevices, id)
            | RemoveFrom(config.Vdpa, id)
            | RemoveFrom(config.GenericVhostUser, id);
        if (config.Vsock?.Id == id)
        {
            config.Vsock = null;
            removed = true;
        }

        return removed;
    }

    /// <summary>
    /// vm.resize of a VM that is not booted: boot_vcpus, memory.size and the balloon size (only
    /// when a balloon is configured) take the desired values, as upstream.
    /// </summary>
    public static void Resize(VmConfig config, VmResize resize)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(resize);
        if (resize.DesiredVcpus is { } vcpus)
        {
            config.Cpus.BootVcpus = vcpus;
        }

        if (resize.DesiredRam is { } ram)
        {
            config.Memory.Size = ram;
        }

        if (resize.DesiredBalloon is { } balloon && config.Balloon is { } configured)
        {
            configured.Size = balloon;
        }
    }

    /// <summary>vm.resize-zone of a VM that is not booted: false when no memory zone has the id.</summary>
    public static bool ResizeZone(VmConfig config, VmResizeZone resize)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(resize);
        var zone = config.Memory.Zones?.Find(z => z.Id == resize.Id);
        if (zone is null)
        {
            return false;
        }

        zone.Size = resize.DesiredRam;
        return true;
    }

    private static bool RemoveFrom<T>(List<T>? devices, string id)
        where T : IPciDeviceConfig =>
        devices is not null && devices.RemoveAll(d => d.Id == id) > 0;
}
