using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// A ch-remote request body plus the descriptors that travel beside it with SCM_RIGHTS (contract
/// §1.6), in the order the VMM expects them. The descriptors are removed from the body.
/// </summary>
/// <param name="Body">The model to serialize as the request body.</param>
/// <param name="Fds">The descriptors to send with the first chunk; empty when none.</param>
public sealed record RemoteRequest<T>(T Body, IReadOnlyList<int> Fds);

/// <summary>
/// ch-remote's argument forms (contract §7.2): the same option strings as the CLI, parsed in the
/// client, which then sends JSON. Each failure's chain starts with ch-remote's top message, e.g.
/// <c>["Error parsing disk syntax", "Failed to parse disk configuration", "Unknown option: x"]</c>.
/// </summary>
public static class RemoteOptions
{
    /// <summary>The middle message of a bad send-migration option string.</summary>
    public const string SendMigrationFailed = "Failed to parse vm send migration configuration";

    /// <summary>The middle message of a bad receive-migration option string.</summary>
    public const string ReceiveMigrationFailed = "Failed to parse vm receive migration configuration";

    private static readonly string[] ReceiveKeys = ["receiver_url", "tls_dir", "memory_mode", "vfio_fds", "iommufd_fd", "zone_updates"];

    /// <summary>
    /// <c>resize [--cpus N] [--memory SIZE] [--balloon SIZE]</c>; each argument is optional (null when
    /// not given). The vCPU count is a u8 as upstream's client parses it.
    /// </summary>
    public static OptionResult<VmResize> Resize(string? cpus, string? memory, string? balloon)
    {
        var resize = new VmResize();
        if (cpus is not null)
        {
            if (!OptionSyntax.TryParseInteger(cpus, out byte count))
            {
                return OptionError.Of("Error parsing CPU count", OptionSyntax.DescribeIntegerError<byte>(cpus));
            }

            resize.DesiredVcpus = count;
        }

        if (memory is not null)
        {
            if (!OptionSyntax.TryParseSize(memory, out var ram))
            {
                return SizeError("Error parsing memory size", memory);
            }

            resize.DesiredRam = ram;
        }

        if (balloon is not null)
        {
            if (!OptionSyntax.TryParseSize(balloon, out var size))
            {
                return SizeError("Error parsing balloon size", balloon);
            }

            resize.DesiredBalloon = size;
        }

        return resize;
    }

