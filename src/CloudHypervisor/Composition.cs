using CloudHypervisor.Cli;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.EventMonitor.Sinks;
using CloudHypervisor.Frontends.Rest;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using CloudHypervisor.Vmm;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Hypervisor;
using Serilog;
#if DBUS_API
using CloudHypervisor.Frontends.DBus;
#endif

namespace CloudHypervisor;

/// <summary>
/// The seams between the command line and the parts it composes: option strings to option
/// values (errors become <see cref="FatalErrorException"/> with upstream's chains) and the control loop.
/// </summary>
public static class Composition
{
    /// <summary><c>--event-monitor path=P|fd=N</c> (contract §5.1).</summary>
    public static EventMonitorOption ParseEventMonitor(string value) => OrFail(ServiceOptions.EventMonitor(value));

    /// <summary>Opens the event file or adopts the inherited descriptor.</summary>
    public static IEventSink OpenEventSink(EventMonitorOption target, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            return target.Fd is { } fd ? FileEventSink.FromFd(fd, logger) : FileEventSink.OpenPath(target.Path!, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FatalErrorException(["Error opening event monitor file", .. FatalErrorException.ChainOf(e)]);
        }
    }

    /// <summary><c>--api-socket path=P|fd=N|P</c> (contract §6.1).</summary>
    public static RestServerOptions ParseApiSocket(string value)
    {
        var option = OrFail(ServiceOptions.ApiSocket(value));
        return option.Fd is { } fd ? new RestServerOptions { ListenFd = fd } : new RestServerOptions { SocketPath = option.Path };
    }

#if DBUS_API
    /// <summary>The D-Bus options: both names or neither (contract §4.1).</summary>
    public static DBusServerOptions? DBusOptions(CliArguments arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        return (arguments.DBusServiceName, arguments.DBusObjectPath) switch
        {
            (null, null) => null,
            (not null, null) => throw new FatalErrorException("`--dbus-object-path` option isn't provided"),
            (null, not null) => throw new FatalErrorException("`--dbus-service-name` option isn't provided"),
            ({ } name, { } path) => new DBusServerOptions { ServiceName = name, ObjectPath = path, SystemBus = arguments.DBusSystemBus },
        };
    }
#else
    /// <summary>Without DBUS_API there are no D-Bus flags, so never any D-Bus options.</summary>
    public static object? DBusOptions(CliArguments arguments) => null;
#endif

    /// <summary>The CLI's VM config: parsed and validated, or upstream's error chain.</summary>
    public static VmConfig BuildVmConfig(CliArguments arguments) => OrFail(VmConfigBuilder.Build(ToVmFlags(arguments)));

    /// <summary><c>--restore</c>'s config, or upstream's "Error parsing restore" chain.</summary>
    public static RestoreConfig ParseRestore(string value) => OrFail(ServiceOptions.Restore(value).Within(ServiceOptions.RestoreFailed));

