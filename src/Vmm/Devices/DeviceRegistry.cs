using System.Text;
using System.Text.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>Upstream's device_tree resources (vm-device Resource), written as externally tagged JSON enums.</summary>
public static class DeviceResources
{
    public static JsonElement Pio(ulong @base, ulong size) => Parse($"{{\"PioAddressRange\":{{\"base\":{@base},\"size\":{size}}}}}");

    public static JsonElement Mmio(ulong @base, ulong size) => Parse($"{{\"MmioAddressRange\":{{\"base\":{@base},\"size\":{size}}}}}");

    public static JsonElement LegacyIrq(int irq) => Parse($"{{\"LegacyIrq\":{irq}}}");

    public static JsonElement PciBar(int index, ulong @base, ulong size, bool is64Bit, bool prefetchable) =>
        Parse($"{{\"PciBar\":{{\"index\":{index},\"base\":{@base},\"size\":{size},\"type_\":\"{(is64Bit ? "Memory64BitRegion" : "Memory32BitRegion")}\",\"prefetchable\":{(prefetchable ? "true" : "false")}}}}}");

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(Encoding.UTF8.GetBytes(json));
        return document.RootElement.Clone();
    }
}

/// <summary>One device of a VM as the registry knows it: what vm.info shows and what vm.counters reads.</summary>
public sealed class RegisteredDevice(string id)
{
    public string Id { get; } = id;

    /// <summary>Read at every vm.info, so a moved BAR shows where it is now.</summary>
    public Func<IEnumerable<JsonElement>> Resources { get; init; } = () => [];

    public string? Parent { get; init; }

    public IReadOnlyList<string> Children { get; init; } = [];

    public string? PciBdf { get; init; }

    /// <summary>Device counters for vm.counters; null for a device that has none of its own.</summary>
    public Func<IReadOnlyDictionary<string, ulong>>? Counters { get; init; }

    /// <summary>What to release with the VM (threads, files, vectors), disposed in reverse order of registration.</summary>
    public IDisposable? Owner { get; init; }

    /// <summary>
    /// The device's state for snapshot and restore (<see cref="NoState.Instance"/> for a device
    /// that has none); null only for a device added without state, which the state test refuses.
    /// </summary>
    public IStateful? State { get; init; }

    /// <summary>The device's own threads, stopped while the VM is paused; null when it has none.</summary>
    public IPausable? Pausable { get; init; }
}

/// <summary>
/// The devices of one VM, walked once from its config. device_tree, vm.counters and teardown are
/// loops over it, not lists kept in code. Built before the vCPUs run; read from the control loop.
/// </summary>
public sealed class DeviceRegistry : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<RegisteredDevice> _devices = [];

    public void Add(RegisteredDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_lock)
        {
            if (_devices.Exists(d => d.Id == device.Id))
            {
                throw new ArgumentException($"device id {device.Id} is registered twice");
            }

            _devices.Add(device);
        }
    }

    /// <summary>Forgets a device (hot-unplug after the guest ejected it); its owner is the caller's to release.</summary>
    public RegisteredDevice? Remove(string id)
    {
        lock (_lock)
        {
            var index = _devices.FindIndex(d => d.Id == id);
            if (index < 0)
            {
                return null;
            }

            var device = _devices[index];
            _devices.RemoveAt(index);
            return device;
        }
    }

    public IReadOnlyList<RegisteredDevice> Devices
    {
        get
        {
            lock (_lock)
            {
                return [.. _devices];
            }
        }
    }

    public IReadOnlyDictionary<string, DeviceNode> DeviceTree()
    {
        var tree = new Dictionary<string, DeviceNode>();
        foreach (var d in Devices)
        {
            tree[d.Id] = new DeviceNode
            {
                Id = d.Id,
                Resources = [.. d.Resources()],
                Parent = d.Parent,
                Children = [.. d.Children],
                PciBdf = d.PciBdf,
            };
        }

        return tree;
    }

    /// <summary>Each device's own counters, plus <c>exits</c> for every bus range named after it.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters(params IoBus[] buses)
    {
        ArgumentNullException.ThrowIfNull(buses);
        var result = new Dictionary<string, Dictionary<string, ulong>>();
        foreach (var bus in buses)
        {
            foreach (var (name, count) in bus.AccessCounts())
            {
                var entry = result.TryGetValue(name, out var e) ? e : result[name] = [];
                entry["exits"] = entry.GetValueOrDefault("exits") + count;
            }
        }

        foreach (var d in Devices)
        {
            if (d.Counters is null)
            {
                continue;
            }

            var entry = result.TryGetValue(d.Id, out var e) ? e : result[d.Id] = [];
            foreach (var (key, value) in d.Counters())
            {
                entry[key] = value;
            }
        }

        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<string, ulong>)kv.Value);
    }

    /// <summary>Stops every device's own work, last registered first (virtio devices before the UART).</summary>
    public void Pause()
    {
        foreach (var d in Devices.Reverse())
        {
            d.Pausable?.Pause();
        }
    }

    public void Resume()
    {
        foreach (var d in Devices)
        {
            d.Pausable?.Resume();
        }
    }

    /// <summary>Every device's state, keyed by id (the device-manager node's children in state.json).</summary>
    public Dictionary<string, Snapshot> SaveStates()
    {
        var states = new Dictionary<string, Snapshot>();
        foreach (var d in Devices)
        {
            var state = d.State ?? throw new InvalidOperationException($"device {d.Id} has no state support");
            states[d.Id] = Snapshot.Of(state.SaveState());
        }

        return states;
    }

    /// <summary>
    /// Restores every device from <paramref name="saved"/>, which must hold exactly the devices
    /// this VM has; a missing, extra or malformed one throws naming it.
    /// </summary>
    public void RestoreStates(IReadOnlyDictionary<string, Snapshot> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var devices = Devices;
        foreach (var id in saved.Keys)
        {
            if (!devices.Any(d => d.Id == id))
            {
                throw new StateFormatException(id, "is not a device of this VM (the snapshot was taken of another device layout)");
            }
        }

        foreach (var d in devices)
        {
            var state = d.State ?? throw new InvalidOperationException($"device {d.Id} has no state support");
            try
            {
                state.RestoreState(saved.TryGetValue(d.Id, out var node) ? node.State() : throw new StateFormatException("", "is missing"));
            }
            catch (StateFormatException e)
            {
                throw e.Under(d.Id);
            }
        }
    }

    public void Dispose()
    {
        foreach (var d in Devices.Reverse())
        {
            d.Owner?.Dispose();
        }
    }
}
