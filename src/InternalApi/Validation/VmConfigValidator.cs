using System.Net;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

/// <summary>
/// Upstream's <c>VmConfig::validate()</c>: the checks a config must pass before boot and on every
/// cold add (contract §1.5), in upstream's order, stopping at the first failure with upstream's
/// message where the contract gives one. vm.create does not validate (contract §9 item 7).
/// Pure: the config is not changed.
/// </summary>
public static partial class VmConfigValidator
{
    public const string PayloadNotBootable = "Payload configuration is not bootable";
    public const string MissingBootitem = "No bootitem provided: neither firmware nor kernel";
    public const string FirmwarePlusKernel = "Specifying a kernel is not supported when a firmware is provided";

    /// <summary>Upstream's answer (not a validation message) when a second vsock is added.</summary>
    public const string TooManyVsockDevices = "Too many virtio-vsock devices";

    /// <summary>Guest memory sizes must be multiples of this.</summary>
    public const ulong PageSize = 4096;

    public const ushort MaxPciSegments = 96;
    public const byte MaxIommuAddressWidthBits = 64;
    public const int MaxBlockSerialLength = 20;
    public const ushort MinimumBlockQueueSize = 2;
    public const ushort MinimumMtu = 1280;

    /// <summary>
    /// The most vCPUs a VM can have: x86 xAPIC ids are 8 bits and 0xFF is the broadcast id, so the
    /// MADT can name CPUs 0-253 (254 of them). Checked at vm.create so a config that cannot boot is
    /// refused when it is given, not at boot.
    /// </summary>
    public const uint MaxVcpus = 254;

    /// <summary>
    /// The least guest RAM a VM boots with: the kernel is loaded at 1 MiB, and below it lie the
    /// real-mode area, the boot structures and the ACPI tables; 2 MiB leaves the kernel 1 MiB.
    /// </summary>
    public const ulong MinimumMemorySize = 2UL << 20;

    /// <summary>
    /// Full validation, as upstream's cold add and boot run it: a config without a bootable
    /// payload fails. Null when the config is valid.
    /// </summary>
    public static ConfigValidationError? Validate(VmConfig config) => Run(config, checkPayload: true);

    /// <summary>Every check except the payload one, for a config that is not meant to boot yet.</summary>
    public static ConfigValidationError? ValidateWithoutPayload(VmConfig config) => Run(config, checkPayload: false);

    private static ConfigValidationError? Run(VmConfig config, bool checkPayload)
    {
        ArgumentNullException.ThrowIfNull(config);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        return (checkPayload ? Payload(config.Payload) : null)
            ?? Consoles(config)
            ?? Cpus(config)
            ?? Memory(config.Memory)
            // Before the devices, so a bad segment count is reported as such, not as every
            // device's segment being out of range.
            ?? Platform(config.Platform)
            // Before the per-device checks: a config with more devices than PCI slots is refused
            // for that, whatever else is wrong with its thousandth disk.
            ?? PciSlots(config)
            ?? RateLimitGroups(config, ids)
            ?? Disks(config, ids)
            ?? Nets(config, ids)
            ?? Fs(config, ids)
            ?? Pmems(config, ids)
            ?? UserDevices(config, ids)
            ?? Vdpas(config, ids)
            ?? Vsock(config, ids)
            ?? Balloon(config, ids)
            ?? VfioDevices(config, ids)
            ?? Singletons(config, ids)
            ?? Numa(config)
            ?? MemoryZoneIds(config, ids)
            ?? PciSegments(config)
            ?? LandlockRules(config);
    }

    private static ConfigValidationError? Payload(PayloadConfig? payload)
    {
        if (payload is null)
        {
            return ConfigValidationError.Invalid(PayloadNotBootable, MissingBootitem);
        }

        if (payload.Igvm is not null)
        {
            return ConfigValidationError.Invalid(PayloadNotBootable, "IGVM payloads are not supported by this build");
        }

        if (payload.HostData is not null)
        {
            return ConfigValidationError.Invalid(PayloadNotBootable, "SEV-SNP host data is not supported by this build");
        }

        return (payload.Firmware, payload.Kernel) switch
        {
            (not null, not null) => ConfigValidationError.Invalid(PayloadNotBootable, FirmwarePlusKernel),
            (null, null) => ConfigValidationError.Invalid(PayloadNotBootable, MissingBootitem),
            _ => null,
        };
    }

    private static ConfigValidationError? Consoles(VmConfig config) =>
        ConsoleMode(config.Console.Mode, config.Console.File, config.Console.Socket)
        ?? ConsoleMode(config.Serial.Mode, config.Serial.File, config.Serial.Socket)
        ?? (config.DebugConsole.Mode == Models.ConsoleMode.File && config.DebugConsole.File is null
            ? ConfigValidationError.Invalid("Path missing when using file mode for debug console")
            : null)
        ?? (config.DebugConsole.Mode == Models.ConsoleMode.Socket
            ? ConfigValidationError.Invalid("The debug console does not support socket mode")
            : null);

    private static ConfigValidationError? ConsoleMode(ConsoleMode mode, string? file, string? socket) => mode switch
    {
        Models.ConsoleMode.File when file is null => ConfigValidationError.Invalid("Path missing when using file console mode"),
        Models.ConsoleMode.Socket when socket is null => ConfigValidationError.Invalid("Path missing when using socket console mode"),
        _ => null,
    };

