using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

/// <summary>
/// Upstream's device ids (contract §1.5). Devices without an id get <c>&lt;prefix&gt;&lt;n&gt;</c> at boot,
/// written back into the stored config; singletons use fixed names beginning with "__", which
/// validation forbids in user ids. The VMM should not write the singleton names into the config
/// (upstream keeps them in its device tree only), so a re-validated config stays valid.
/// </summary>
public static class DeviceIds
{
    public const string DiskPrefix = "_disk";
    public const string NetPrefix = "_net";
    public const string PmemPrefix = "_pmem";
    public const string FsPrefix = "_fs";
    public const string VsockPrefix = "_vsock";
    public const string VdpaPrefix = "_vdpa";
    public const string VfioPrefix = "_vfio";
    public const string VfioUserPrefix = "_vfio_user";
    public const string GenericVhostUserPrefix = "_generic_vhost_user";

    public const string Rng = "__rng";
    public const string Console = "__console";
    public const string Serial = "__serial";
    public const string Balloon = "__balloon";
    public const string Watchdog = "__watchdog";
    public const string Rtc = "__rtc";
    public const string Iommu = "__iommu";
    public const string Pvpanic = "__pvpanic";

    /// <summary>Every id present in the config: devices, rate-limit groups and memory zones.</summary>
    public static IEnumerable<string> InUse(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var device in Devices(config))
        {
            if (device.Id is { } id)
            {
                yield return id;
            }
        }

        foreach (var group in config.RateLimitGroups ?? [])
        {
            yield return group.Id;
        }

        foreach (var zone in config.Memory.Zones ?? [])
        {
            yield return zone.Id;
        }
    }

    /// <summary>
    /// Gives every id-less device its upstream auto id, in upstream's creation order (disks, net,
    /// fs, pmem, vsock, vdpa, generic vhost-user, VFIO, vfio-user), never reusing a taken id.
    /// Returns the allocator, which the VMM keeps for hot-plugged devices.
    /// </summary>
    public static DeviceIdAllocator Assign(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var allocator = new DeviceIdAllocator(InUse(config));
        AssignNew(allocator, config);
        return allocator;
    }

    /// <summary>Hot add on a booted VM: ids for entries without one come from the allocator the boot used, so the counter goes on.</summary>
    public static void AssignNew(DeviceIdAllocator allocator, VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        ArgumentNullException.ThrowIfNull(config);
        AssignAll(allocator, config.Disks, DiskPrefix);
        AssignAll(allocator, config.Net, NetPrefix);
        AssignAll(allocator, config.Fs, FsPrefix);
        AssignAll(allocator, config.Pmem, PmemPrefix);
        if (config.Vsock is { Id: null } vsock)
        {
            vsock.Id = allocator.Next(VsockPrefix);
        }

        AssignAll(allocator, config.Vdpa, VdpaPrefix);
        AssignAll(allocator, config.GenericVhostUser, GenericVhostUserPrefix);
        AssignAll(allocator, config.Devices, VfioPrefix);
        AssignAll(allocator, config.UserDevices, VfioUserPrefix);
    }

    /// <summary>The id a singleton device is known by: the configured one, else upstream's fixed name.</summary>
    public static string Effective(IPciDeviceConfig device, string fixedName)
    {
        ArgumentNullException.ThrowIfNull(device);
        return device.Id ?? fixedName;
    }

    /// <summary>Every PCI device object of the config, lists first, then the singletons.</summary>
    public static IEnumerable<IPciDeviceConfig> Devices(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        IEnumerable<IPciDeviceConfig>[] lists =
        [
            config.Disks ?? [], config.Net ?? [], config.Fs ?? [], config.Pmem ?? [], config.Vdpa ?? [],
            config.GenericVhostUser ?? [], config.Devices ?? [], config.UserDevices ?? [],
        ];
        foreach (var device in lists.SelectMany(l => l))
        {
            yield return device;
        }

        if (config.Vsock is { } vsock)
        {
            yield return vsock;
        }

        if (config.Balloon is { } balloon)
        {
            yield return balloon;
        }

        yield return config.Rng;
        yield return config.Console;
        if (config.Rtc is { } rtc)
        {
            yield return rtc;
        }
    }

    private static void AssignAll<T>(DeviceIdAllocator allocator, List<T>? devices, string prefix)
        where T : IPciDeviceConfig
    {
        foreach (var device in devices ?? [])
        {
            device.Id ??= allocator.Next(prefix);
        }
    }
}

/// <summary>
/// Upstream's <c>next_device_name</c>: one counter shared by every prefix, skipping names in use.
/// So with one id-less disk and one id-less net the ids are <c>_disk0</c> and <c>_net1</c>, and a
/// disk hot-plugged next is <c>_disk2</c>. Not thread-safe; the control loop owns it.
/// </summary>
public sealed class DeviceIdAllocator
{
    private readonly HashSet<string> _taken;
    private ulong _counter;

    public DeviceIdAllocator(IEnumerable<string> taken) =>
        _taken = new HashSet<string>(taken, StringComparer.Ordinal);

    /// <summary>True when <paramref name="id"/> names a device already.</summary>
    public bool IsTaken(string id) => _taken.Contains(id);

    /// <summary>The next free <c>&lt;prefix&gt;&lt;n&gt;</c>, now taken.</summary>
    public string Next(string prefix)
    {
        while (true)
        {
            var name = prefix + _counter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _counter++;
            if (_taken.Add(name))
            {
                return name;
            }
        }
    }

    /// <summary>Marks a user-given id as taken; false when it already was.</summary>
    public bool Reserve(string id) => _taken.Add(id);

    /// <summary>Frees the id of a removed device so a later user id may use it.</summary>
    public void Release(string id) => _taken.Remove(id);
}