    /// <summary><c>resize-disk --disk &lt;id&gt; --size &lt;SIZE&gt;</c>.</summary>
    public static OptionResult<VmResizeDisk> ResizeDisk(string id, string size)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(size);
        return OptionSyntax.TryParseSize(size, out var bytes)
            ? new VmResizeDisk { Id = id, DesiredSize = bytes }
            : SizeError("Error parsing disk size", size);
    }

    /// <summary><c>resize-zone --id &lt;id&gt; --size &lt;SIZE&gt;</c>.</summary>
    public static OptionResult<VmResizeZone> ResizeZone(string id, string size)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(size);
        return OptionSyntax.TryParseSize(size, out var bytes)
            ? new VmResizeZone { Id = id, DesiredRam = bytes }
            : SizeError("Error parsing memory size", size);
    }

    /// <summary><c>add-disk &lt;disk opts&gt;</c>.</summary>
    public static OptionResult<DiskConfig> AddDisk(string input) => ConfigOptions.Disk(input).Within("Error parsing disk syntax");

    /// <summary><c>add-fs &lt;fs opts&gt;</c>.</summary>
    public static OptionResult<FsConfig> AddFs(string input) => ConfigOptions.Fs(input).Within("Error parsing filesystem syntax");

    /// <summary><c>add-pmem &lt;pmem opts&gt;</c>.</summary>
    public static OptionResult<PmemConfig> AddPmem(string input) => ConfigOptions.Pmem(input).Within("Error parsing persistent memory syntax");

    /// <summary><c>add-user-device &lt;opts&gt;</c>.</summary>
    public static OptionResult<UserDeviceConfig> AddUserDevice(string input) =>
        ConfigOptions.UserDevice(input).Within("Error parsing user device syntax");

    /// <summary><c>add-vdpa &lt;opts&gt;</c>.</summary>
    public static OptionResult<VdpaConfig> AddVdpa(string input) => ConfigOptions.Vdpa(input).Within("Error parsing vDPA device syntax");

    /// <summary><c>add-vsock &lt;opts&gt;</c>.</summary>
    public static OptionResult<VsockConfig> AddVsock(string input) => ConfigOptions.Vsock(input).Within("Error parsing vsock syntax");

    /// <summary><c>add-generic-vhost-user &lt;opts&gt;</c>.</summary>
    public static OptionResult<GenericVhostUserConfig> AddGenericVhostUser(string input) =>
        ConfigOptions.GenericVhostUser(input).Within("Error parsing generic vhost-user syntax");

    /// <summary><c>add-net &lt;net opts&gt;</c>; the <c>fd=[..]</c> descriptors move out of the body into SCM_RIGHTS.</summary>
    public static OptionResult<RemoteRequest<NetConfig>> AddNet(string input) =>
        ConfigOptions.Net(input).Within("Error parsing network syntax").Map(net =>
        {
            var fds = net.Fds ?? [];
            net.Fds = null;
            return new RemoteRequest<NetConfig>(net, fds);
        });

    /// <summary><c>add-device &lt;device opts&gt;</c>; an <c>fd=</c> moves out of the body into SCM_RIGHTS.</summary>
    public static OptionResult<RemoteRequest<DeviceConfig>> AddDevice(string input) =>
        ConfigOptions.Device(input).Within("Error parsing device syntax").Map(device =>
        {
            int[] fds = device.Fd is { } fd ? [fd] : [];
            device.Fd = null;
            return new RemoteRequest<DeviceConfig>(device, fds);
        });

    /// <summary>
    /// <c>restore &lt;opts&gt;</c> (see <see cref="ServiceOptions.Restore"/>). Descriptors move into
    /// SCM_RIGHTS in the VMM's order: every net_fds entry's fds, then each vfio_fds fd, then
    /// iommufd_fd (given exactly when vfio_fds is); <c>num_fds</c> stays in the body.
    /// </summary>
    public static OptionResult<RemoteRequest<RestoreConfig>> Restore(string input)
    {
        const string top = "Error parsing restore syntax";
        if (!ServiceOptions.Restore(input).Within(top).TryGet(out var restore, out var error))
        {
            return error;
        }

        var fds = new List<int>();
        foreach (var net in restore.NetFds ?? [])
        {
            fds.AddRange(net.Fds ?? []);
            net.Fds = null;
        }

        if (MoveVfioFds(restore.VfioFds, restore.IommufdFd, fds) is { } order)
        {
            return OptionError.Of(top, ServiceOptions.RestoreFailed, order);
        }

        restore.IommufdFd = null;
        return new RemoteRequest<RestoreConfig>(restore, fds);
    }

    /// <summary>
    /// <c>receive-migration &lt;receiver_url&gt;</c> or
    /// <c>receiver_url=&lt;url&gt;[,tls_dir=][,memory_mode=precopy|postcopy][,vfio_fds=[id@fd,..]][,iommufd_fd=][,zone_updates=[id@node,..]]</c>.
    /// An argument whose first key is not one of these is a bare receiver_url (so
    /// <c>unix:/tmp/a=b</c> works). The vfio fds, then iommufd_fd (given exactly when vfio_fds is), move into SCM_RIGHTS.
    /// </summary>
    public static OptionResult<RemoteRequest<ReceiveMigrationData>> ReceiveMigration(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var firstKey = input.Split(',', '=')[0];
        if (!ReceiveKeys.Contains(firstKey, StringComparer.Ordinal))
        {
            return new RemoteRequest<ReceiveMigrationData>(new ReceiveMigrationData { ReceiverUrl = input, ZoneUpdates = [] }, []);
        }

        var parser = new OptionParser(ReceiveKeys);
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within("Error parsing receive migration syntax", ReceiveMigrationFailed);
        }

        if (parser.Get("receiver_url") is not { } url)
        {
            return OptionError.Of("Error parsing receive migration syntax", ReceiveMigrationFailed, OptionMessages.InvalidSyntax("receiver_url is required"));
        }

        var data = new ReceiveMigrationData
        {
            ReceiverUrl = url,
            TlsDir = parser.Get("tls_dir"),
            MemoryMode = parser.Parsed<MigrationMode>("memory_mode", TryParseMigrationMode) ?? MigrationMode.Precopy,
            VfioFds = ServiceOptions.VfioFds(parser),
            IommufdFd = parser.Number<int>("iommufd_fd"),
            ZoneUpdates = ServiceOptions.ZoneUpdates(parser),
        };
        if (parser.Error is { } error)
        {
            return error.Within("Error parsing receive migration syntax", ReceiveMigrationFailed);
        }

        var fds = new List<int>();
        if (MoveVfioFds(data.VfioFds, data.IommufdFd, fds) is { } order)
        {
            return OptionError.Of("Error parsing receive migration syntax", ReceiveMigrationFailed, order);
        }

        data.IommufdFd = null;
        return new RemoteRequest<ReceiveMigrationData>(data, fds);
    }

    /// <summary>
    /// <c>send-migration destination_url=&lt;url&gt;[,local=on|off,downtime_ms=,timeout_s=,
    /// timeout_strategy=cancel|ignore,connections=,tls_dir=,memory_mode=precopy|postcopy,preserve_source=on|off]</c>.
    /// Defaults: downtime_ms 300, timeout_s 3600, timeout_strategy cancel, connections 1; zeros are refused.
    /// </summary>
    public static OptionResult<SendMigrationData> SendMigration(string input)
    {
        const string top = "Error parsing send migration syntax";
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "destination_url", "local", "downtime_ms", "timeout_s", "timeout_strategy", "connections", "tls_dir", "memory_mode",
            "preserve_source");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(top, SendMigrationFailed);
        }

        if (parser.Get("destination_url") is not { } url)
        {
            return OptionError.Of(top, SendMigrationFailed, OptionMessages.InvalidSyntax("destination_url is required"));
        }

        var data = new SendMigrationData
        {
            DestinationUrl = url,
            Local = parser.Toggle("local", false),
            DowntimeMs = parser.Number<ulong>("downtime_ms") ?? 300,
            TimeoutS = parser.Number<ulong>("timeout_s") ?? 3600,
            TimeoutStrategy = parser.Parsed<TimeoutStrategy>("timeout_strategy", TryParseTimeoutStrategy) ?? TimeoutStrategy.Cancel,
            Connections = parser.Number<uint>("connections") ?? 1,
            TlsDir = parser.Get("tls_dir"),
            MemoryMode = parser.Parsed<MigrationMode>("memory_mode", TryParseMigrationMode) ?? MigrationMode.Precopy,
            PreserveSource = parser.Toggle("preserve_source", false),
        };
        if (parser.Error is { } error)
        {
            return error.Within(top, SendMigrationFailed);
        }

        foreach (var (name, value) in new[] { ("downtime_ms", data.DowntimeMs), ("timeout_s", data.TimeoutS), ("connections", (ulong)data.Connections) })
        {
            if (value == 0)
            {
                return OptionError.Of(top, SendMigrationFailed, OptionMessages.InvalidValue($"{name} must be non-zero"));
            }
        }

        return data;
    }

    /// <summary><c>snapshot &lt;destination_url&gt;</c>.</summary>
    public static VmSnapshotConfig Snapshot(string destinationUrl) => new() { DestinationUrl = destinationUrl };

    /// <summary><c>coredump &lt;file_path&gt;</c> (GUEST_DEBUG builds).</summary>
    public static VmCoredumpData Coredump(string destinationUrl) => new() { DestinationUrl = destinationUrl };

    /// <summary><c>remove-device &lt;id&gt;</c>.</summary>
    public static VmRemoveDevice RemoveDevice(string id) => new() { Id = id };

    private static OptionError SizeError(string top, string text) =>
        OptionError.Of(top, OptionMessages.InvalidValue(text.Trim().TrimEnd('K', 'M', 'G')));

    /// <summary>
    /// Moves each vfio_fds descriptor, then iommufd_fd, into <paramref name="fds"/>: the order the
    /// VMM splits them in (contract §1.6), which expects the iommufd exactly when vfio_fds is
    /// present. Answers why the pair does not fit that, or null.
    /// </summary>
    private static string? MoveVfioFds(List<RestoredVfioConfig>? vfio, int? iommufd, List<int> fds)
    {
        if ((vfio is null) != (iommufd is null))
        {
            return OptionMessages.InvalidValue("vfio_fds and iommufd_fd are passed together: the VMM takes the iommufd descriptor after the VFIO ones");
        }

        foreach (var device in vfio ?? [])
        {
            if (device.Fd is { } fd)
            {
                fds.Add(fd);
                device.Fd = null;
            }
        }

        if (iommufd is { } last)
        {
            fds.Add(last);
        }

        return null;
    }

    private static bool TryParseMigrationMode(string text, out MigrationMode mode)
    {
        (var ok, mode) = text.ToLowerInvariant() switch
        {
            "precopy" => (true, MigrationMode.Precopy),
            "postcopy" => (true, MigrationMode.Postcopy),
            _ => (false, MigrationMode.Precopy),
        };
        return ok;
    }

    private static bool TryParseTimeoutStrategy(string text, out TimeoutStrategy strategy)
    {
        (var ok, strategy) = text.ToLowerInvariant() switch
        {
            "cancel" => (true, TimeoutStrategy.Cancel),
            "ignore" => (true, TimeoutStrategy.Ignore),
            _ => (false, TimeoutStrategy.Cancel),
        };
        return ok;
    }
}
