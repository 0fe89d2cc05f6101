using System.CommandLine;
using System.CommandLine.Parsing;

namespace CloudHypervisor.Cli;

/// <summary>
/// The <c>cloud-hypervisor</c> command line (contract §6.1, §6.2): every upstream flag, with the
/// VM configuration flags collected raw (their <c>key=value,...</c> strings are parsed later by
/// the option parsers, so errors carry upstream's chains). Parsing is separate from running so
/// tests can check it as a pure function.
/// </summary>
public sealed class CommandLine
{
    /// <summary>Upstream's payload flags; every other VM flag requires one of them (clap group "vm-payload").</summary>
    public static readonly string[] PayloadFlags = ["--kernel", "--firmware"];

    /// <summary>VM flags that take one value.</summary>
    public static readonly string[] SingleVmFlags =
    [
        "--kernel", "--firmware", "--cmdline", "--initramfs", "--cpus", "--memory", "--rng", "--serial",
        "--console", "--debug-console", "--balloon", "--vsock", "--platform", "--tpm",
    ];

    /// <summary>VM flags that may be repeated and take several values each (<c>--disk a b --disk c</c>).</summary>
    public static readonly string[] ListVmFlags =
    [
        "--memory-zone", "--disk", "--net", "--fs", "--pmem", "--device", "--user-device", "--vdpa",
        "--generic-vhost-user", "--numa", "--pci-segment", "--rate-limit-group",
    ];

    /// <summary>VM flags without a value.</summary>
    public static readonly string[] SwitchVmFlags = ["--watchdog", "--pvpanic"];

    private readonly Dictionary<string, Option<string>> _single = [];
    private readonly Dictionary<string, Option<string[]>> _lists = [];
    private readonly Dictionary<string, Option<bool>> _switches = [];

    private readonly Option<string> _apiSocket = new("--api-socket") { Description = "HTTP API socket (UNIX domain socket): path=</path/to/a/file> or fd=<fd>." };
    private readonly Option<string> _eventMonitor = new("--event-monitor") { Description = "File to report events on: path=</path/to/a/file> or fd=<fd>" };
    private readonly Option<bool> _noShutdown = new("--no-shutdown") { Description = "Do not exit the VMM when the guest powers off" };
    private readonly Option<string> _restore = new("--restore") { Description = "Restore from a VM snapshot: source_url=<source_url>,prefault=on|off,..." };
    private readonly Option<string> _seccomp = new("--seccomp") { Description = "Seccomp filter: true|false|log|errno", DefaultValueFactory = _ => "true" };
    private readonly Option<bool> _landlock = new("--landlock") { Description = "Enable Landlock sandboxing" };
    private readonly Option<string[]> _landlockRules = new("--landlock-rules") { Description = "Landlock rules: path=<path>,access=[rw]", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _logFile = new("--log-file") { Description = "Log file. Standard error is used if not specified" };
    private readonly Option<string> _logFormat = new("--log-format") { Description = $"Log format, default: {Logging.UpstreamLogFormatter.DefaultFormat}" };
    private readonly Option<string?> _logJournald = new("--log-journald")
    {
        Description = $"Log to systemd-journald (native protocol) at the given socket, default {Logging.JournaldSink.DefaultSocketPath}",
        Arity = ArgumentArity.ZeroOrOne,
    };
    private readonly Option<bool[]> _verbose = new("-v") { Description = "Sets the level of debugging output (repeat for more)", Arity = ArgumentArity.Zero };
    private readonly Option<bool> _version = new("--version", "-V") { Description = "Print version", Arity = ArgumentArity.Zero };
#if DBUS_API
    private readonly Option<string> _dbusName = new("--dbus-service-name") { Description = "Well known name of the device" };
    private readonly Option<string> _dbusPath = new("--dbus-object-path") { Description = "Object path to serve the dbus interface" };
    private readonly Option<bool> _dbusSystemBus = new("--dbus-system-bus") { Description = "Use the system bus instead of a session bus" };
#endif
    private readonly Option<string?> _rtc = new("--rtc") { Description = "Virtio RTC device: iommu=on|off,id=<id>,pci_segment=<n>,pci_device_id=<n>", Arity = ArgumentArity.ZeroOrOne };

    public CommandLine()
    {
        _seccomp.AcceptOnlyFromAmong("true", "false", "log", "errno");
        // System.CommandLine's own -h/--help and --version are replaced: upstream prints its own
        // version text and clap's help exits 0 only when asked for.
        Root = new RootCommand("Launch a cloud-hypervisor VMM.");
        Root.Options.Clear();
        Root.Options.Add(new System.CommandLine.Help.HelpOption());
        foreach (var name in SingleVmFlags)
        {
            _single[name] = Add(new Option<string>(name) { Description = VmFlagHelp(name) });
        }

        foreach (var name in ListVmFlags)
        {
            _lists[name] = Add(new Option<string[]>(name) { Description = VmFlagHelp(name), AllowMultipleArgumentsPerToken = true });
        }

        foreach (var name in SwitchVmFlags)
        {
            _switches[name] = Add(new Option<bool>(name) { Description = VmFlagHelp(name) });
        }

        Add(_rtc);
        Add(_apiSocket);
        Add(_eventMonitor);
        Add(_noShutdown);
        Add(_restore);
        Add(_seccomp);
        Add(_landlock);
        Add(_landlockRules);
        Add(_logFile);
        Add(_logFormat);
        Add(_logJournald);
        Add(_verbose);
        Add(_version);
#if DBUS_API
        Add(_dbusName);
        Add(_dbusPath);
        Add(_dbusSystemBus);
#endif
    }

    public RootCommand Root { get; }

    /// <summary>Parses <paramref name="args"/> into arguments or a usage error (clap's exit code 2).</summary>
    public CliParse Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0)
        {
            return new CliParse.Help(2);
        }

