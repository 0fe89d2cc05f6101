using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

public static partial class ConfigOptions
{
    /// <summary>Upstream's middle message for a bad <c>--numa</c>.</summary>
    public const string NumaFailed = "Failed to parse NUMA configuration";

    /// <summary>Upstream's middle message for a bad <c>--generic-vhost-user</c>.</summary>
    public const string GenericVhostUserFailed = "Failed to parse generic vhost-user configuration";

    // Symbolic virtio device types (Linux include/uapi/linux/virtio_ids.h); 42-49 are the numbers
    // upstream assigns to types newer than its bindings.
    private static readonly Dictionary<string, uint> VirtioDeviceTypes = new(StringComparer.Ordinal)
    {
        ["net"] = 1, ["block"] = 2, ["console"] = 3, ["rng"] = 4, ["balloon"] = 5, ["iomem"] = 6, ["rpmsg"] = 7,
        ["scsi"] = 8, ["9p"] = 9, ["mac80211_wlan"] = 10, ["rproc_serial"] = 11, ["caif"] = 12, ["memory_balloon"] = 13,
        ["gpu"] = 16, ["clock"] = 17, ["input"] = 18, ["vsock"] = 19, ["crypto"] = 20, ["signal_dist"] = 21,
        ["pstore"] = 22, ["iommu"] = 23, ["mem"] = 24, ["sound"] = 25, ["fs"] = 26, ["pmem"] = 27, ["rpmb"] = 28,
        ["mac80211_hwsim"] = 29, ["video_encoder"] = 30, ["video_decoder"] = 31, ["scmi"] = 32, ["nitro_sec_mod"] = 33,
        ["i2c"] = 34, ["watchdog"] = 35, ["can"] = 36, ["dmabuf"] = 37, ["param_serv"] = 38, ["audio_policy"] = 39,
        ["bt"] = 40, ["gpio"] = 41, ["rdma"] = 42, ["camera"] = 43, ["ism"] = 44, ["spi"] = 45, ["tee"] = 46,
        ["cpu_balloon"] = 47, ["media"] = 48, ["usb"] = 49,
    };

    /// <summary>
    /// <c>--numa guest_numa_id=,cpus=[..],distances=[dest@dist,..],memory_zones=[..],pci_segments=[..],device_id=</c>;
    /// guest_numa_id is required; device_id excludes cpus and memory_zones.
    /// </summary>
    public static OptionResult<NumaConfig> Numa(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("guest_numa_id", "cpus", "distances", "device_id", "memory_zones", "pci_segments");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(NumaFailed);
        }

        var id = parser.Number<uint>("guest_numa_id");
        if (parser.Error is { } idError)
        {
            return idError.Within(NumaFailed);
        }

        if (id is null)
        {
            return OptionError.Of(NumaFailed, OptionMessages.InvalidValue("guest_numa_id is required for all NUMA nodes"));
        }

        var numa = new NumaConfig
        {
            GuestNumaId = id.Value,
            Cpus = parser.IntegerList<uint>("cpus"),
            Distances = parser.TupleList<uint, byte>("distances", OptionSyntax.TryParseInteger, OptionSyntax.TryParseInteger)
                ?.Select(t => new NumaDistance { Destination = t.Key, Distance = t.Value }).ToList(),
            DeviceId = parser.Get("device_id"),
            MemoryZones = parser.StringList("memory_zones"),
            PciSegments = parser.IntegerList<ushort>("pci_segments"),
        };
        if (parser.Error is { } error)
        {
            return error.Within(NumaFailed);
        }

        if (numa.DeviceId is not null && (numa.Cpus is not null || numa.MemoryZones is not null))
        {
            return OptionError.Of(NumaFailed, OptionMessages.InvalidValue("device_id in numa config cannot be used with cpus or memory zones"));
        }

