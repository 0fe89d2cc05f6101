using System.Net;
using System.Text.RegularExpressions;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

// The per-device checks of upstream's VmConfig::validate(), in upstream's order.
public static partial class VmConfigValidator
{
    private const string VhostUserRequiresSharedMemory = "Using vhost-user requires using shared memory or huge pages";

    private static ConfigValidationError? RateLimitGroups(VmConfig config, HashSet<string> ids)
    {
        foreach (var group in config.RateLimitGroups ?? [])
        {
            if (group.RateLimiterConfig.Bandwidth is null && group.RateLimiterConfig.Ops is null)
            {
                return ConfigValidationError.Invalid($"Rate limit group {group.Id} has neither a bandwidth nor an ops bucket");
            }

            if (Identifier(ids, group.Id) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private static ConfigValidationError? Disks(VmConfig config, HashSet<string> ids)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var disk in config.Disks ?? [])
        {
            var error = (disk.VhostSocket, disk.Path) switch
            {
                (not null, not null) => ConfigValidationError.Invalid("Disk path and vhost socket both provided"),
                _ when disk.VhostUser && !BackedBySharedMemory(config.Memory) => ConfigValidationError.Invalid(VhostUserRequiresSharedMemory),
                _ when disk.VhostUser && disk.VhostSocket is null => ConfigValidationError.Invalid("No socket provided when using vhost-user"),
                _ when disk.RateLimitGroup is { } group && !(config.RateLimitGroups ?? []).Exists(g => g.Id == group)
                    => ConfigValidationError.Invalid("Invalid rate-limiter group"),
                _ when disk.QueueSize < MinimumBlockQueueSize
                    => ConfigValidationError.Invalid($"Queue size is smaller than {MinimumBlockQueueSize}: {disk.QueueSize}"),
                _ when disk.NumQueues == 0 || disk.NumQueues > config.Cpus.BootVcpus
                    => ConfigValidationError.Invalid("Number of vCPUs is insufficient for number of queues"),
                _ when disk.Serial is { Length: > MaxBlockSerialLength }
                    => ConfigValidationError.Invalid($"Block device serial length ({disk.Serial.Length}) exceeds maximum allowed length ({MaxBlockSerialLength})"),
                _ when disk.Path is { } path && !paths.Add(path) => ConfigValidationError.Duplicate($"Duplicated device path: {path}"),
                _ => PciPlacement(config, disk),
            };
            if ((error ?? Identifier(ids, disk.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static ConfigValidationError? Nets(VmConfig config, HashSet<string> ids)
    {
        foreach (var net in config.Net ?? [])
        {
            var error = net switch
            {
                { VhostUser: true } when !BackedBySharedMemory(config.Memory) => ConfigValidationError.Invalid(VhostUserRequiresSharedMemory),
                { NumQueues: < 2 } => ConfigValidationError.Invalid("Number of queues to virtio_net less than 2"),
                { Fds: { } fds } when (ulong)fds.Count * 2 != net.NumQueues
                    => ConfigValidationError.Invalid("Number of queues to virtio_net does not match the number of input FDs"),
                { Fds: { } fds } when fds.Exists(fd => fd <= 2) => ConfigValidationError.Invalid("Reserved fd number (<= 2)"),
                _ when net.NumQueues / 2 > config.Cpus.BootVcpus => ConfigValidationError.Invalid("Number of vCPUs is insufficient for number of queues"),
                { VhostUser: true, VhostSocket: null } => ConfigValidationError.Invalid("No socket provided when using vhost-user"),
                { Mtu: < MinimumMtu } => ConfigValidationError.Invalid($"Provided MTU {net.Mtu} is lower than {MinimumMtu} (expected by VIRTIO specification)"),
                { OffloadCsum: false } when net.OffloadTso || net.OffloadUfo
                    => ConfigValidationError.Invalid("\"offload_tso\" and \"offload_ufo\" depend on \"offload_csum\""),
                _ => NetAddresses(net) ?? PciPlacement(config, net),
            };
            if ((error ?? Identifier(ids, net.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>ip and mask come together or not at all (contract §9 item 9); every address must parse.</summary>
    private static ConfigValidationError? NetAddresses(NetConfig net)
    {
        if ((net.Ip is null) != (net.Mask is null))
        {
            return ConfigValidationError.Invalid("Network ip and mask must be given together or not at all");
        }

        if (net.Ip is { } ip && !IsIpAddress(ip))
        {
            return ConfigValidationError.Invalid($"Invalid IP address: {ip}");
        }

        if (net.Mask is { } mask && !IsNetmask(mask))
        {
            return ConfigValidationError.Invalid($"Invalid network mask: {mask}");
        }

        if (net.Ip is { } a && net.Mask is { } m && IPAddress.Parse(a).AddressFamily != IPAddress.Parse(m).AddressFamily)
        {
            return ConfigValidationError.Invalid("Network ip and mask must be of the same address family");
        }

        foreach (var mac in new[] { net.Mac, net.HostMac })
        {
            if (mac is not null && !MacAddress().IsMatch(mac))
            {
                return ConfigValidationError.Invalid($"Invalid MAC address: {mac}");
            }
        }

        return null;
    }

    /// <summary>A netmask is an address whose bits are ones followed by zeros.</summary>
    private static bool IsNetmask(string text)
    {
        if (!IPAddress.TryParse(text, out var address))
        {
            return false;
        }

        var seenZero = false;
        foreach (var b in address.GetAddressBytes())
        {
            for (var bit = 7; bit >= 0; bit--)
            {
                var one = (b >> bit & 1) == 1;
                if (one && seenZero)
                {
                    return false;
                }

                seenZero |= !one;
            }
        }

        return true;
    }

    [GeneratedRegex("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    private static partial Regex MacAddress();

    private static ConfigValidationError? Fs(VmConfig config, HashSet<string> ids)
    {
        if (config.Fs is { Count: > 0 } && !BackedBySharedMemory(config.Memory))
        {
            return ConfigValidationError.Invalid(VhostUserRequiresSharedMemory);
        }

        foreach (var fs in config.Fs ?? [])
        {
            var error = fs switch
            {
                { NumQueues: 0 } => ConfigValidationError.Invalid("Number of queues of a virtio-fs device must be at least 1"),
                { QueueSize: 0 } => ConfigValidationError.Invalid("Queue size of a virtio-fs device must be at least 1"),
                _ => PciPlacement(config, fs, supportsIommu: false),
            };
            if ((error ?? Identifier(ids, fs.Id)) is { } found)
            {
                return found;
            }
        }

        foreach (var device in config.GenericVhostUser ?? [])
        {
            var error = !BackedBySharedMemory(config.Memory)
                ? ConfigValidationError.Invalid(VhostUserRequiresSharedMemory)
                : device.QueueSizes.Count == 0
                    ? ConfigValidationError.Invalid("A generic vhost-user device needs at least one queue")
                    : PciPlacement(config, device, supportsIommu: false);
            if ((error ?? Identifier(ids, device.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static ConfigValidationError? Pmems(VmConfig config, HashSet<string> ids)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pmem in config.Pmem ?? [])
        {
            var error = !files.Add(pmem.File)
                ? ConfigValidationError.Duplicate($"Duplicated device path: {pmem.File}")
                : PciPlacement(config, pmem);
            if ((error ?? Identifier(ids, pmem.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static ConfigValidationError? UserDevices(VmConfig config, HashSet<string> ids)
    {
        if (config.UserDevices is { Count: > 0 } && !BackedBySharedMemory(config.Memory))
        {
            return ConfigValidationError.Invalid("Using user devices requires using shared memory or huge pages");
        }

        foreach (var device in config.UserDevices ?? [])
        {
            if ((PciPlacement(config, device, supportsIommu: false) ?? Identifier(ids, device.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static ConfigValidationError? Vdpas(VmConfig config, HashSet<string> ids)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vdpa in config.Vdpa ?? [])
        {
            var error = !paths.Add(vdpa.Path)
                ? ConfigValidationError.Duplicate($"Duplicated device path: {vdpa.Path}")
                : vdpa.NumQueues == 0
                    ? ConfigValidationError.Invalid("Number of queues of a vDPA device must be at least 1")
                    : PciPlacement(config, vdpa);
            if ((error ?? Identifier(ids, vdpa.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static ConfigValidationError? Vsock(VmConfig config, HashSet<string> ids)
    {
        if (config.Vsock is not { } vsock)
        {
            return null;
        }

        // CIDs 0, 1 and 2 (hypervisor, local, host) and u32::MAX (any) cannot name a guest.
        if (vsock.Cid is 0 or 1 or 2 or uint.MaxValue)
        {
            return ConfigValidationError.Invalid($"{vsock.Cid} is a special VSOCK CID");
        }

        return PciPlacement(config, vsock) ?? Identifier(ids, vsock.Id);
    }

    private static ConfigValidationError? Balloon(VmConfig config, HashSet<string> ids)
    {
        if (config.Balloon is not { } balloon)
        {
            return null;
        }

        var ram = MemorySize.Configured(config);
        if (balloon.Size >= ram)
        {
            // Upstream's spelling, kept so clients matching on it keep working.
            return ConfigValidationError.Invalid($"Ballon size ({balloon.Size}) greater than RAM ({ram})");
        }

        return PciPlacement(config, balloon, supportsIommu: false) ?? Identifier(ids, balloon.Id);
    }

    private static ConfigValidationError? VfioDevices(VmConfig config, HashSet<string> ids)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var device in config.Devices ?? [])
        {
            var error = (device.Path, device.Fd) switch
            {
                (null, null) => ConfigValidationError.Invalid("A VFIO device needs either a sysfs path or a cdev file descriptor"),
                (not null, not null) => ConfigValidationError.Invalid("A VFIO device takes a sysfs path or a cdev file descriptor, not both"),
                ({ } path, _) when !paths.Add(path) => ConfigValidationError.Duplicate($"Duplicated device path: {path}"),
                _ => PciPlacement(config, device),
            };
            if ((error ?? Identifier(ids, device.Id)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>The single devices with a PCI address: rng, console, rtc.</summary>
    private static ConfigValidationError? Singletons(VmConfig config, HashSet<string> ids) =>
        PciPlacement(config, config.Rng)
        ?? Identifier(ids, config.Rng.Id)
        ?? PciPlacement(config, config.Console)
        ?? Identifier(ids, config.Console.Id)
        ?? (config.Rtc is { } rtc ? PciPlacement(config, rtc, supportsIommu: false) ?? Identifier(ids, rtc.Id) : null);

    private static ConfigValidationError? Numa(VmConfig config)
    {
        var zones = new Dictionary<string, uint>(StringComparer.Ordinal);
        var segments = new Dictionary<ushort, uint>();
        var segmentCount = NumPciSegments(config);
        foreach (var node in config.Numa ?? [])
        {
            foreach (var zone in node.MemoryZones ?? [])
            {
                if (!zones.TryAdd(zone, node.GuestNumaId))
                {
                    return ConfigValidationError.Invalid($"Memory zone: {zone} belongs to multiple NUMA nodes: {zones[zone]} and {node.GuestNumaId}");
                }
            }

            foreach (var segment in node.PciSegments ?? [])
            {
                if (segment >= segmentCount)
                {
                    return ConfigValidationError.Invalid($"Invalid PCI segment id: {segment}");
                }

                if (segment == 0 && node.GuestNumaId != 0)
                {
                    return ConfigValidationError.Invalid($"Default PCI segment assigned to non-zero NUMA node {node.GuestNumaId}");
                }

                if (!segments.TryAdd(segment, node.GuestNumaId))
                {
                    return ConfigValidationError.Invalid($"PCI segment: {segment} belongs to multiple NUMA nodes {segments[segment]} and {node.GuestNumaId}");
                }
            }
        }

        return null;
    }

    private static ConfigValidationError? MemoryZoneIds(VmConfig config, HashSet<string> ids)
    {
        foreach (var zone in config.Memory.Zones ?? [])
        {
            if (Identifier(ids, zone.Id) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private static ConfigValidationError? PciSegments(VmConfig config)
    {
        foreach (var segment in config.PciSegments ?? [])
        {
            if (segment.PciSegment >= NumPciSegments(config))
            {
                return ConfigValidationError.Invalid($"Invalid PCI segment id: {segment.PciSegment}");
            }

            if (segment.Mmio32ApertureWeight == 0 || segment.Mmio64ApertureWeight == 0)
            {
                var weight = Math.Min(segment.Mmio32ApertureWeight, segment.Mmio64ApertureWeight);
                return ConfigValidationError.Invalid($"Invalid PCI segment aperture weight: {weight}");
            }
        }

        return null;
    }

    private static ConfigValidationError? Platform(PlatformConfig? platform)
    {
        if (platform is null)
        {
            return null;
        }

        if (platform.NumPciSegments is 0 or > MaxPciSegments)
        {
            return ConfigValidationError.Invalid($"Number of PCI segments ({platform.NumPciSegments}) not in range of 1 to {MaxPciSegments}");
        }

        foreach (var segment in platform.IommuSegments ?? [])
        {
            if (segment >= platform.NumPciSegments)
            {
                return ConfigValidationError.Invalid($"Invalid PCI segment id: {segment}");
            }
        }

        if (platform.IommuAddressWidthBits > MaxIommuAddressWidthBits)
        {
            return ConfigValidationError.Invalid($"IOMMU address width in bits ({platform.IommuAddressWidthBits}) should be less than or equal to {MaxIommuAddressWidthBits}");
        }

        if (platform.Tdx || platform.SevSnp)
        {
            return ConfigValidationError.Invalid("Confidential guests (tdx, sev_snp) are not supported by this build");
        }

        return null;
    }

    private static ConfigValidationError? LandlockRules(VmConfig config)
    {
        foreach (var rule in config.LandlockRules ?? [])
        {
            if (rule.Access.Length == 0 || rule.Access.Any(c => c is not ('r' or 'w')))
            {
                return ConfigValidationError.Invalid("access provided in landlock-rules in invalid");
            }
        }

        return null;
    }
}
