using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Validation;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// Builds the <see cref="VmConfig"/> that <c>cloud-hypervisor</c> sends with vm.create from its
/// VM flags (contract §6.3 step 5): every option string parsed with upstream's syntax and
/// defaults, then validated with <see cref="VmConfigValidator"/>, as upstream validates CLI
/// configs. Failures come back as upstream's chain, ready for the CLI's "chain of errors" output:
/// <c>["Error parsing config", "Error parsing --disk", "Failed to parse disk configuration", "Unknown option: x"]</c>
/// or <c>["Error parsing config", "Error validating configuration", &lt;validation messages&gt;]</c>.
/// </summary>
public static class VmConfigBuilder
{
    /// <summary>The CLI's top message for any VM flag failure.</summary>
    public const string ParsingConfig = "Error parsing config";

    /// <summary>The message above the validator's messages.</summary>
    public const string ValidatingConfig = "Error validating configuration";

    /// <summary>
    /// Parses and validates <paramref name="flags"/> (the payload must be bootable); like
    /// upstream's validation it sets the top-level <c>iommu</c> when any device sits behind the IOMMU.
    /// </summary>
    public static OptionResult<VmConfig> Build(VmFlags flags)
    {
        var parsed = Parse(flags);
        if (!parsed.TryGet(out var config, out var error))
        {
            return error;
        }

        if (VmConfigValidator.Validate(config) is { } invalid)
        {
            return OptionError.Of([ParsingConfig, ValidatingConfig, .. invalid.Messages]);
        }

        // Upstream's validate() also ORs every device's iommu into the top-level flag.
        config.Iommu = VmConfigValidator.RequiresIommu(config);
        return config;
    }

    /// <summary>
    /// Parses <paramref name="flags"/> without validating. Flags are parsed in upstream's order
    /// (devices first, <c>--cpus</c> and <c>--memory</c> last), so the first error reported is upstream's.
    /// </summary>
    public static OptionResult<VmConfig> Parse(VmFlags flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        var config = new VmConfig();
        var error =
            Many(flags.RateLimitGroups, "--rate-limit-group", ConfigOptions.RateLimitGroup, v => config.RateLimitGroups = v)
            ?? Many(flags.Disks, "--disk", ConfigOptions.Disk, v => config.Disks = v)
            ?? Many(flags.Net, "--net", ConfigOptions.Net, v => config.Net = v)
            ?? One(flags.Rng, "--rng", ConfigOptions.Rng, v => config.Rng = v)
            ?? One(flags.Rtc, "--rtc", ConfigOptions.Rtc, v => config.Rtc = v)
            ?? One(flags.Balloon, "--balloon", ConfigOptions.Balloon, v => config.Balloon = v)
            ?? Many(flags.Fs, "--fs", ConfigOptions.Fs, v => config.Fs = v)
            ?? Many(flags.GenericVhostUser, "--generic-vhost-user", ConfigOptions.GenericVhostUser, v => config.GenericVhostUser = v)
            ?? Many(flags.Pmem, "--pmem", ConfigOptions.Pmem, v => config.Pmem = v)
            ?? One(flags.Console, "--console", ConfigOptions.Console, v => config.Console = v)
            ?? One(flags.Serial, "--serial", ConfigOptions.Serial, v => config.Serial = v)
            ?? One(flags.DebugConsole, "--debug-console", ConfigOptions.DebugConsole, v => config.DebugConsole = v)
            ?? Many(flags.Devices, "--device", ConfigOptions.Device, v => config.Devices = v)
            ?? Many(flags.UserDevices, "--user-device", ConfigOptions.UserDevice, v => config.UserDevices = v)
            ?? Many(flags.Vdpa, "--vdpa", ConfigOptions.Vdpa, v => config.Vdpa = v)
            ?? One(flags.Vsock, "--vsock", ConfigOptions.Vsock, v => config.Vsock = v)
            ?? Many(flags.PciSegments, "--pci-segment", ConfigOptions.PciSegment, v => config.PciSegments = v)
            ?? One(flags.Platform, "--platform", ConfigOptions.Platform, v => config.Platform = v)
            ?? Many(flags.Numa, "--numa", ConfigOptions.Numa, v => config.Numa = v)
            ?? One(flags.Tpm, "--tpm", ConfigOptions.Tpm, v => config.Tpm = v)
            ?? Many(flags.LandlockRules, "--landlock-rules", ConfigOptions.LandlockRule, v => config.LandlockRules = v)
            ?? One(flags.Cpus, "--cpus", ConfigOptions.Cpus, v => config.Cpus = v)
            ?? One(flags.Memory, "--memory", input => ConfigOptions.Memory(input, flags.MemoryZones), v => config.Memory = v);
        if (error is not null)
        {
            return error;
        }

        if (flags.HasPayload)
        {
            config.Payload = new PayloadConfig
            {
                Kernel = flags.Kernel,
                Firmware = flags.Firmware,
                Cmdline = flags.Cmdline,
                Initramfs = flags.Initramfs,
            };
        }

        config.Pvpanic = flags.Pvpanic;
        config.Watchdog = flags.Watchdog;
        config.LandlockEnable = flags.LandlockEnable;
#if GUEST_DEBUG
        config.Gdb = flags.Gdb;
#endif
        return config;
    }

    private static OptionError? One<T>(string? input, string flag, Func<string, OptionResult<T>> parse, Action<T> store)
    {
        if (input is null)
        {
            return null;
        }

        if (!parse(input).TryGet(out var value, out var error))
        {
            return error.Within(ParsingConfig, $"Error parsing {flag}");
        }

        store(value);
        return null;
    }

    private static OptionError? Many<T>(IReadOnlyList<string>? inputs, string flag, Func<string, OptionResult<T>> parse, Action<List<T>> store)
    {
        if (inputs is null)
        {
            return null;
        }

        var values = new List<T>(inputs.Count);
        foreach (var input in inputs)
        {
            if (!parse(input).TryGet(out var value, out var error))
            {
                return error.Within(ParsingConfig, $"Error parsing {flag}");
            }

            values.Add(value);
        }

        store(values);
        return null;
    }
}