        return numa;
    }

    /// <summary><c>--pci-segment pci_segment=,mmio32_aperture_weight=,mmio64_aperture_weight=</c>; weights default to 1.</summary>
    public static OptionResult<PciSegmentConfig> PciSegment(string input)
    {
        const string failed = "Failed to parse PCI segment configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("mmio32_aperture_weight", "mmio64_aperture_weight", "pci_segment");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var segment = new PciSegmentConfig
        {
            PciSegment = parser.Number<ushort>("pci_segment") ?? 0,
            Mmio32ApertureWeight = parser.Number<uint>("mmio32_aperture_weight") ?? 1,
            Mmio64ApertureWeight = parser.Number<uint>("mmio64_aperture_weight") ?? 1,
        };
        return Done(parser, failed, segment);
    }

    /// <summary>
    /// <c>--platform num_pci_segments=,iommu_segments=[..],iommu_address_width=,iommufd=,iommufd_fd=,
    /// vfio_p2p_dma=,system_manufacturer=,system_product_name=,system_version=,system_serial_number=,
    /// system_uuid=,system_sku_number=,system_family=,oem_strings=[..],chassis_asset_tag=</c> (and the
    /// deprecated <c>serial_number</c>, <c>uuid</c>). <c>iommufd</c> defaults to on when <c>iommufd_fd</c> is given.
    /// </summary>
    public static OptionResult<PlatformConfig> Platform(string input)
    {
        const string failed = "Failed to parse platform configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "num_pci_segments", "iommu_segments", "iommu_address_width", "serial_number", "uuid", "oem_strings", "iommufd",
            "iommufd_fd", "vfio_p2p_dma", "system_manufacturer", "system_product_name", "system_version",
            "system_serial_number", "system_uuid", "system_sku_number", "system_family", "chassis_asset_tag");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var platform = new PlatformConfig
        {
            NumPciSegments = parser.Number<ushort>("num_pci_segments") ?? 1,
            IommuSegments = parser.IntegerList<ushort>("iommu_segments"),
            IommuAddressWidthBits = parser.Number<byte>("iommu_address_width") ?? 64,
            SystemSerialNumber = parser.Get("system_serial_number") ?? parser.Get("serial_number"),
            SystemUuid = parser.Get("system_uuid") ?? parser.Get("uuid"),
            OemStrings = parser.StringList("oem_strings"),
            SystemManufacturer = parser.Get("system_manufacturer"),
            SystemProductName = parser.Get("system_product_name"),
            SystemVersion = parser.Get("system_version"),
            SystemFamily = parser.Get("system_family"),
            SystemSkuNumber = parser.Get("system_sku_number"),
            ChassisAssetTag = parser.Get("chassis_asset_tag"),
            IommufdFd = parser.Number<int>("iommufd_fd"),
            VfioP2pDma = parser.Toggle("vfio_p2p_dma", true),
        };
        platform.Iommufd = parser.Toggle("iommufd", platform.IommufdFd is not null);
        return Done(parser, failed, platform);
    }

    /// <summary>
    /// <c>--rate-limit-group id=,bw_size=,bw_one_time_burst=,bw_refill_time=,ops_size=,ops_one_time_burst=,ops_refill_time=</c>.
    /// A missing id is the empty string, as upstream.
    /// </summary>
    public static OptionResult<RateLimitGroupConfig> RateLimitGroup(string input)
    {
        const string failed = "Failed to parse rate limiter group configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(RateLimiterKeys).Add("id");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var group = new RateLimitGroupConfig
        {
            Id = parser.Get("id") ?? string.Empty,
            RateLimiterConfig = RateLimiter(parser) ?? new RateLimiterConfig(),
        };
        return Done(parser, failed, group);
    }

    /// <summary><c>--landlock-rules path=,access=</c>; both required, access at most two characters (e.g. <c>rw</c>).</summary>
    public static OptionResult<LandlockConfig> LandlockRule(string input)
    {
        const string failed = "Failed to parse Landlock configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path", "access");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        if (parser.Get("path") is not { } path || parser.Get("access") is not { } access)
        {
            return OptionError.Of("Landlock path or access is missing");
        }

        return access.EnumerateRunes().Count() > 2
            ? OptionError.Of(failed, OptionMessages.InvalidValue(access))
            : new LandlockConfig { Path = path, Access = access };
    }

    /// <summary>
    /// <c>--generic-vhost-user device_type=&lt;number or name&gt;,socket=,queue_sizes=[..],id=,pci_segment=,pci_device_id=</c>
    /// (<c>virtio_id</c> is the deprecated spelling of device_type); socket, queue_sizes and
    /// device_type are required; watchdog and iommu types are refused.
    /// </summary>
    public static OptionResult<GenericVhostUserConfig> GenericVhostUser(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("device_type", "virtio_id", "queue_sizes", "socket").Add(PciKeysWithoutIommu);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(GenericVhostUserFailed);
        }

        if (parser.Get("socket") is not { } socket)
        {
            return OptionError.Of("Generic vhost-user socket is missing");
        }

        var queueSizes = parser.IntegerList<ushort>("queue_sizes");
        if (parser.Error is { } error)
        {
            return error.Within(GenericVhostUserFailed);
        }

        if (queueSizes is null)
        {
            return OptionError.Of("Generic vhost-user queue sizes are missing");
        }

        if ((parser.Get("device_type") ?? parser.Get("virtio_id")) is not { } typeText)
        {
            return OptionError.Of("Generic vhost-user device type is missing");
        }

        uint deviceType;
        if (VirtioDeviceTypes.TryGetValue(typeText, out var known))
        {
            deviceType = known;
        }
        else if (typeText[0] is < '1' or > '9' || !OptionSyntax.TryParseInteger(typeText, out deviceType))
        {
            return OptionError.Of($"Invalid generic vhost-user device type: {typeText}");
        }

        if (deviceType is 35 or 23)
        {
            return OptionError.Of($"Unsupported generic vhost-user device type: {typeText}");
        }

        var device = new GenericVhostUserConfig { Socket = socket, QueueSizes = queueSizes, DeviceType = deviceType };
        return ApplyPciCommon(input, device) is { } pci ? pci : device;
    }
}
