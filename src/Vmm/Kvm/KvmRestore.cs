using System.Globalization;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// Saving and restoring a KVM VM's whole state tree (state.json): the VM-wide data at the root,
/// one cpu-manager child per vCPU, memory-manager, and device-manager with one child per
/// registered device. Restore checks the snapshot against the VM the config builds (the same
/// vCPUs, RAM layout and devices) and against this host's CPU before it sets anything.
/// </summary>
internal static class KvmRestore
{
    public static Snapshot Save(KvmGuestVm guest, uint[] msrIndices)
    {
        var cpus = new Snapshot();
        foreach (var vcpu in guest.Vcpus)
        {
            cpus.Snapshots[vcpu.Id.ToString(CultureInfo.InvariantCulture)] = Snapshot.Of(ChipState.SaveVcpu(vcpu.Fd, msrIndices));
        }

        var devices = guest.Registry.SaveStates();
        var manager = new DeviceManagerState
        {
            DeviceTree = new Dictionary<string, InternalApi.Models.DeviceNode>(guest.DeviceTree),
            PciSegments = guest.DeviceManager?.SaveSegments() ?? [],
            PciHotplug = guest.DeviceManager?.HotplugController?.SaveState(),
        };
        var root = new Snapshot
        {
            SnapshotData = new SnapshotData { State = ChipState.SaveVm(guest.VmFd, guest.Vcpus.Count > 0 ? guest.Vcpus[0].Fd.Cpuid : []) },
        };
        root.Snapshots[SnapshotFiles.CpuManager] = cpus;
        root.Snapshots[SnapshotFiles.MemoryManager] = Snapshot.Of(StateJson.Write(SnapshotMemory.ManagerState(guest.Memory), StateJsonContext.Default.MemoryManagerSnapshotData));
        root.Snapshots[SnapshotFiles.DeviceManager] = new Snapshot
        {
            Snapshots = devices,
            SnapshotData = new SnapshotData { State = StateJson.Write(manager, StateJsonContext.Default.DeviceManagerState) },
        };
        return root;
    }

    /// <summary>
    /// Fills fresh RAM from memory-ranges once its ranges are those this config lays out, or for
    /// ondemand starts the userfaultfd server that fills each page when it is first touched.
    /// </summary>
    public static UserfaultfdServer? FillMemory(GuestMemory memory, SnapshotImage image, ILogger logger, CancellationToken cancellationToken)
    {
        CheckLayout(memory, image);

        if (image.OnDemand)
        {
            if (image.Config.Memory.Hugepages)
            {
                throw new Hypervisor.HypervisorException(InternalApi.ApiErrorKind.InvalidArgument, "Cannot restore VM",
                    ["memory_restore_mode=ondemand serves 4 KiB pages: config.json has hugepages=on"]);
            }

            return UserfaultfdServer.Start(memory, image.MemoryPath, image.Memory.MemoryRanges, logger);
        }

        using var file = File.OpenHandle(image.MemoryPath, FileMode.Open, FileAccess.Read);
        SnapshotMemory.Fill(memory, file, image.Memory.MemoryRanges, cancellationToken);
        if (image.Prefault)
        {
            memory.Populate();
        }

        return null;
    }

    /// <summary>The saved memory-manager ranges must be those the config lays out.</summary>
    public static void CheckLayout(GuestMemory memory, SnapshotImage image)
    {
        var expected = SnapshotMemory.Ranges(memory).Data;
        var saved = image.Memory.MemoryRanges.Data;
        if (!saved.SequenceEqual(expected))
        {
            throw new StateFormatException($"{SnapshotFiles.MemoryManager}/memory_ranges",
                $"are {Describe(saved)}, but the {memory.Size} bytes of RAM in config.json are laid out as {Describe(expected)}");
        }
    }

    private static string Describe(IEnumerable<MemoryRange> ranges) =>
        string.Join(", ", ranges.Select(r => $"0x{r.Gpa:X}+0x{r.Length:X}"));

    /// <summary>Puts a freshly built VM (memory already filled, vCPUs created, nothing run) into the saved state.</summary>
    public static void Restore(KvmGuestVm guest, Snapshot root, kvm_cpuid_entry2[] supported, ILogger logger)
    {
        var cpus = root.Child(SnapshotFiles.CpuManager);
        if (cpus.Snapshots.Count != guest.Vcpus.Count)
        {
            throw new StateFormatException(SnapshotFiles.CpuManager, $"has {cpus.Snapshots.Count} vCPUs, but config.json boots {guest.Vcpus.Count}");
        }

        var states = new List<(KvmVcpu Vcpu, string State, string Id)>();
        foreach (var vcpu in guest.Vcpus)
        {
            var id = vcpu.Id.ToString(CultureInfo.InvariantCulture);
            var path = $"{SnapshotFiles.CpuManager}/{id}";
            try
            {
                var state = cpus.Child(id).State();
                ChipState.CheckCompatible(ChipState.SavedCpuid(state), CpuidTopology.ForVcpu(supported, vcpu.Id, guest.Vcpus.Count), "Kvm/cpuid");
                states.Add((vcpu, state, path));
            }
            catch (StateFormatException e)
            {
                throw e.Under(path);
            }
        }

        ChipState.RestoreVm(guest.VmFd, root.State());
        var devices = root.Child(SnapshotFiles.DeviceManager);
        try
        {
            var manager = StateJson.Read(devices.State(), StateJsonContext.Default.DeviceManagerState);
            guest.DeviceManager?.RestoreSegments(manager.PciSegments);
            if (manager.PciHotplug is { } hotplug && guest.DeviceManager?.HotplugController is { } controller)
            {
                try
                {
                    controller.RestoreState(hotplug);
                }
                catch (StateFormatException e)
                {
                    throw e.Under("pci_hotplug");
                }
            }

            guest.Registry.RestoreStates(devices.Snapshots);
        }
        catch (StateFormatException e)
        {
            throw e.Under(SnapshotFiles.DeviceManager);
        }

        foreach (var (vcpu, state, path) in states)
        {
            try
            {
                ChipState.RestoreVcpu(vcpu.Fd, state, logger);
            }
            catch (StateFormatException e)
            {
                throw e.Under(path);
            }
        }
    }
}
