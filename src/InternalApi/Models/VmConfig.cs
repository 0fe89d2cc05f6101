using System.Text.Json.Serialization;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>
/// Upstream schema <c>VmConfig</c>: the body of vm.create and the <c>config</c> of vm.info.
/// Properties are declared in upstream's Rust field order, which is the JSON key order
/// (contract §3.2). Every member has upstream's default, so <c>{}</c> deserializes (payload is
/// only enforced by validation, contract §9 item 7). Mutable: the VMM writes assigned device ids
/// and PTY paths back into the stored config.
/// </summary>
public sealed partial class VmConfig
{
    /// <summary>Upstream's default memory size: 512 MiB.</summary>
    public const ulong DefaultMemorySize = 512UL << 20;

    /// <summary>Upstream's default debug-console port, 0xE9.</summary>
    public const ushort DefaultDebugConsoleIobase = 0xE9;

    public CpusConfig Cpus { get; set; } = new() { BootVcpus = 1, MaxVcpus = 1 };

    public MemoryConfig Memory { get; set; } = new() { Size = DefaultMemorySize };

    public PayloadConfig? Payload { get; set; }

    public List<RateLimitGroupConfig>? RateLimitGroups { get; set; }

    public List<DiskConfig>? Disks { get; set; }

    public List<NetConfig>? Net { get; set; }

    public RngConfig Rng { get; set; } = new() { Src = "/dev/urandom" };

    public BalloonConfig? Balloon { get; set; }

    public List<GenericVhostUserConfig>? GenericVhostUser { get; set; }

    public List<FsConfig>? Fs { get; set; }

    public List<PmemConfig>? Pmem { get; set; }

    public SerialConfig Serial { get; set; } = new() { Mode = ConsoleMode.Null };

    public ConsoleConfig Console { get; set; } = new() { Mode = ConsoleMode.Tty };

    public DebugConsoleConfig DebugConsole { get; set; } =
        new() { Mode = ConsoleMode.Off, Iobase = DefaultDebugConsoleIobase };

    /// <summary>VFIO devices.</summary>
    public List<DeviceConfig>? Devices { get; set; }

    /// <summary>vfio-user devices.</summary>
    public List<UserDeviceConfig>? UserDevices { get; set; }

    public List<VdpaConfig>? Vdpa { get; set; }

    public VsockConfig? Vsock { get; set; }

    public bool Pvpanic { get; set; }

    public bool Iommu { get; set; }

    public List<NumaConfig>? Numa { get; set; }

    public bool Watchdog { get; set; }

    public RtcConfig? Rtc { get; set; }

#if GUEST_DEBUG
    /// <summary>Stop at boot for gdb (upstream feature guest_debug; always written in such builds).</summary>
    public bool Gdb { get; set; }
#endif

    public List<PciSegmentConfig>? PciSegments { get; set; }

    public PlatformConfig? Platform { get; set; }

    public TpmConfig? Tpm { get; set; }

    public bool LandlockEnable { get; set; }

    public List<LandlockConfig>? LandlockRules { get; set; }
}
