using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Host;

/// <summary>One path the VMM may use, and how.</summary>
public sealed record LandlockRule(string Path, bool Read, bool Write)
{
    /// <summary>True when this rule allows what <paramref name="needed"/> asks, on its path or beneath it.</summary>
    public bool Covers(LandlockRule needed)
    {
        ArgumentNullException.ThrowIfNull(needed);
        var beneath = needed.Path == Path || needed.Path.StartsWith(Path.EndsWith('/') ? Path : Path + "/", StringComparison.Ordinal);
        return beneath && (Read || !needed.Read) && (Write || !needed.Write);
    }
}

/// <summary>
/// <c>--landlock</c> (applied at vm.create when the config has <c>landlock_enable</c>, as
/// upstream): the process may afterwards open only what the VM config names (payload, disks,
/// pmem and memory-zone files, the rng source, console and serial files, the directories of every
/// socket it binds or connects to), the <c>landlock_rules</c> and what the VMM itself needs
/// (<see cref="VmmOptions.LandlockHostRules"/>: its own directory, /proc and /sys to read, the
/// /dev nodes a VM uses, the event-monitor and log files, the API socket's directory). Landlock
/// cannot widen a restriction, so a path hot-plugged later must lie under one of these rules:
/// <see cref="FirstUncovered"/> refuses the others before the kernel would.
/// </summary>
public static class LandlockPolicy
{
    /// <summary>The device nodes and kernel files a VM may need, each ruled only if it exists.</summary>
    public static IReadOnlyList<LandlockRule> DeviceRules { get; } =
    [
        new("/dev/kvm", true, true),
        new("/dev/net/tun", true, true),
        new("/dev/userfaultfd", true, true),
        new("/dev/ptmx", true, true),
        new("/dev/pts", true, true),
        new("/dev/null", true, true),
        new("/dev/urandom", true, false),
        new("/dev/random", true, false),
        new("/proc", true, false),
        new("/sys", true, false),
    ];

    /// <summary>The paths <paramref name="config"/> names, with the access each needs.</summary>
    public static IReadOnlyList<LandlockRule> ConfigRules(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rules = new List<LandlockRule>();
        void File(string? path, bool write)
        {
            if (!string.IsNullOrEmpty(path))
            {
                rules.Add(new(Full(path), true, write));
            }
        }

        // A socket is bound (created) or connected to in its directory.
        void Socket(string? path)
        {
            if (!string.IsNullOrEmpty(path))
            {
                rules.Add(new(Path.GetDirectoryName(Full(path)) ?? "/", true, true));
            }
        }

        File(config.Payload?.Kernel, false);
        File(config.Payload?.Initramfs, false);
        File(config.Payload?.Firmware, false);
        File(config.Payload?.Igvm, false);
        foreach (var disk in config.Disks ?? [])
        {
            File(disk.Path, !disk.Readonly);
            Socket(disk.VhostSocket);
        }

        foreach (var net in config.Net ?? [])
        {
            Socket(net.VhostSocket);
        }

        foreach (var pmem in config.Pmem ?? [])
        {
            File(pmem.File, true);
        }

        foreach (var zone in config.Memory.Zones ?? [])
        {
            File(zone.File, true);
        }

        File(config.Rng.Src, false);
        File(config.Serial.File, true);
        Socket(config.Serial.Socket);
        File(config.Console.File, true);
        Socket(config.Console.Socket);
        File(config.DebugConsole.File, true);
        foreach (var fs in config.Fs ?? [])
        {
            Socket(fs.Socket);
        }

        foreach (var device in config.GenericVhostUser ?? [])
        {
            Socket(device.Socket);
        }

        foreach (var device in config.UserDevices ?? [])
        {
            Socket(device.Socket);
        }

        foreach (var device in config.Devices ?? [])
        {
            File(device.Path, true);
        }

        foreach (var vdpa in config.Vdpa ?? [])
        {
            File(vdpa.Path, true);
        }

        Socket(config.Vsock?.Socket);
        Socket(config.Tpm?.Socket);
        foreach (var rule in config.LandlockRules ?? [])
        {
            rules.Add(new(Full(rule.Path), rule.Access.Contains('r', StringComparison.Ordinal), rule.Access.Contains('w', StringComparison.Ordinal)));
        }

        return rules;
    }

    /// <summary>The first of <paramref name="needed"/> that some applied layer does not allow, or null.</summary>
    public static LandlockRule? FirstUncovered(IReadOnlyList<IReadOnlyList<LandlockRule>> layers, IEnumerable<LandlockRule> needed)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(needed);
        return needed.FirstOrDefault(n => !layers.All(layer => layer.Any(rule => rule.Covers(n))));
    }

    /// <summary>
    /// Restricts every thread of the process to <paramref name="rules"/> (device rules whose path
    /// does not exist are left out). Returns the kernel's Landlock ABI version, 0 when the kernel
    /// has no Landlock (nothing is restricted then). Throws <see cref="IOException"/> naming the
    /// path or thread that failed.
    /// </summary>
    public static int Apply(IReadOnlyList<LandlockRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var abi = Landlock.AbiVersion();
        if (abi == 0)
        {
            return 0;
        }

        var handled = Landlock.HandledRights(abi);
        using var ruleset = Landlock.CreateRuleset(handled);
        foreach (var rule in rules)
        {
            var optional = DeviceRules.Contains(rule);
            if (optional && !System.IO.Path.Exists(rule.Path))
            {
                continue;
            }

            Landlock.AddPathRule(ruleset, rule.Path, Rights(rule) & handled);
        }

        Landlock.RestrictAllThreads(ruleset);
        return abi;
    }

    private static ulong Rights(LandlockRule rule) =>
        (rule.Read ? Landlock.ACCESS_FS_READ_FILE | Landlock.ACCESS_FS_READ_DIR | Landlock.ACCESS_FS_IOCTL_DEV : 0)
        | (rule.Write
            ? Landlock.ACCESS_FS_WRITE_FILE | Landlock.ACCESS_FS_TRUNCATE | Landlock.ACCESS_FS_IOCTL_DEV
              | Landlock.ACCESS_FS_MAKE_REG | Landlock.ACCESS_FS_MAKE_DIR | Landlock.ACCESS_FS_MAKE_SOCK
              | Landlock.ACCESS_FS_MAKE_FIFO | Landlock.ACCESS_FS_MAKE_SYM | Landlock.ACCESS_FS_REMOVE_FILE
              | Landlock.ACCESS_FS_REMOVE_DIR | Landlock.ACCESS_FS_REFER
            : 0);

    private static string Full(string path) => System.IO.Path.GetFullPath(path);
}
