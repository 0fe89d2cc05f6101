using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Validation;

// How many PCI devices a config can hold: upstream's PCI root bus has 32 device slots per
// segment and slot 0 is its host bridge, so each segment holds 31 devices. Upstream finds out at
// boot (or hot plug), when the bus runs out; here a config that cannot be placed is refused when
// it is given, with upstream's words, and the count bounds every device list of a VM.
public static partial class VmConfigValidator
{
    /// <summary>Device slots of one PCI bus (PCI spec: 5-bit device number).</summary>
    public const int PciSlotsPerSegment = 32;

    /// <summary>Slots left for devices on each segment once the host bridge has slot 0.</summary>
    public const int PciDevicesPerSegment = PciSlotsPerSegment - 1;

    /// <summary>Upstream's PciRootError::NoPciDeviceSlotAvailable.</summary>
    public const string NoPciDeviceSlotAvailable = "Could not find an available device slot on the PCI bus";

    private static ConfigValidationError? PciSlots(VmConfig config)
    {
        var segmentCount = NumPciSegments(config);
        var used = new int[segmentCount];
        var taken = new HashSet<(ushort Segment, byte Slot)>();
        foreach (var (segment, requestedSlot) in PciDevices(config))
        {
            // A device on a segment that does not exist is reported by its own placement check.
            if (segment >= segmentCount)
            {
                continue;
            }

            if (requestedSlot is { } slot)
            {
                if (slot >= PciSlotsPerSegment)
                {
                    return ConfigValidationError.Invalid($"Invalid PCI device identifier provided: {slot}");
                }

                // Slot 0 is the host bridge's.
                if (slot == 0 || !taken.Add((segment, slot)))
                {
                    return ConfigValidationError.Invalid($"Valid PCI device identifier but already used: {slot}");
                }
            }

            if (++used[segment] > PciDevicesPerSegment)
            {
                return ConfigValidationError.Invalid(
                    NoPciDeviceSlotAvailable,
                    $"PCI segment {segment} holds at most {PciDevicesPerSegment} devices (32 slots, one for the host bridge); "
                    + $"the config places {PciDevices(config).Count(d => d.Segment == segment)} there");
            }
        }

        return null;
    }

    /// <summary>
    /// Every device that takes a PCI slot, as upstream's device manager creates them: the
    /// configured devices (the virtio console only when its mode is not Off), then the ones
    /// without a config object on segment 0: virtio-iommu, watchdog and pvpanic.
    /// </summary>
    private static IEnumerable<(ushort Segment, byte? Slot)> PciDevices(VmConfig config)
    {
        foreach (var device in DeviceIds.Devices(config))
        {
            if (!ReferenceEquals(device, config.Console) || config.Console.Mode != Models.ConsoleMode.Off)
            {
                yield return (device.PciSegment, device.PciDeviceId);
            }
        }

        foreach (var present in new[] { RequiresIommu(config), config.Watchdog, config.Pvpanic })
        {
            if (present)
            {
                yield return (0, null);
            }
        }
    }
}
