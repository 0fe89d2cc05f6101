using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>Where the REST API listens: a socket path to bind, or an inherited listening descriptor.</summary>
/// <param name="Path">The socket path (path mode), else null.</param>
/// <param name="Fd">The inherited descriptor (fd mode), else null.</param>
public sealed record ApiSocketOption(string? Path, int? Fd);

/// <summary>Where <c>--event-monitor</c> writes: a file path (opened with truncate) or an inherited descriptor.</summary>
/// <param name="Path">The file path, else null.</param>
/// <param name="Fd">The inherited descriptor, else null.</param>
public sealed record EventMonitorOption(string? Path, int? Fd);

/// <summary>
/// The non-VM option strings of <c>cloud-hypervisor</c> (contract §5.1, §6.1): <c>--api-socket</c>,
/// <c>--event-monitor</c> and <c>--restore</c>, with upstream's exact quirks and messages.
/// </summary>
public static class ServiceOptions
{
    /// <summary>The top message of a bad <c>--api-socket</c>.</summary>
    public const string ApiSocketFailed = "Error parsing --api-socket";

    /// <summary>The top message of a bad <c>--event-monitor</c>.</summary>
    public const string EventMonitorFailed = "Error parsing --event-monitor";

    /// <summary>Upstream's whole message for an <c>--event-monitor</c> with neither path nor fd.</summary>
    public const string EventMonitorBare = "Error parsing --event-monitor: path or fd required";

    /// <summary>The CLI's top message of a bad <c>--restore</c>.</summary>
    public const string RestoreFailed = "Error parsing restore";

    /// <summary>The middle message of a <c>--restore</c> (or ch-remote restore) option-syntax failure.</summary>
    public const string RestoreSyntaxFailed = "Failed to parse configuration string";

    /// <summary>
    /// <c>--api-socket path=&lt;p&gt; | fd=&lt;n&gt; | &lt;p&gt;</c>. Parse errors of the <c>k=v</c> form are
    /// swallowed, so anything that is not <c>path=</c>/<c>fd=</c> is a bare path (keys read before
    /// a bad part still count, as upstream); <c>fd</c> wins over <c>path</c>; a non-numeric fd is
    /// <c>["Error parsing --api-socket", "invalid digit found in string"]</c>.
    /// </summary>
    public static OptionResult<ApiSocketOption> ApiSocket(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path", "fd");
        _ = parser.Parse(input);
        if (parser.Get("fd") is { } fdText)
        {
            return OptionSyntax.TryParseInteger(fdText, out int fd)
                ? new ApiSocketOption(null, fd)
                : OptionError.Of(ApiSocketFailed, OptionSyntax.DescribeIntegerError<int>(fdText));
        }

        return new ApiSocketOption(parser.Get("path") ?? input, null);
    }

    /// <summary>
    /// <c>--event-monitor path=&lt;file&gt; | fd=&lt;n&gt;</c>; fd wins over path. A bare path is
    /// <c>["Error parsing --event-monitor", "Unknown option: /x"]</c>; neither key is
    /// "Error parsing --event-monitor: path or fd required".
    /// </summary>
    public static OptionResult<EventMonitorOption> EventMonitor(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path", "fd");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(EventMonitorFailed);
        }

        var fd = parser.Number<int>("fd");
        if (parser.Error is { } error)
        {
            return error.Within(EventMonitorFailed);
        }

        if (fd is not null)
        {
            return new EventMonitorOption(null, fd);
        }

        return parser.Get("path") is { } path
            ? new EventMonitorOption(path, null)
            : OptionError.Of(EventMonitorBare);
    }

    /// <summary>
    /// <c>--gdb path=&lt;socket&gt;</c> (GUEST_DEBUG builds): the gdb stub's socket path. A bad key
    /// is <c>["Error parsing --gdb", "Unknown option: k"]</c>; no path is
    /// "Error parsing --gdb: path required".
    /// </summary>
    public static OptionResult<string> Gdb(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser("path");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within("Error parsing --gdb");
        }

        return parser.Get("path") is { } path ? path : OptionError.Of("Error parsing --gdb: path required");
    }

    /// <summary>
    /// The restore option string shared by <c>--restore</c> and <c>ch-remote restore</c>:
    /// <c>source_url=&lt;url&gt;[,prefault=on|off][,memory_restore_mode=copy|ondemand][,net_fds=[id@[fd,..],..]]
    /// [,vfio_fds=[id@fd,..]][,iommufd_fd=&lt;fd&gt;][,resume=true|false][,zone_updates=[id@node,..]]</c>.
    /// source_url is required. The chain starts below the caller's top message
    /// (<see cref="RestoreFailed"/> for the CLI).
    /// </summary>
    public static OptionResult<RestoreConfig> Restore(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "source_url", "prefault", "memory_restore_mode", "net_fds", "vfio_fds", "iommufd_fd", "resume", "zone_updates");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(RestoreSyntaxFailed);
        }

        if (parser.Get("source_url") is not { } source)
        {
            return OptionError.Of("Error parsing --restore: source_url missing");
        }

        var config = new RestoreConfig
        {
            SourceUrl = source,
            Prefault = parser.Toggle("prefault", false),
            MemoryRestoreMode = parser.Parsed<MemoryRestoreMode>("memory_restore_mode", TryParseRestoreMode) ?? MemoryRestoreMode.Copy,
            NetFds = parser.TupleList<string, List<int>>("net_fds", Text, OptionSyntax.TryParseIntegerList)
                ?.Select(t => new RestoredNetConfig { Id = t.Key, NumFds = (ulong)t.Value.Count, Fds = t.Value }).ToList(),
            VfioFds = VfioFds(parser),
            IommufdFd = parser.Number<int>("iommufd_fd"),
            Resume = parser.Toggle("resume", false),
            ZoneUpdates = ZoneUpdates(parser),
        };
        return parser.Error is { } error ? error.Within(RestoreSyntaxFailed) : config;
    }

    internal static List<RestoredVfioConfig>? VfioFds(OptionParser parser) =>
        parser.TupleList<string, int>("vfio_fds", Text, OptionSyntax.TryParseInteger)
            ?.Select(t => new RestoredVfioConfig { Id = t.Key, Fd = t.Value }).ToList();

    /// <summary>Upstream always writes zone_updates (an empty list when none were given).</summary>
    internal static List<VmMemoryZoneUpdateData> ZoneUpdates(OptionParser parser) =>
        parser.TupleList<string, uint>("zone_updates", Text, OptionSyntax.TryParseInteger)
            ?.Select(t => new VmMemoryZoneUpdateData { Id = t.Key, HostNumaNode = t.Value }).ToList() ?? [];

    internal static bool Text(string text, out string value)
    {
        value = text;
        return true;
    }

    private static bool TryParseRestoreMode(string text, out MemoryRestoreMode mode)
    {
        (var ok, mode) = text.ToLowerInvariant() switch
        {
            "copy" => (true, MemoryRestoreMode.Copy),
            "ondemand" => (true, MemoryRestoreMode.OnDemand),
            _ => (false, MemoryRestoreMode.Copy),
        };
        return ok;
    }
}
