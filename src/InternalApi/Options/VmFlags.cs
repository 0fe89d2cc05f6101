namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// The raw values of <c>cloud-hypervisor</c>'s VM configuration flags (contract §6.2), exactly as
/// typed: one string per single flag (null when not given), one list per repeatable flag (null
/// when not given; a flag given several times, or with several values, adds one entry each), one
/// bool per plain switch. Flags with an upstream default start with that default string, so a
/// caller sets only what the user gave. <see cref="VmConfigBuilder"/> turns this into a VmConfig.
/// </summary>
public sealed record VmFlags
{
    /// <summary>Upstream's default <c>--cpus</c>.</summary>
    public const string DefaultCpus = "boot=1,max_phys_bits=46";

    /// <summary>Upstream's default <c>--memory</c>.</summary>
    public const string DefaultMemory = "size=512M";

    /// <summary>Upstream's default <c>--rng</c>.</summary>
    public const string DefaultRng = "src=/dev/urandom";

    /// <summary>Upstream's default <c>--serial</c>.</summary>
    public const string DefaultSerial = "null";

    /// <summary>Upstream's default <c>--console</c>.</summary>
    public const string DefaultConsole = "tty";

    /// <summary>Upstream's default <c>--debug-console</c> (x86_64).</summary>
    public const string DefaultDebugConsole = "off,iobase=0xe9";

    /// <summary><c>--cpus</c>; see <see cref="ConfigOptions.Cpus"/>.</summary>
    public string Cpus { get; init; } = DefaultCpus;

    /// <summary><c>--memory</c>; see <see cref="ConfigOptions.Memory"/>.</summary>
    public string Memory { get; init; } = DefaultMemory;

    /// <summary><c>--memory-zone</c>, repeatable.</summary>
    public IReadOnlyList<string>? MemoryZones { get; init; }

    /// <summary><c>--firmware</c>: a payload flag; must not be combined with <c>--kernel</c> (a validation error).</summary>
    public string? Firmware { get; init; }

    /// <summary><c>--kernel</c>: a payload flag (PVH/ELF vmlinux or bzImage).</summary>
    public string? Kernel { get; init; }

    /// <summary><c>--initramfs</c>.</summary>
    public string? Initramfs { get; init; }

    /// <summary><c>--cmdline</c>: the kernel command line, taken verbatim.</summary>
    public string? Cmdline { get; init; }

    /// <summary><c>--rate-limit-group</c>, repeatable.</summary>
    public IReadOnlyList<string>? RateLimitGroups { get; init; }

    /// <summary><c>--disk</c>, repeatable.</summary>
    public IReadOnlyList<string>? Disks { get; init; }

    /// <summary><c>--net</c>, repeatable.</summary>
    public IReadOnlyList<string>? Net { get; init; }

    /// <summary><c>--rng</c>; see <see cref="ConfigOptions.Rng"/>.</summary>
    public string Rng { get; init; } = DefaultRng;

    /// <summary><c>--balloon</c>; see <see cref="ConfigOptions.Balloon"/>.</summary>
    public string? Balloon { get; init; }

    /// <summary><c>--fs</c>, repeatable.</summary>
    public IReadOnlyList<string>? Fs { get; init; }

    /// <summary><c>--generic-vhost-user</c>, repeatable.</summary>
    public IReadOnlyList<string>? GenericVhostUser { get; init; }

    /// <summary><c>--pmem</c>, repeatable.</summary>
    public IReadOnlyList<string>? Pmem { get; init; }

    /// <summary><c>--serial</c>; see <see cref="ConfigOptions.Serial"/>.</summary>
    public string Serial { get; init; } = DefaultSerial;

    /// <summary><c>--console</c>; see <see cref="ConfigOptions.Console"/>.</summary>
    public string Console { get; init; } = DefaultConsole;

    /// <summary><c>--debug-console</c>; see <see cref="ConfigOptions.DebugConsole"/>.</summary>
    public string DebugConsole { get; init; } = DefaultDebugConsole;

    /// <summary><c>--device</c> (VFIO), repeatable.</summary>
    public IReadOnlyList<string>? Devices { get; init; }

    /// <summary><c>--user-device</c>, repeatable.</summary>
    public IReadOnlyList<string>? UserDevices { get; init; }

    /// <summary><c>--vdpa</c>, repeatable.</summary>
    public IReadOnlyList<string>? Vdpa { get; init; }

    /// <summary><c>--vsock</c>; see <see cref="ConfigOptions.Vsock"/>.</summary>
    public string? Vsock { get; init; }

    /// <summary><c>--pvpanic</c> switch.</summary>
    public bool Pvpanic { get; init; }

    /// <summary><c>--numa</c>, repeatable.</summary>
    public IReadOnlyList<string>? Numa { get; init; }

    /// <summary><c>--watchdog</c> switch.</summary>
    public bool Watchdog { get; init; }

    /// <summary><c>--rtc</c>; the empty string when given without a value.</summary>
    public string? Rtc { get; init; }

    /// <summary><c>--gdb</c> was given (GUEST_DEBUG builds only).</summary>
    public bool Gdb { get; init; }

    /// <summary><c>--pci-segment</c>, repeatable.</summary>
    public IReadOnlyList<string>? PciSegments { get; init; }

    /// <summary><c>--platform</c>; see <see cref="ConfigOptions.Platform"/>.</summary>
    public string? Platform { get; init; }

    /// <summary><c>--tpm</c>; see <see cref="ConfigOptions.Tpm"/>.</summary>
    public string? Tpm { get; init; }

    /// <summary><c>--landlock</c> switch.</summary>
    public bool LandlockEnable { get; init; }

    /// <summary><c>--landlock-rules</c>, repeatable.</summary>
    public IReadOnlyList<string>? LandlockRules { get; init; }

    /// <summary>
    /// True when a payload flag (<c>--kernel</c> or <c>--firmware</c>) is present: only then does
    /// the CLI build a VM (contract §6.3); otherwise it restores or idles.
    /// </summary>
    public bool HasPayload => Kernel is not null || Firmware is not null;
}