    private static ConfigValidationError? Cpus(VmConfig config)
    {
        var cpus = config.Cpus;
        if (cpus.BootVcpus == 0)
        {
            return ConfigValidationError.Invalid("Number of boot vCPUs must be at least 1");
        }

        if (cpus.MaxVcpus < cpus.BootVcpus)
        {
            return ConfigValidationError.Invalid("Max CPUs lower than boot CPUs");
        }

        if (cpus.MaxVcpus > MaxVcpus)
        {
            return ConfigValidationError.Invalid($"Max CPUs ({cpus.MaxVcpus}) greater than the {MaxVcpus} vCPUs a VM can have");
        }

        if (cpus.Topology is { } t)
        {
            if (t.ThreadsPerCore == 0 || t.CoresPerDie == 0 || t.DiesPerPackage == 0 || t.Packages == 0)
            {
                return ConfigValidationError.Invalid("No part of the CPU topology can be zero");
            }

            var total = (ulong)t.ThreadsPerCore * t.CoresPerDie * t.DiesPerPackage * t.Packages;
            if (total != cpus.MaxVcpus)
            {
                return ConfigValidationError.Invalid("Product of CPU topology parts does not match maximum vCPU");
            }
        }

        foreach (var affinity in cpus.Affinity ?? [])
        {
            if (affinity.Vcpu >= cpus.MaxVcpus)
            {
                return ConfigValidationError.Invalid($"CPU affinity names vCPU {affinity.Vcpu}, but max_vcpus is {cpus.MaxVcpus}");
            }
        }

        return null;
    }

    private static ConfigValidationError? Memory(MemoryConfig memory)
    {
        var hasZones = memory.Zones is { Count: > 0 };
        if (memory.Size % PageSize != 0 || (memory.Size == 0 && !hasZones))
        {
            return ConfigValidationError.Invalid($"Memory size {memory.Size} is not a non-zero multiple of {PageSize} bytes");
        }

        if (memory.HugepageSize is { } size)
        {
            if (!memory.Hugepages)
            {
                return ConfigValidationError.Invalid("Huge page size specified but huge pages not enabled");
            }

            if (!ulong.IsPow2(size))
            {
                return ConfigValidationError.Invalid($"Huge page size is not power of 2: {size}");
            }
        }

        foreach (var zone in memory.Zones ?? [])
        {
            if (zone.Size == 0 || zone.Size % PageSize != 0)
            {
                return ConfigValidationError.Invalid($"Memory zone {zone.Id} size {zone.Size} is not a non-zero multiple of {PageSize} bytes");
            }

            if (zone.HugepageSize is { } zoneHugepage && (!zone.Hugepages || !ulong.IsPow2(zoneHugepage)))
            {
                return zone.Hugepages
                    ? ConfigValidationError.Invalid($"Huge page size is not power of 2: {zoneHugepage}")
                    : ConfigValidationError.Invalid("Huge page size specified but huge pages not enabled");
            }
        }

        if (MemorySize.Configured(memory) < MinimumMemorySize)
        {
            return ConfigValidationError.Invalid($"Memory size {MemorySize.Configured(memory)} is smaller than the minimum of {MinimumMemorySize} bytes (2 MiB)");
        }

        return null;
    }

    /// <summary>
    /// Upstream's <c>validate_identifier</c>: ids beginning with "__" are reserved for the VMM's
    /// own devices; every id is unique across devices, rate-limit groups and memory zones.
    /// </summary>
    private static ConfigValidationError? Identifier(HashSet<string> ids, string? id)
    {
        if (id is null)
        {
            return null;
        }

        if (id.StartsWith("__", StringComparison.Ordinal))
        {
            return ConfigValidationError.Invalid($"Identifier {id} is not valid");
        }

        return ids.Add(id) ? null : ConfigValidationError.Duplicate($"Identifier {id} is not unique");
    }

    /// <summary>True when guest RAM can be shared with a vhost-user backend (upstream's backed_by_shared_memory).</summary>
    public static bool BackedBySharedMemory(MemoryConfig memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (memory.Shared || memory.Hugepages)
        {
            return true;
        }

        return memory.Size == 0 && (memory.Zones ?? []).All(z => z.Shared || z.Hugepages);
    }

    /// <summary>
    /// Whether the VM needs a virtual IOMMU: config.iommu, any device placed behind it, or IOMMU
    /// segments. Upstream's validate() ORs this into <c>config.iommu</c> (so vm.info after boot
    /// shows <c>"iommu":true</c>); this validator is pure, so the VMM sets it at boot.
    /// </summary>
    public static bool RequiresIommu(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Iommu
            || config.Platform?.IommuSegments is not null
            || DeviceIds.Devices(config).Any(d => d.Iommu);
    }

    private static ushort NumPciSegments(VmConfig config) => config.Platform?.NumPciSegments ?? 1;

    /// <summary>Per-device PCI placement: the segment exists, and IOMMU segments hold only IOMMU devices.</summary>
    private static ConfigValidationError? PciPlacement(VmConfig config, IPciDeviceConfig device, bool supportsIommu = true)
    {
        if (device.PciSegment >= NumPciSegments(config))
        {
            return ConfigValidationError.Invalid($"Invalid PCI segment id: {device.PciSegment}");
        }

        if (device.Iommu && !supportsIommu)
        {
            return ConfigValidationError.Invalid("Device does not support being placed behind IOMMU");
        }

        if (config.Platform?.IommuSegments is { } iommuSegments && iommuSegments.Contains(device.PciSegment) && !device.Iommu)
        {
            return supportsIommu
                ? ConfigValidationError.Invalid($"Device is on an IOMMU PCI segment ({device.PciSegment}) but not placed behind IOMMU")
                : ConfigValidationError.Invalid($"Device is on an IOMMU PCI segment ({device.PciSegment}) but does not support being placed behind IOMMU");
        }

        return null;
    }

    private static bool IsIpAddress(string text) => IPAddress.TryParse(text, out _);
}
