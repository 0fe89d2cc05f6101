using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

public static partial class ConfigOptions
{
    /// <summary>Upstream's middle message for a bad <c>--cpus</c>.</summary>
    public const string CpusFailed = "Failed to parse configuration string";

    /// <summary>Upstream's middle message for a bad <c>--memory</c>.</summary>
    public const string MemoryFailed = "Failed to parse memory configuration";

    /// <summary>Upstream's middle message for a bad <c>--memory-zone</c>.</summary>
    public const string MemoryZoneFailed = "Failed to parse memory-zone configuration";

    /// <summary>Upstream's message for a <c>--memory-zone</c> without <c>id</c>.</summary>
    public const string MemoryZoneIdMissing = "Memory-zone configuration is missing id";

    /// <summary>
    /// <c>--cpus boot=&lt;n&gt;,max=&lt;n&gt;,topology=t:c:d:p,kvm_hyperv=on|off,max_phys_bits=&lt;n&gt;,
    /// affinity=[v@[cpus],..],features=[amx],nested=on|off,core_scheduling=vm|vcpu|off,profile=host</c>.
    /// Defaults: boot 1, max = boot, max_phys_bits 46, nested on, core_scheduling vm, profile Host.
    /// </summary>
    public static OptionResult<CpusConfig> Cpus(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "boot", "max", "topology", "kvm_hyperv", "max_phys_bits", "affinity", "features", "nested", "core_scheduling", "profile");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(CpusFailed);
        }

        var boot = parser.Number<uint>("boot") ?? 1;
        var config = new CpusConfig
        {
            BootVcpus = boot,
            MaxVcpus = parser.Number<uint>("max") ?? boot,
            Topology = parser.ParsedObject<CpuTopology>("topology", TryParseTopology),
            KvmHyperv = parser.Toggle("kvm_hyperv", false),
            MaxPhysBits = parser.Number<byte>("max_phys_bits") ?? 46,
            Affinity = parser.TupleList<uint, List<ulong>>("affinity", OptionSyntax.TryParseInteger, OptionSyntax.TryParseIntegerList)
                ?.Select(t => new CpuAffinity { Vcpu = t.Key, HostCpus = t.Value }).ToList(),
            Profile = parser.Parsed<CpuProfile>("profile", TryParseProfile) ?? CpuProfile.Host,
        };

        var features = parser.StringList("features") ?? [];
        config.Nested = parser.Toggle("nested", true);
        config.CoreScheduling = parser.Parsed<CoreSchedulingMode>("core_scheduling", TryParseCoreScheduling) ?? CoreSchedulingMode.Vm;
        if (parser.Error is { } error)
        {
            return error.Within(CpusFailed);
        }

        foreach (var feature in features)
        {
            if (feature != "amx")
            {
                // Upstream reports this without the "Failed to parse" middle message.
                return OptionError.Of($"Invalid feature in --cpus features list: {feature}");
            }

            config.Features.Amx = true;
        }

        return config;
    }

    /// <summary>
    /// <c>--memory size=,mergeable=,shared=,hugepages=,hugepage_size=,hotplug_method=acpi|virtio-mem,
    /// hotplug_size=,hotplugged_size=,prefault=,reserve=,thp=</c> plus every <c>--memory-zone</c>.
    /// Defaults: size 512M, thp on, hotplug_method acpi. A zone without <c>mergeable</c> inherits
    /// the memory's. Upstream also registers <c>file</c> for <c>--memory</c> and ignores it.
    /// </summary>
    public static OptionResult<MemoryConfig> Memory(string input, IReadOnlyList<string>? zones = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "size", "file", "mergeable", "hotplug_method", "hotplug_size", "hotplugged_size", "shared", "hugepages",
            "hugepage_size", "prefault", "reserve", "thp");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(MemoryFailed);
        }

        var config = new MemoryConfig
        {
            Size = parser.Size("size") ?? VmConfig.DefaultMemorySize,
            Mergeable = parser.Toggle("mergeable", false),
            HotplugMethod = parser.Parsed<HotplugMethod>("hotplug_method", TryParseHotplugMethod) ?? HotplugMethod.Acpi,
            HotplugSize = parser.Size("hotplug_size"),
            HotpluggedSize = parser.Size("hotplugged_size"),
            Shared = parser.Toggle("shared", false),
            Hugepages = parser.Toggle("hugepages", false),
            HugepageSize = parser.Size("hugepage_size"),
            Prefault = parser.Toggle("prefault", false),
            Reserve = parser.Toggle("reserve", false),
            Thp = parser.Toggle("thp", true),
        };
        if (parser.Error is { } error)
        {
            return error.Within(MemoryFailed);
        }

        if (zones is not null)
        {
            config.Zones = [];
            foreach (var zone in zones)
            {
                var parsed = MemoryZone(zone, config.Mergeable);
                if (!parsed.TryGet(out var value, out var zoneError))
                {
                    return zoneError;
                }

                config.Zones.Add(value);
            }
        }

        return config;
    }

    /// <summary>
    /// One <c>--memory-zone id=,size=,file=,shared=,hugepages=,hugepage_size=,host_numa_node=,
    /// hotplug_size=,hotplugged_size=,prefault=,reserve=,mergeable=</c>; <c>id</c> is required,
    /// size defaults to 512M, mergeable to <paramref name="mergeable"/>.
    /// </summary>
    public static OptionResult<MemoryZoneConfig> MemoryZone(string input, bool mergeable = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        var parser = new OptionParser(
            "id", "size", "file", "shared", "hugepages", "hugepage_size", "host_numa_node", "hotplug_size", "hotplugged_size",
            "prefault", "reserve", "mergeable");
        if (parser.Parse(input) is { } syntax)
        {
            return syntax.Within(MemoryZoneFailed);
        }

        if (parser.Get("id") is not { } id)
        {
            return OptionError.Of(MemoryZoneIdMissing);
        }

        var zone = new MemoryZoneConfig
        {
            Id = id,
            Size = parser.Size("size") ?? VmConfig.DefaultMemorySize,
            File = parser.Get("file"),
            Shared = parser.Toggle("shared", false),
            Hugepages = parser.Toggle("hugepages", false),
            HugepageSize = parser.Size("hugepage_size"),
            HostNumaNode = parser.Number<uint>("host_numa_node"),
            HotplugSize = parser.Size("hotplug_size"),
            HotpluggedSize = parser.Size("hotplugged_size"),
            Prefault = parser.Toggle("prefault", false),
            Reserve = parser.Toggle("reserve", false),
            Mergeable = parser.Toggle("mergeable", mergeable),
        };
        return Done(parser, MemoryZoneFailed, zone);
    }

    /// <summary><c>threads_per_core:cores_per_die:dies_per_package:packages</c>, each a u16.</summary>
    public static bool TryParseTopology(string text, out CpuTopology topology)
    {
        ArgumentNullException.ThrowIfNull(text);
        topology = null!;
        var parts = OptionSyntax.Dequote(text).Split(':');
        if (parts.Length != 4
            || !OptionSyntax.TryParseInteger(parts[0], out ushort threads)
            || !OptionSyntax.TryParseInteger(parts[1], out ushort cores)
            || !OptionSyntax.TryParseInteger(parts[2], out ushort dies)
            || !OptionSyntax.TryParseInteger(parts[3], out ushort packages))
        {
            return false;
        }

        topology = new CpuTopology { ThreadsPerCore = threads, CoresPerDie = cores, DiesPerPackage = dies, Packages = packages };
        return true;
    }

    private static bool TryParseHotplugMethod(string text, out HotplugMethod method)
    {
        (var ok, method) = text.ToLowerInvariant() switch
        {
            "acpi" => (true, HotplugMethod.Acpi),
            "virtio-mem" => (true, HotplugMethod.VirtioMem),
            _ => (false, HotplugMethod.Acpi),
        };
        return ok;
    }

    private static bool TryParseCoreScheduling(string text, out CoreSchedulingMode mode)
    {
        (var ok, mode) = text.ToLowerInvariant() switch
        {
            "vm" => (true, CoreSchedulingMode.Vm),
            "vcpu" => (true, CoreSchedulingMode.Vcpu),
            "off" => (true, CoreSchedulingMode.Off),
            _ => (false, CoreSchedulingMode.Vm),
        };
        return ok;
    }

    private static bool TryParseProfile(string text, out CpuProfile profile)
    {
        profile = CpuProfile.Host;
        return text.Equals("host", StringComparison.OrdinalIgnoreCase);
    }
}