    /// <summary>The raw VM flags in the option parsers' shape; absent flags keep upstream's defaults.</summary>
    public static VmFlags ToVmFlags(CliArguments arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var flags = arguments.VmFlags;
        string? One(string name) => flags.TryGetValue(name, out var values) && values.Count > 0 ? values[^1] : null;
        IReadOnlyList<string>? Many(string name) => flags.TryGetValue(name, out var values) ? values : null;
        var defaults = new VmFlags();
        return new VmFlags
        {
            Cpus = One("--cpus") ?? defaults.Cpus,
            Memory = One("--memory") ?? defaults.Memory,
            MemoryZones = Many("--memory-zone"),
            Firmware = One("--firmware"),
            Kernel = One("--kernel"),
            Initramfs = One("--initramfs"),
            Cmdline = One("--cmdline"),
            RateLimitGroups = Many("--rate-limit-group"),
            Disks = Many("--disk"),
            Net = Many("--net"),
            Rng = One("--rng") ?? defaults.Rng,
            Balloon = One("--balloon"),
            Fs = Many("--fs"),
            GenericVhostUser = Many("--generic-vhost-user"),
            Pmem = Many("--pmem"),
            Serial = One("--serial") ?? defaults.Serial,
            Console = One("--console") ?? defaults.Console,
            DebugConsole = One("--debug-console") ?? defaults.DebugConsole,
            Devices = Many("--device"),
            UserDevices = Many("--user-device"),
            Vdpa = Many("--vdpa"),
            Vsock = One("--vsock"),
            Pvpanic = flags.ContainsKey("--pvpanic"),
            Numa = Many("--numa"),
            Watchdog = flags.ContainsKey("--watchdog"),
            Rtc = One("--rtc"),
            PciSegments = Many("--pci-segment"),
            Platform = One("--platform"),
            Tpm = One("--tpm"),
            LandlockEnable = arguments.Landlock,
            LandlockRules = arguments.LandlockRules.Count > 0 ? arguments.LandlockRules : null,
        };
    }

    /// <summary>Creates the control loop on <paramref name="hypervisor"/> and starts it on its own task.</summary>
    public static Task<int> StartControlLoop(
        ApiChannel channel, IEventPublisher events, IHypervisor hypervisor, ILogger log, CliArguments arguments, CancellationToken ct, out VmmControlLoop loop)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var options = new VmmOptions
        {
            NoShutdown = arguments.NoShutdown,
            BuildVersion = BuildInfo.Version,
            Version = BuildInfo.Version[1..],
            Features = BuildInfo.Features,
            Landlock = arguments.Landlock,
            LandlockHostRules = LandlockHostRules(arguments),
        };
        loop = new VmmControlLoop(channel, events, hypervisor, log, options);
        var started = loop;
        return Task.Run(() => started.RunAsync(ct), CancellationToken.None);
    }

    /// <summary>
    /// What the process itself touches after vm.create, for Landlock: its own directory (the JIT
    /// build loads assemblies lazily), the event-monitor and log files, the API socket's directory
    /// (the socket is removed there at exit).
    /// </summary>
    public static IReadOnlyList<LandlockRule> LandlockHostRules(CliArguments arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var rules = new List<LandlockRule> { new(Path.GetFullPath(AppContext.BaseDirectory), true, false) };
        // A JIT build also loads framework assemblies lazily, from the shared framework's directories.
        if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string assemblies)
        {
            rules.AddRange(assemblies.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(p => Path.GetDirectoryName(p)).OfType<string>().Distinct().Select(d => new LandlockRule(d, true, false)));
        }

        // --landlock-rules hold for every VM created under --landlock, not only the CLI's.
        foreach (var value in arguments.LandlockRules)
        {
            if (ConfigOptions.LandlockRule(value).TryGet(out var rule, out _))
            {
                rules.Add(new(Path.GetFullPath(rule.Path), rule.Access.Contains('r', StringComparison.Ordinal), rule.Access.Contains('w', StringComparison.Ordinal)));
            }
        }
        if (arguments.EventMonitor is { } events && ServiceOptions.EventMonitor(events).TryGet(out var target, out _) && target.Path is { } eventPath)
        {
            rules.Add(new(Path.GetFullPath(eventPath), true, true));
        }

        if (arguments.LogFile is { } logFile)
        {
            rules.Add(new(Path.GetFullPath(logFile), true, true));
        }

        if (arguments.ApiSocket is { } socket && ServiceOptions.ApiSocket(socket).TryGet(out var api, out _) && api.Path is { } socketPath)
        {
            rules.Add(new(Path.GetDirectoryName(Path.GetFullPath(socketPath)) ?? "/", true, true));
        }

        return rules;
    }

    private static T OrFail<T>(OptionResult<T> result) =>
        result.TryGet(out var value, out var error) ? value : throw new FatalErrorException([.. error.Chain]);
}
