using System.Text.Json.Serialization;

namespace CloudHypervisor.Vmm.State;

/// <summary>
/// Upstream's snapshot tree (vm-migration <c>Snapshot</c>), the whole of state.json: children by
/// id and this node's own data. There is no <c>id</c> field (upstream dropped it in v29).
/// </summary>
public sealed class Snapshot
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public Dictionary<string, Snapshot> Snapshots { get; init; } = [];

    /// <summary>Written as <c>null</c> when the node has no data of its own, as upstream does.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public SnapshotData? SnapshotData { get; init; }

    public static Snapshot Of(string state) => new() { SnapshotData = new SnapshotData { State = state } };

    /// <summary>The child <paramref name="id"/>; throws naming it when the snapshot lacks it.</summary>
    public Snapshot Child(string id) =>
        Snapshots.TryGetValue(id, out var child) ? child : throw new StateFormatException(id, "is missing");

    /// <summary>This node's state text; throws when the node has none.</summary>
    public string State() => SnapshotData?.State ?? throw new StateFormatException("snapshot_data", "is missing");
}

/// <summary>Upstream's <c>SnapshotData</c>: a component's state as a JSON string.</summary>
public sealed class SnapshotData
{
    public required string State { get; init; }
}

/// <summary>One guest-physical range in memory-ranges, upstream's <c>MemoryRange</c>.</summary>
public sealed record MemoryRange
{
    public required ulong Gpa { get; init; }

    public required ulong Length { get; init; }
}

/// <summary>Upstream's <c>MemoryRangeTable</c>: <c>{"data":[{"gpa":..,"length":..}]}</c>, in file order.</summary>
public sealed class MemoryRangeTable
{
    public required List<MemoryRange> Data { get; init; }

    /// <summary>Bytes the memory-ranges file holds: the ranges packed back to back.</summary>
    public ulong TotalLength => Data.Aggregate(0UL, (sum, r) => checked(sum + r.Length));
}

/// <summary>One KVM memory slot of guest RAM (upstream's <c>GuestRamMapping</c>).</summary>
public sealed record GuestRamMapping
{
    public required uint Slot { get; init; }

    public required ulong Gpa { get; init; }

    public required ulong Size { get; init; }

    public required string ZoneId { get; init; }

    public bool VirtioMem { get; init; }

    public required ulong FileOffset { get; init; }
}

/// <summary>
/// The memory-manager node's data, upstream's <c>MemoryManagerSnapshotData</c> with the fields
/// this VMM has (no hot-plug slots yet): the ranges the memory-ranges file holds and how RAM is mapped.
/// </summary>
public sealed class MemoryManagerSnapshotData
{
    public required MemoryRangeTable MemoryRanges { get; init; }

    public required List<GuestRamMapping> GuestRamMappings { get; init; }

    public required ulong StartOfDeviceArea { get; init; }

    public required ulong BootRam { get; init; }

    public required ulong CurrentRam { get; init; }

    public required uint NextMemorySlot { get; init; }
}

/// <summary>One PCI segment's own state: the 0xCF8 address latch (segment 0) and the host bridge's config space.</summary>
public sealed record PciSegmentState
{
    public required ushort Id { get; init; }

    public uint ConfigAddress { get; init; }

    public required Pci.PciFunctionState HostBridge { get; init; }
}

/// <summary>
/// The device-manager node's data (upstream's <c>DeviceManagerState</c>): the device tree as
/// vm.info shows it, and the PCI segments, which are not devices of the registry.
/// </summary>
public sealed class DeviceManagerState
{
    public required Dictionary<string, InternalApi.Models.DeviceNode> DeviceTree { get; init; }

    public required List<PciSegmentState> PciSegments { get; init; }

    /// <summary>The PCI hot-plug controller's state record, when the VM has one.</summary>
    public string? PciHotplug { get; init; }
}