        var result = Root.Parse(args, new ParserConfiguration { EnablePosixBundling = true });
        if (result.Errors.Count > 0)
        {
            return new CliParse.UsageError(UsageMessage(result));
        }

        if (result.GetResult(Root.Options[0]) is not null)
        {
            return new CliParse.Help(0);
        }

        var vmFlags = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (name, option) in _single)
        {
            if (result.GetValue(option) is { } value)
            {
                vmFlags[name] = [value];
            }
        }

        foreach (var (name, option) in _lists)
        {
            if (result.GetValue(option) is { Length: > 0 } values)
            {
                vmFlags[name] = values;
            }
        }

        foreach (var (name, option) in _switches)
        {
            if (result.GetValue(option))
            {
                vmFlags[name] = [];
            }
        }

        if (result.GetResult(_rtc) is { } rtc)
        {
            vmFlags["--rtc"] = rtc.Tokens.Count > 0 ? [rtc.Tokens[0].Value] : [""];
        }

        var version = result.GetValue(_version);
        if (!version && vmFlags.Count > 0 && !PayloadFlags.Any(vmFlags.ContainsKey))
        {
            return new CliParse.UsageError(
                "the following required arguments were not provided:\n  <--kernel <KERNEL>|--firmware <FIRMWARE>>");
        }

        var journald = result.GetResult(_logJournald) is { } journaldResult
            ? journaldResult.Tokens.Count > 0 ? journaldResult.Tokens[0].Value : Logging.JournaldSink.DefaultSocketPath
            : null;

        return new CliParse.Run(new CliArguments
        {
            Version = version,
            Verbosity = result.GetResult(_verbose)?.IdentifierTokenCount ?? 0,
            ApiSocket = result.GetValue(_apiSocket),
            EventMonitor = result.GetValue(_eventMonitor),
            NoShutdown = result.GetValue(_noShutdown),
            Restore = result.GetValue(_restore),
            Seccomp = result.GetValue(_seccomp) ?? "true",
            Landlock = result.GetValue(_landlock),
            LandlockRules = result.GetValue(_landlockRules) ?? [],
            LogFile = result.GetValue(_logFile),
            LogFormat = result.GetValue(_logFormat),
            LogJournald = journald,
#if DBUS_API
            DBusServiceName = result.GetValue(_dbusName),
            DBusObjectPath = result.GetValue(_dbusPath),
            DBusSystemBus = result.GetValue(_dbusSystemBus),
#endif
            VmFlags = vmFlags,
        });
    }

    /// <summary>The help text, as printed for no arguments or <c>--help</c>.</summary>
    public string HelpText()
    {
        using var writer = new StringWriter();
        Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = writer });
        return writer.ToString();
    }

    private T Add<T>(T option)
        where T : Option
    {
        Root.Options.Add(option);
        return option;
    }

    // clap's wording for the two usage errors users meet most; other parser messages pass through.
    private static string UsageMessage(ParseResult result)
    {
        if (result.UnmatchedTokens.Count > 0)
        {
            return $"unexpected argument '{result.UnmatchedTokens[0]}' found";
        }

        var message = result.Errors[0].Message;
        return message.Length > 0 ? char.ToLowerInvariant(message[0]) + message[1..] : message;
    }

    private static string VmFlagHelp(string name) => name switch
    {
        "--kernel" => "Path to kernel to load. This may be a kernel or firmware that supports a PVH entry point",
        "--firmware" => "Path to firmware that is loaded in an architectural specific way",
        "--cmdline" => "Kernel command line",
        "--initramfs" => "Path to initramfs image",
        "--cpus" => "boot=<boot_vcpus>,max=<max_vcpus>,topology=<threads_per_core>:<cores_per_die>:<dies_per_package>:<packages>,...",
        "--memory" => "Memory parameters \"size=<guest_memory_size>,mergeable=on|off,shared=on|off,hugepages=on|off,...\"",
        "--memory-zone" => "User defined memory zone parameters \"size=<guest_memory_region_size>,...,id=<zone_identifier>,...\"",
        "--disk" => "Disk parameters \"path=<disk_image_path>,readonly=on|off,direct=on|off,iommu=on|off,...\"",
        "--net" => "Network parameters \"tap=<if_name>,ip=<ip_addr>,mask=<net_mask>,mac=<mac_addr>,...\"",
        "--rng" => "Random number generator parameters \"src=<entropy_source_path>,iommu=on|off\"",
        "--serial" => "Control serial port: off|null|pty|tty|file=</path/to/a/file>|socket=</path/to/a/file>",
        "--console" => "Control (virtio) console: \"off|null|pty|tty|file=</path/to/a/file>,iommu=on|off\"",
        "--debug-console" => "Debug console: off|pty|tty|file=</path/to/a/file>,iobase=<port in hex>",
        "--balloon" => "Balloon parameters \"size=<balloon_size>,deflate_on_oom=on|off,free_page_reporting=on|off\"",
        "--fs" => "virtio-fs parameters \"tag=<tag_name>,socket=<socket_path>,num_queues=<number_of_queues>,...\"",
        "--pmem" => "Persistent memory parameters \"file=<backing_file_path>,size=<persistent_memory_size>,...\"",
        "--device" => "Direct device assignment parameters \"path=<device_path>,iommu=on|off,id=<device_id>,...\"",
        "--user-device" => "User device parameters \"socket=<socket_path>,id=<device_id>,...\"",
        "--vdpa" => "vDPA device \"path=<device_path>,num_queues=<number_of_queues>,iommu=on|off,...\"",
        "--vsock" => "Virtio VSOCK parameters \"cid=<context_id>,socket=<socket_path>,iommu=on|off,...\"",
        "--generic-vhost-user" => "Generic vhost-user device \"device_type=<type>,socket=<socket_path>,queue_sizes=[..],...\"",
        "--numa" => "Settings related to a given NUMA node \"guest_numa_id=<node_id>,cpus=<cpus_id>,...\"",
        "--pci-segment" => "PCI segment parameters \"pci_segment=<segment_id>,mmio32_aperture_weight=<n>,...\"",
        "--platform" => "Platform configuration \"num_pci_segments=<num_pci_segments>,iommu_segments=<list>,...\"",
        "--rate-limit-group" => "Rate limit configuration \"bw_size=<bytes>,bw_one_time_burst=<bytes>,...,id=<group_id>\"",
        "--tpm" => "TPM device \"socket=</path/to/a/socket>\"",
        "--watchdog" => "Enable virtio-watchdog",
        "--pvpanic" => "Enable pvpanic device",
        _ => name,
    };
}
