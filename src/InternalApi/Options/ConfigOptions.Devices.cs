using System.Text;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

public static partial class ConfigOptions
{
    /// <summary>Upstream's middle message for a bad <c>--disk</c>.</summary>
    public const string DiskFailed = "Failed to parse disk configuration";

    /// <summary>Upstream's middle message for a bad <c>--net</c>.</summary>
    public const string NetFailed = "Failed to parse network configuration";

    /// <summary>Upstream's middle message for a bad <c>--fs</c>.</summary>
    public const string FsFailed = "Failed to parse filesystem configuration";

    /// <summary>Upstream's middle message for a bad <c>--pmem</c>.</summary>
    public const string PmemFailed = "Failed to parse persistent memory configuration";

    /// <summary>Upstream's middle message for a bad <c>--vsock</c>.</summary>
    public const string VsockFailed = "Failed to parse vsock configuration";

    /// <summary>The longest virtio-fs tag in bytes (virtio spec, <c>VIRTIO_FS_TAG_LEN</c>).</summary>
    public const int FsTagMaxBytes = 36;

    /// <summary>
    /// <c>--disk path=,readonly=,direct=,iommu=,num_queues=,queue_size=,vhost_user=,socket=,bw_*=,ops_*=,
    /// id=,pci_segment=,pci_device_id=,rate_limit_group=,queue_affinity=[q@[cpus],..],serial=,
    /// backing_files=,sparse=,image_type=raw|qcow2|vhd|vhdx|vmdk,lock_granularity=byte-range|full</c>.
    /// Defaults: num_queues 1, queue_size 128, sparse on, image_type Unknown (also whenever a
    /// vhost-user socket is given), lock_granularity byte-range.
    /// </summary>
    public static OptionResult<DiskConfig> Disk(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "path", "readonly", "direct", "queue_size", "num_queues", "vhost_user", "socket", "_disable_io_uring", "_disable_aio",
            "serial", "rate_limit_group", "queue_affinity", "backing_files", "sparse", "image_type", "lock_granularity")
            .Add(RateLimiterKeys).Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(DiskFailed);
        }

        var disk = new DiskConfig
        {
            Path = parser.Get("path"),
            Readonly = parser.Toggle("readonly", false),
            Direct = parser.Toggle("direct", false),
            QueueSize = parser.Number<ushort>("queue_size") ?? 128,
            NumQueues = parser.Number<ulong>("num_queues") ?? 1,
            VhostUser = parser.Toggle("vhost_user", false),
            VhostSocket = parser.Get("socket"),
            DisableIoUring = parser.Toggle("_disable_io_uring", false),
            DisableAio = parser.Toggle("_disable_aio", false),
            RateLimitGroup = parser.Get("rate_limit_group"),
            RateLimiterConfig = RateLimiter(parser),
            Serial = parser.Get("serial"),
            QueueAffinity = parser.TupleList<ushort, List<ulong>>("queue_affinity", OptionSyntax.TryParseInteger, OptionSyntax.TryParseIntegerList)
                ?.Select(t => new VirtQueueAffinity { QueueIndex = t.Key, HostCpus = t.Value }).ToList(),
            BackingFiles = parser.Toggle("backing_files", false),
        };

        // Upstream reads image_type only for file-backed disks; a vhost-user disk is always Unknown.
        disk.ImageType = disk.VhostSocket is null
            ? parser.Parsed<ImageType>("image_type", TryParseImageType) ?? ImageType.Unknown
            : ImageType.Unknown;
        disk.LockGranularity = parser.Parsed<LockGranularity>("lock_granularity", TryParseLockGranularity) ?? LockGranularity.ByteRange;
        disk.Sparse = parser.Toggle("sparse", true);
        if (parser.Error is { } error)
        {
            return error.Within(DiskFailed);
        }

        return ApplyPciCommon(input, disk) is { } pci ? pci : disk;
    }

    /// <summary>
    /// <c>--net tap=,ip=,mask=,mac=,host_mac=,mtu=,fd=[..],iommu=,num_queues=,queue_size=,id=,vhost_user=,
    /// socket=,vhost_mode=client|server,bw_*=,ops_*=,pci_segment=,pci_device_id=,offload_tso=,
    /// offload_ufo=,offload_csum=</c>. Defaults: num_queues 2, queue_size 256, offloads on,
    /// vhost_mode client, and a random locally administered MAC when <c>mac</c> is absent (as upstream).
    /// </summary>
    public static OptionResult<NetConfig> Net(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "tap", "ip", "mask", "mac", "host_mac", "offload_tso", "offload_ufo", "offload_csum", "mtu", "queue_size", "num_queues",
            "vhost_user", "socket", "vhost_mode", "fd")
            .Add(RateLimiterKeys).Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(NetFailed);
        }

        var net = new NetConfig
        {
            Tap = parser.Get("tap"),
            Ip = parser.ParsedObject<string>("ip", DequotedIp),
            Mask = parser.ParsedObject<string>("mask", DequotedIp),
            Mac = parser.ParsedObject<string>("mac", DequotedMac) ?? RandomLocalMac(),
            HostMac = parser.ParsedObject<string>("host_mac", DequotedMac),
            OffloadTso = parser.Toggle("offload_tso", true),
            OffloadUfo = parser.Toggle("offload_ufo", true),
            OffloadCsum = parser.Toggle("offload_csum", true),
            Mtu = parser.Number<ushort>("mtu"),
            QueueSize = parser.Number<ushort>("queue_size") ?? 256,
            NumQueues = parser.Number<ulong>("num_queues") ?? 2,
            VhostUser = parser.Toggle("vhost_user", false),
            VhostSocket = parser.Get("socket"),
            VhostMode = parser.Parsed<VhostMode>("vhost_mode", TryParseVhostMode) ?? VhostMode.Client,
            Fds = parser.IntegerList<int>("fd"),
            RateLimiterConfig = RateLimiter(parser),
        };
        if (parser.Error is { } error)
        {
            return error.Within(NetFailed);
        }

        return ApplyPciCommon(input, net) is { } pci ? pci : net;
    }

    /// <summary><c>--rng src=,iommu=,pci_segment=,pci_device_id=</c> (and <c>id</c>); src defaults to /dev/urandom.</summary>
    public static OptionResult<RngConfig> Rng(string input)
    {
        const string failed = "Failed to parse RNG configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("src").Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var rng = new RngConfig { Src = parser.Get("src") ?? "/dev/urandom" };
        return ApplyPciCommon(input, rng) is { } pci ? pci : rng;
    }

    /// <summary><c>--balloon size=,deflate_on_oom=,free_page_reporting=,iommu=,id=,pci_segment=,pci_device_id=</c>; size defaults to 0.</summary>
    public static OptionResult<BalloonConfig> Balloon(string input)
    {
        const string failed = "Failed to parse balloon configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("size", "deflate_on_oom", "free_page_reporting").Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var balloon = new BalloonConfig
        {
            Size = parser.Size("size") ?? 0,
            DeflateOnOom = parser.Toggle("deflate_on_oom", false),
            FreePageReporting = parser.Toggle("free_page_reporting", false),
        };
        if (parser.Error is { } error)
        {
            return error.Within(failed);
        }

        return ApplyPciCommon(input, balloon) is { } pci ? pci : balloon;
    }

    /// <summary>
    /// <c>--fs tag=,socket=,num_queues=,queue_size=,id=,pci_segment=,pci_device_id=</c>; tag (at most
    /// 36 bytes) and socket are required; num_queues 1 and queue_size 1024 by default. No iommu.
    /// </summary>
    public static OptionResult<FsConfig> Fs(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("tag", "queue_size", "num_queues", "socket").Add(PciKeysWithoutIommu);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(FsFailed);
        }

        if (parser.Get("tag") is not { } tag)
        {
            return OptionError.Of("Filesystem tag is missing");
        }

        if (Encoding.UTF8.GetByteCount(tag) > FsTagMaxBytes)
        {
            return OptionError.Of("Filesystem tag is too long");
        }

        if (parser.Get("socket") is not { } socket)
        {
            return OptionError.Of("Filesystem socket is missing");
        }

        var fs = new FsConfig
        {
            Tag = tag,
            Socket = socket,
            QueueSize = parser.Number<ushort>("queue_size") ?? 1024,
            NumQueues = parser.Number<ulong>("num_queues") ?? 1,
        };
        if (parser.Error is { } error)
        {
            return error.Within(FsFailed);
        }

        return ApplyPciCommon(input, fs) is { } pci ? pci : fs;
    }

    /// <summary><c>--pmem file=,size=,iommu=,discard_writes=,id=,pci_segment=,pci_device_id=</c>; file is required.</summary>
    public static OptionResult<PmemConfig> Pmem(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("size", "file", "discard_writes").Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(PmemFailed);
        }

        var common = new PmemConfig { File = string.Empty };
        if (ApplyPciCommon(input, common) is { } pci)
        {
            return pci;
        }

        if (parser.Get("file") is not { } file)
        {
            return OptionError.Of("Persistent memory file is missing");
        }

        common.File = file;
        common.Size = parser.Size("size");
        common.DiscardWrites = parser.Toggle("discard_writes", false);
        return Done(parser, PmemFailed, common);
    }

    /// <summary>
    /// <c>--device path=,fd=,iommu=,id=,pci_segment=,pci_device_id=,x_nv_gpudirect_clique=,
    /// x_exclude_mmap_bars=[..]</c>. "path or fd" is a validation rule, not a parse rule.
    /// </summary>
    public static OptionResult<DeviceConfig> Device(string input)
    {
        const string failed = "Failed to parse device configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path", "fd").Add(PciKeys).Add("x_nv_gpudirect_clique", "x_exclude_mmap_bars");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var device = new DeviceConfig();
        if (ApplyPciCommon(input, device) is { } pci)
        {
            return pci;
        }

        device.Path = parser.Get("path");
        device.Fd = parser.Number<int>("fd");
        device.XNvGpudirectClique = parser.Number<byte>("x_nv_gpudirect_clique");
        device.XExcludeMmapBars = parser.IntegerList<ulong>("x_exclude_mmap_bars") ?? [];
        return Done(parser, failed, device);
    }

    /// <summary><c>--user-device socket=,id=,pci_segment=,pci_device_id=</c>; socket is required. No iommu.</summary>
    public static OptionResult<UserDeviceConfig> UserDevice(string input)
    {
        const string failed = "Failed to parse userspace device configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("socket").Add(PciKeysWithoutIommu);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var device = new UserDeviceConfig { Socket = string.Empty };
        if (ApplyPciCommon(input, device) is { } pci)
        {
            return pci;
        }

        if (parser.Get("socket") is not { } socket)
        {
            return OptionError.Of("Userspace device socket is missing");
        }

        device.Socket = socket;
        return device;
    }

    /// <summary><c>--vdpa path=,num_queues=,iommu=,id=,pci_segment=,pci_device_id=</c>; path is required, num_queues 1.</summary>
    public static OptionResult<VdpaConfig> Vdpa(string input)
    {
        const string failed = "Failed to parse vDPA configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path", "num_queues").Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var vdpa = new VdpaConfig { Path = string.Empty };
        if (ApplyPciCommon(input, vdpa) is { } pci)
        {
            return pci;
        }

        if (parser.Get("path") is not { } path)
        {
            return OptionError.Of("vDPA path is missing");
        }

        vdpa.Path = path;
        vdpa.NumQueues = parser.Number<ulong>("num_queues") ?? 1;
        return Done(parser, failed, vdpa);
    }

    /// <summary><c>--vsock cid=,socket=,iommu=,id=,pci_segment=,pci_device_id=</c>; cid (u32) and socket are required.</summary>
    public static OptionResult<VsockConfig> Vsock(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("socket", "cid").Add(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(VsockFailed);
        }

        var vsock = new VsockConfig { Cid = 0, Socket = string.Empty };
        if (ApplyPciCommon(input, vsock) is { } pci)
        {
            return pci;
        }

        if (parser.Get("socket") is not { } socket)
        {
            return OptionError.Of("Vsock socket is missing");
        }

        var cid = parser.Number<uint>("cid");
        if (parser.Error is { } error)
        {
            return error.Within(VsockFailed);
        }

        if (cid is null)
        {
            return OptionError.Of("Vsock CID is missing");
        }

        vsock.Socket = socket;
        vsock.Cid = cid.Value;
        return vsock;
    }

    /// <summary><c>--rtc iommu=,id=,pci_segment=,pci_device_id=</c>; may be given with an empty value.</summary>
    public static OptionResult<RtcConfig> Rtc(string input)
    {
        const string failed = "Failed to parse RTC configuration";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(PciKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(failed);
        }

        var rtc = new RtcConfig();
        return ApplyPciCommon(input, rtc) is { } pci ? pci : rtc;
    }

    /// <summary><c>--tpm socket=&lt;swtpm socket&gt;</c>; socket is required.</summary>
    public static OptionResult<TpmConfig> Tpm(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("socket");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within("Failed to parse TPM configuration");
        }

        return parser.Get("socket") is { } socket
            ? new TpmConfig { Socket = socket }
            : OptionError.Of("TPM socket path is missing");
    }

    private static bool TryParseImageType(string text, out ImageType type)
    {
        (var ok, type) = text.ToLowerInvariant() switch
        {
            "raw" => (true, ImageType.Raw),
            "qcow2" => (true, ImageType.Qcow2),
            "vhd" => (true, ImageType.FixedVhd),
            "vhdx" => (true, ImageType.Vhdx),
            "vmdk" => (true, ImageType.FlatVmdk),
            _ => (false, ImageType.Unknown),
        };
        return ok;
    }

    private static bool TryParseLockGranularity(string text, out LockGranularity granularity)
    {
        (var ok, granularity) = text switch
        {
            "byte-range" => (true, LockGranularity.ByteRange),
            "full" => (true, LockGranularity.Full),
            _ => (false, LockGranularity.ByteRange),
        };
        return ok;
    }

    private static bool TryParseVhostMode(string text, out VhostMode mode)
    {
        (var ok, mode) = text.ToLowerInvariant() switch
        {
            "client" => (true, VhostMode.Client),
            "server" => (true, VhostMode.Server),
            _ => (false, VhostMode.Client),
        };
        return ok;
    }

    private static bool DequotedIp(string text, out string ip) => TryParseIp(OptionSyntax.Dequote(text), out ip);

    private static bool DequotedMac(string text, out string mac) => TryParseMac(OptionSyntax.Dequote(text), out mac);
}
