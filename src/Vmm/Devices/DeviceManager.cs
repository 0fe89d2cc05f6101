using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Validation;
using CloudHypervisor.Vmm.Devices.Console;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.Platform;
using CloudHypervisor.Vmm.State;
using CloudHypervisor.Vmm.Virtio;
using Serilog;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>The PCI segments of a VM: where each one's ECAM region and BAR windows are.</summary>
public sealed record PciSegmentLayout(ushort Id, ulong EcamBase, ulong Mmio32Start, ulong Mmio32Size, ulong Mmio64Start, ulong Mmio64Size)
{
    /// <summary>
    /// Splits the 32-bit device area and a 64-bit area above RAM between <c>platform.num_pci_segments</c>
    /// segments by their <c>pci_segments[]</c> aperture weights (default 1 each), as upstream does.
    /// </summary>
    public static IReadOnlyList<PciSegmentLayout> For(VmConfig config, ulong ramEnd)
    {
        ArgumentNullException.ThrowIfNull(config);
        var count = config.Platform?.NumPciSegments ?? 1;
        var weights32 = new ulong[count];
        var weights64 = new ulong[count];
        Array.Fill(weights32, 1UL);
        Array.Fill(weights64, 1UL);
        foreach (var s in config.PciSegments ?? [])
        {
            if (s.PciSegment < count)
            {
                weights32[s.PciSegment] = Math.Max(1u, s.Mmio32ApertureWeight);
                weights64[s.PciSegment] = Math.Max(1u, s.Mmio64ApertureWeight);
            }
        }

        var mmio64Start = Math.Max(PlatformLayout.HighRamStart, AlignUp(ramEnd, PlatformLayout.PciMmio64Alignment));
        var unit32 = PlatformLayout.PciMmio32Size / weights32.Aggregate(0UL, (a, b) => a + b) & ~0xFFFFUL;
        var unit64 = PlatformLayout.PciMmio64Size / weights64.Aggregate(0UL, (a, b) => a + b) & ~0xFFFFUL;
        var layouts = new List<PciSegmentLayout>();
        ulong next32 = PlatformLayout.PciMmio32Start, next64 = mmio64Start;
        for (ushort i = 0; i < count; i++)
        {
            layouts.Add(new PciSegmentLayout(i, PlatformLayout.PciEcamStart + ((ulong)i * PciEcam.Size), next32, unit32 * weights32[i], next64, unit64 * weights64[i]));
            next32 += unit32 * weights32[i];
            next64 += unit64 * weights64[i];
        }

        return layouts;
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}

/// <summary>
/// Walks a VM config into devices, hypervisor-neutral: the PCI segments (host bridge, config
/// ports, ECAM), then virtio-pci devices (disks, rng) in upstream's order, each registered with
/// its resources and counters. An entry this VMM cannot build is refused before anything is
/// opened, with a typed error naming it; a host-side failure (missing or locked image) names the
/// device too, and whatever was already built is released, so nothing is left half built.
/// </summary>
public sealed class DeviceManager : IDisposable
{
    private readonly GuestMemory _memory;
    private readonly IInterruptController _interrupts;
    private readonly IIoEventRegistry _ioEvents;
    private readonly IGuestEvents _events;
    private readonly ILogger _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, VirtioBlock> _disks = [];
    private readonly IMemorySlots? _slots;
    private readonly IoBus _mmio;
    private PciConfigIo? _configIo;
    private VirtioBalloon? _balloon;

    /// <summary>Builds the devices of <paramref name="config"/>; <paramref name="slots"/> maps device memory (pmem regions) into the guest, null for a VM that can have none.</summary>
    public DeviceManager(VmConfig config, GuestMemory memory, IInterruptController interrupts, IIoEventRegistry ioEvents,
        IoBus pio, IoBus mmio, DeviceRegistry registry, IGuestEvents events, ILogger logger, ConsoleEndpoint? console = null, IMemorySlots? slots = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(pio);
        ArgumentNullException.ThrowIfNull(mmio);
        _slots = slots;
        _mmio = mmio;
        _memory = memory;
        _interrupts = interrupts;
        _ioEvents = ioEvents;
        _events = events;
        _logger = logger;
        Registry = registry;
        Refuse(config);
        try
        {
            Build(config, pio, mmio, console);
        }
        catch
        {
            // Nothing half built: what was opened, mapped or started so far goes now.
            registry.Dispose();
            throw;
        }
    }

    private void Build(VmConfig config, IoBus pio, IoBus mmio, ConsoleEndpoint? console)
    {
        var ramEnd = _memory.Regions.Max(r => r.End);
        foreach (var layout in PciSegmentLayout.For(config, ramEnd))
        {
            var segment = new PciSegment(layout.Id, layout.EcamBase,
                new PciWindow(layout.Mmio32Start, layout.Mmio32Size), new PciWindow(layout.Mmio64Start, layout.Mmio64Size), mmio);
            mmio.Register(layout.EcamBase, PciEcam.Size, $"__pci_ecam{layout.Id}", new PciEcam(segment));
            if (layout.Id == 0)
            {
                _configIo = new PciConfigIo(segment);
                pio.Register(PciConfigIo.Port, PciConfigIo.Size, "__pci_config_io", _configIo);
            }

            Segments.Add(segment);
        }

        HotplugController = new PciHotplugController(Segments.Count, Eject);
        mmio.Register(PlatformLayout.PciHotplugStart, PlatformLayout.PciHotplugSize, "__pci_hotplug", HotplugController);

        // As upstream, the virtio console comes first (00:01.0 unless pci_device_id says otherwise).
        if (console is not null)
        {
            var device = new VirtioConsole(config.Console.Id ?? DeviceIds.Console, console.Backend);
            AddVirtio(device, config.Console.PciSegment, config.Console.PciDeviceId, new InputRoute(console));
            console.RouteInput(device.Input);
        }

        foreach (var disk in config.Disks ?? [])
        {
            var id = disk.Id ?? throw new ArgumentException("disks: a disk has no id (ids are assigned before boot)");
            var block = new VirtioBlock(id, DiskImages.Open(id, disk), disk.Readonly, disk.Sparse,
                checked((int)disk.NumQueues), disk.QueueSize, disk.Serial);
            _disks[id] = block;
            AddVirtio(block, disk.PciSegment, disk.PciDeviceId);
        }

        foreach (var net in config.Net ?? [])
        {
            var id = net.Id ?? throw new ArgumentException("net: a device has no id (ids are assigned before boot)");
            AddVirtio(Networks.Create(id, net), net.PciSegment, net.PciDeviceId);
        }

        var rng = config.Rng;
        FileStream source;
        try
        {
            source = new FileStream(rng.Src, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-rng device {DeviceIds.Rng}", [$"Cannot open entropy source {rng.Src}: {e.Message}"]);
        }

        AddVirtio(new VirtioRng(DeviceIds.Rng, source), rng.PciSegment, rng.PciDeviceId);

        // Upstream's order: block, net, rng, fs, pmem, vsock, mem, balloon.
        foreach (var pmem in config.Pmem ?? [])
        {
            AddPmem(pmem);
        }

        if (config.Vsock is { } vsock)
        {
            AddVirtio(Vsocks.Create(vsock), vsock.PciSegment, vsock.PciDeviceId);
        }

        if (config.Balloon is { } balloon)
        {
            _balloon = new VirtioBalloon(balloon.Id ?? DeviceIds.Balloon, balloon.Size, balloon.DeflateOnOom, balloon.FreePageReporting, _logger);
            AddVirtio(_balloon, balloon.PciSegment, balloon.PciDeviceId);
        }
    }

    /// <summary>
    /// A virtio-pmem device: the file mapped at a 2 MiB aligned address of its segment's 64-bit
    /// window (as upstream, which places it with the segment's mem64 allocator), the region in a
    /// memory slot and on the MMIO bus, and its range in the device's device_tree node.
    /// </summary>
    private string AddPmem(PmemConfig config)
    {
        var id = config.Id ?? throw new ArgumentException("pmem: a device has no id (ids are assigned before boot)");
        if (_slots is null)
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-pmem device {id}", ["this VM cannot map device memory"]);
        }

        var (file, size) = Pmems.Open(id, config);
        FileMapping? mapping = null;
        IDisposable? slot = null;
        IDisposable? bus = null;
        try
        {
            var segment = Segments[config.PciSegment];
            var start = segment.Mmio64.Allocate(size, Pmems.Alignment)
                ?? throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-pmem device {id}",
                    [$"PCI segment {config.PciSegment}'s 64-bit window has no room for {size} bytes"]);
            mapping = FileMapping.Map(file.SafeFileHandle, size, config.DiscardWrites);
            var region = new PmemRegionBus();
            _mmio.Register(start, size, $"_pmem-region-{id}", region);
            bus = new BusRange(_mmio, start);
            slot = _slots.Map(start, mapping);
            var device = new VirtioPmem(id, file, mapping, slot, start, region, bus);
            return AddVirtio(device, config.PciSegment, config.PciDeviceId, resources: [DeviceResources.Mmio(start, size)]);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            slot?.Dispose();
            bus?.Dispose();
            mapping?.Dispose();
            file.Dispose();
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-pmem device {id}", [e.Message]);
        }
        catch (HypervisorException) when (slot is null)
        {
            bus?.Dispose();
            mapping?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>A range registered on a bus, unregistered when disposed.</summary>
    private sealed class BusRange(IoBus bus, ulong @base) : IDisposable
    {
        public void Dispose() => bus.Unregister(@base);
    }

    /// <summary>The balloon's actual size in bytes (what the driver says it holds); 0 without a balloon.</summary>
    public ulong BalloonActualBytes => _balloon?.ActualBytes ?? 0;

    /// <summary>vm.resize desired_balloon on a running VM: the new target and a config-change interrupt.</summary>
    public void ResizeBalloon(ulong bytes)
    {
        if (_balloon is null)
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, "Cannot resize the balloon", ["the VM has no virtio-balloon device (--balloon)"]);
        }

        _balloon.Resize(bytes);
    }

    public List<PciSegment> Segments { get; } = [];

    /// <summary>\_SB_.PHPR: where the guest learns of added and removed slots, and ejects them.</summary>
    public PciHotplugController? HotplugController { get; private set; }

    /// <summary>Raised after a hot-plug change for the guest to see (the GED's PCI event).</summary>
    public Action? NotifyGuest { get; set; }

    private readonly Dictionary<string, (ushort Segment, int Slot, VirtioPciDevice Transport)> _placed = [];
    private readonly Lock _hotplugLock = new();

    public DeviceRegistry Registry { get; }

    /// <summary>Stops a console endpoint's input going to a device of this VM when the VM goes.</summary>
    private sealed class InputRoute(ConsoleEndpoint endpoint) : IDisposable
    {
        public void Dispose() => endpoint.RouteInput(null);
    }

    private string AddVirtio(IVirtioDevice device, ushort segmentId, byte? slot, IDisposable? alongside = null, IReadOnlyList<System.Text.Json.JsonElement>? resources = null)
    {
        VirtioPciDevice transport;
        try
        {
            transport = new VirtioPciDevice(device, _memory, _interrupts, _ioEvents, _events, _logger);
        }
        catch
        {
            device.Dispose();
            alongside?.Dispose();
            throw;
        }

        var nodeId = $"_virtio-pci-{device.Id}";
        var segment = Segments[segmentId];
        int placed;
        try
        {
            segment.Name(transport, nodeId);
            placed = segment.Add(transport, slot);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            transport.Dispose();
            alongside?.Dispose();
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot place device {device.Id} on PCI segment {segmentId}", [e.Message]);
        }

        var bar = transport.Bar;
        Registry.Add(new RegisteredDevice(nodeId)
        {
            Resources = () => [DeviceResources.PciBar(bar.Index, bar.Address, bar.Size, bar.Is64Bit, bar.Prefetchable)],
            Children = [device.Id],
            PciBdf = segment.Bdf(placed),
            Counters = transport.TransportCounters,
            Owner = transport,
            State = transport,
            Pausable = transport,
        });
        Registry.Add(new RegisteredDevice(device.Id)
        {
            Resources = () => resources ?? [],
            Parent = nodeId,
            Counters = device.Counters,
            Owner = alongside,
            State = device as IStateful,
            Pausable = device as IPausable,
        });
        lock (_hotplugLock)
        {
            _placed[device.Id] = (segmentId, placed, transport);
        }

        return segment.Bdf(placed);
    }

    /// <summary>
    /// Hot-plug, as upstream on x86-64: the device <paramref name="id"/> of <paramref name="config"/>
    /// (already validated and given its id) is built and placed now, its slot is marked in PCIU and
    /// the GED tells the guest. Returns the new function's BDF. Devices this VMM cannot add answer
    /// a typed error naming them.
    /// </summary>
    public string HotPlug(VmConfig config, string id)
    {
        ArgumentNullException.ThrowIfNull(config);
        Refuse(config);
        string bdf;
        if ((config.Disks ?? []).Find(d => d.Id == id) is { } disk)
        {
            var block = new VirtioBlock(id, DiskImages.Open(id, disk), disk.Readonly, disk.Sparse,
                checked((int)disk.NumQueues), disk.QueueSize, disk.Serial);
            bdf = AddVirtio(block, disk.PciSegment, disk.PciDeviceId);
            _disks[id] = block;
        }
        else if ((config.Net ?? []).Find(n => n.Id == id) is { } net)
        {
            bdf = AddVirtio(Networks.Create(id, net), net.PciSegment, net.PciDeviceId);
        }
        else if ((config.Pmem ?? []).Find(p => p.Id == id) is { } pmem)
        {
            bdf = AddPmem(pmem);
        }
        else if (config.Vsock is { } vsock && vsock.Id == id)
        {
            bdf = AddVirtio(Vsocks.Create(vsock), vsock.PciSegment, vsock.PciDeviceId);
        }
        else
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot hot-plug device {id}", ["this VMM hot-plugs disks, nets, pmem and vsock only"]);
        }

        lock (_hotplugLock)
        {
            var (segment, slot, _) = _placed[id];
            HotplugController!.Added(segment, slot);
        }

        NotifyGuest?.Invoke();
        return bdf;
    }

    /// <summary>
    /// remove-device on a booted VM: the slot is marked in PCID and the guest is told; the device
    /// goes when the guest ejects it (B0EJ). Only virtio disks, nets, pmem, fs and vsock may go, as upstream.
    /// </summary>
    public void Unplug(string id)
    {
        (ushort Segment, int Slot, VirtioPciDevice Transport) placed;
        lock (_hotplugLock)
        {
            if (!_placed.TryGetValue(id, out placed))
            {
                throw new HypervisorException(ApiErrorKind.NotFound, $"Unknown device id {id}", []);
            }
        }

        if (placed.Transport.Device is not (VirtioBlock or VirtioNet or VirtioPmem or VirtioVsock))
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot remove device {id}", ["only disks, nets, pmem, fs and vsock devices can be removed (as upstream)"]);
        }

        HotplugController!.RemovalRequested(placed.Segment, placed.Slot);
        NotifyGuest?.Invoke();
    }

    /// <summary>The guest's _EJ0 wrote B0EJ: each slot named goes now, and vm/device-removed says so.</summary>
    private void Eject(ushort segment, uint slots)
    {
        for (var slot = 1; slot < PciSegment.Slots; slot++)
        {
            if ((slots & (1u << slot)) == 0)
            {
                continue;
            }

            string? id = null;
            VirtioPciDevice? transport = null;
            lock (_hotplugLock)
            {
                foreach (var (key, value) in _placed)
                {
                    if (value.Segment == segment && value.Slot == slot)
                    {
                        id = key;
                        transport = value.Transport;
                        break;
                    }
                }

                if (id is not null)
                {
                    _placed.Remove(id);
                }
            }

            if (id is null || transport is null)
            {
                continue;
            }

            Segments[segment].Remove(slot);
            Registry.Remove($"_virtio-pci-{id}");
            Registry.Remove(id)?.Owner?.Dispose();
            _disks.TryRemove(id, out _);
            transport.Dispose();
            _events.DeviceEvent(EventMonitor.Events.Vm.DeviceRemoved, new Dictionary<string, string> { ["id"] = id, ["bdf"] = Segments[segment].Bdf(slot) });
        }
    }

    /// <summary>The segments' own state: the config-address latch and each host bridge.</summary>
    public List<PciSegmentState> SaveSegments() =>
        [.. Segments.Select(s => new PciSegmentState
        {
            Id = s.Id,
            ConfigAddress = s.Id == 0 ? _configIo?.Address ?? 0 : 0,
            HostBridge = s.HostBridge.SaveConfigState(),
        })];

    public void RestoreSegments(IReadOnlyList<PciSegmentState> saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        if (saved.Count != Segments.Count)
        {
            throw new StateFormatException("pci_segments", $"has {saved.Count} segments, this VM has {Segments.Count}");
        }

        for (var i = 0; i < saved.Count; i++)
        {
            try
            {
                Segments[i].HostBridge.RestoreConfigState(saved[i].HostBridge);
            }
            catch (StateFormatException e)
            {
                throw e.Under($"pci_segments/{i}/host_bridge");
            }

            if (i == 0 && _configIo is not null)
            {
                _configIo.Address = saved[i].ConfigAddress;
            }
        }
    }

    /// <summary>vm.resize-disk on a running VM: the image grows and the guest gets a config-change interrupt.</summary>
    public void ResizeDisk(string id, ulong size)
    {
        if (!_disks.TryGetValue(id, out var disk))
        {
            throw new HypervisorException(ApiErrorKind.NotFound, $"Unknown device id {id}", []);
        }

        if (size % VirtioBlock.SectorSize != 0 || size < disk.CapacitySectors * VirtioBlock.SectorSize)
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot resize disk {id}",
                [$"the new size {size} must be a multiple of {VirtioBlock.SectorSize} and not below the current {disk.CapacitySectors * VirtioBlock.SectorSize}"]);
        }

        try
        {
            disk.Resize(size);
        }
        catch (IOException e)
        {
            throw new HypervisorException($"Cannot resize disk {id}", [e.Message]);
        }
    }

    /// <summary>Every config entry this VMM cannot build yet, refused by name before anything is opened.</summary>
    private static void Refuse(VmConfig config)
    {
        static void No(string device, string reason) =>
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot build device {device}", [reason]);

        foreach (var d in config.Disks ?? [])
        {
            var name = d.Id ?? d.Path ?? "disk";
            if (d.VhostUser)
            {
                No(name, "vhost-user disks are not supported by this VMM yet");
            }

            if (d.Path is null)
            {
                No(name, "a disk needs a path");
            }

            if (d.Iommu)
            {
                No(name, "this VMM has no virtual IOMMU (iommu=on)");
            }

            if (d.RateLimitGroup is not null || d.RateLimiterConfig is not null)
            {
                No(name, "disk rate limiting is not supported by this VMM yet");
            }

            if (d.QueueAffinity is { Count: > 0 })
            {
                No(name, "queue_affinity is not supported by this VMM yet");
            }

            if (d.NumQueues is 0 or > 64 || d.QueueSize == 0 || !ushort.IsPow2(d.QueueSize))
            {
                No(name, $"num_queues {d.NumQueues} must be 1..64 and queue_size {d.QueueSize} a power of two");
            }
        }

        foreach (var n in config.Net ?? [])
        {
            var name = n.Id ?? n.Tap ?? "net";
            if (n.VhostUser)
            {
                No(name, "vhost-user net devices are not supported by this VMM yet");
            }

            if (n.Iommu)
            {
                No(name, "this VMM has no virtual IOMMU (iommu=on)");
            }

            if (n.RateLimiterConfig is not null)
            {
                No(name, "net rate limiting is not supported by this VMM yet");
            }

            if (n.NumQueues < 2 || n.NumQueues % 2 != 0 || n.NumQueues > 32 || n.QueueSize < 2 || !ushort.IsPow2(n.QueueSize))
            {
                No(name, $"num_queues {n.NumQueues} must be an even number 2..32 and queue_size {n.QueueSize} a power of two");
            }
        }

        foreach (var f in config.Fs ?? [])
        {
            No(f.Id ?? "fs", "virtio-fs (vhost-user) is not supported by this VMM yet");
        }

        foreach (var p in config.Pmem ?? [])
        {
            if (p.Iommu)
            {
                No(p.Id ?? p.File, "this VMM has no virtual IOMMU (iommu=on)");
            }
        }

        foreach (var d in config.Devices ?? [])
        {
            No(d.Id ?? d.Path ?? "device", "VFIO passthrough is not available: this machine has no VFIO devices");
        }

        foreach (var d in config.UserDevices ?? [])
        {
            No(d.Id ?? "user_device", "vfio-user devices are not supported by this VMM");
        }

        foreach (var d in config.Vdpa ?? [])
        {
            No(d.Id ?? "vdpa", "vDPA devices are not available: this machine has no vhost-vdpa");
        }

        foreach (var d in config.GenericVhostUser ?? [])
        {
            No(d.Id ?? "generic_vhost_user", "generic vhost-user devices are not supported by this VMM yet");
        }

        if (config.Vsock is { Iommu: true } vsock)
        {
            No(vsock.Id ?? "vsock", "this VMM has no virtual IOMMU (iommu=on)");
        }

        if (config.Balloon is { Iommu: true } balloon)
        {
            No(balloon.Id ?? DeviceIds.Balloon, "this VMM has no virtual IOMMU (iommu=on)");
        }

        if (config.Console.Iommu && config.Console.Mode != ConsoleMode.Off)
        {
            No(config.Console.Id ?? DeviceIds.Console, "this VMM has no virtual IOMMU (iommu=on)");
        }

        if (config.Rng.Iommu)
        {
            No(DeviceIds.Rng, "this VMM has no virtual IOMMU (iommu=on)");
        }

        if (config.Watchdog)
        {
            No(DeviceIds.Watchdog, "the virtio watchdog is not supported by this VMM yet");
        }

        if (config.Pvpanic)
        {
            No(DeviceIds.Pvpanic, "pvpanic is not supported by this VMM yet");
        }

        if (config.Iommu)
        {
            No(DeviceIds.Iommu, "this VMM has no virtual IOMMU");
        }

        if (config.Rtc is not null)
        {
            No(DeviceIds.Rtc, "virtio-rtc is not supported by this VMM yet");
        }

        if (config.Tpm is not null)
        {
            No("tpm", "TPM (swtpm) is not supported by this VMM yet");
        }

        if (config.Numa is { Count: > 0 })
        {
            No("numa", "NUMA nodes are not supported by this VMM yet");
        }
    }

    public void Dispose() => Registry.Dispose();
}

/// <summary>Opens disk images: format detection, the O_DIRECT and read-only modes, and upstream's lock.</summary>
// SAFETY: ReadAligned's span covers exactly the 4096-byte aligned block it allocates and frees.
public static unsafe class DiskImages
{
    /// <summary>512 bytes at a sector-aligned offset, read through an aligned buffer so O_DIRECT files work too.</summary>
    private static byte[] ReadAligned(HostFile file, long offset)
    {
        var buffer = System.Runtime.InteropServices.NativeMemory.AlignedAlloc(4096, 4096);
        try
        {
            var span = new Span<byte>(buffer, 4096);
            span.Clear();
            var aligned = offset & ~4095L;
            _ = RandomAccess.Read(file.Handle, span, aligned);
            return span.Slice((int)(offset - aligned), 512).ToArray();
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
    }

    public static HostFile Open(string id, DiskConfig disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        var path = disk.Path!;
        HostFile? file = null;
        try
        {
            file = HostFile.Open(path, disk.Readonly, disk.Direct);
            var format = disk.ImageType == ImageType.Unknown ? Detect(file) : disk.ImageType;
            if (format != ImageType.Raw)
            {
                throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-blk device {id}",
                    [$"{path}: image type {format} is not supported by this VMM yet (raw only)"]);
            }

            file.Lock(path, write: !disk.Readonly, wholeFile: disk.LockGranularity == LockGranularity.Full);
            return file;
        }
        catch (HostFileException e)
        {
            file?.Dispose();
            throw new HypervisorException(e.Locked ? ApiErrorKind.InvalidState : ApiErrorKind.InvalidArgument, $"Cannot create virtio-blk device {id}", [e.Message]);
        }
        catch
        {
            file?.Dispose();
            throw;
        }
    }

    /// <summary>Recognizes the formats upstream opens by their magic: qcow2 "QFI\xfb", VHDX "vhdxfile", a fixed VHD footer "conectix", VMDK.</summary>
    public static ImageType Detect(HostFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var length = file.Length;
        var head = ReadAligned(file, 0);
        if (head.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x51, 0x46, 0x49, 0xFB]))
        {
            return ImageType.Qcow2;
        }

        if (head.AsSpan().StartsWith("vhdxfile"u8))
        {
            return ImageType.Vhdx;
        }

        if (head.AsSpan().StartsWith("KDMV"u8) || head.AsSpan().StartsWith("# Disk DescriptorFile"u8))
        {
            return ImageType.FlatVmdk;
        }

        if (length >= 512 && (length % 512) == 0)
        {
            var last = ReadAligned(file, length - 512);
            if (last.AsSpan(0, 8).SequenceEqual("conectix"u8))
            {
                return ImageType.FixedVhd;
            }
        }

        return ImageType.Raw;
    }
}

/// <summary>Builds virtio-net devices: the tap (created, opened or adopted from fd=) and its host-side set-up.</summary>
public static class Networks
{
    public static VirtioNet Create(string id, NetConfig net)
    {
        ArgumentNullException.ThrowIfNull(net);
        Tap? tap = null;
        try
        {
            var pairs = (int)(net.NumQueues / 2);
            tap = net.Fds is { Count: > 0 } fds ? Tap.Adopt(fds) : Tap.Open(net.Tap, pairs);
            // Taps passed by descriptor were set up by whoever made them; upstream configures only the ones it opens.
            if (net.Fds is not { Count: > 0 })
            {
                tap.Configure(
                    net.Ip is null ? null : System.Net.IPAddress.Parse(net.Ip),
                    net.Mask is null ? null : System.Net.IPAddress.Parse(net.Mask),
                    net.HostMac is null ? null : ParseMac(net.HostMac),
                    net.Mtu);
            }

            var mac = net.Mac is null ? RandomMac() : ParseMac(net.Mac);
            return new VirtioNet(id, tap, mac, net.Mtu, net.QueueSize, net.OffloadCsum, net.OffloadTso, net.OffloadUfo);
        }
        catch (Exception e) when (e is TapException or FormatException)
        {
            tap?.Dispose();
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-net device {id}", [e.Message]);
        }
        catch
        {
            tap?.Dispose();
            throw;
        }
    }

    /// <summary>Six hex octets separated by colons, as upstream's MacAddr parses them.</summary>
    public static System.Net.NetworkInformation.PhysicalAddress ParseMac(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length != 6 || parts.Any(p => p.Length is < 1 or > 2))
        {
            throw new FormatException($"Invalid MAC address {text}");
        }

        return new System.Net.NetworkInformation.PhysicalAddress(
            [.. parts.Select(p => byte.Parse(p, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture))]);
    }

    /// <summary>A locally administered unicast MAC, as upstream's MacAddr::local_random.</summary>
    public static System.Net.NetworkInformation.PhysicalAddress RandomMac()
    {
        var bytes = new byte[6];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        bytes[0] = (byte)((bytes[0] & 0xFE) | 0x02);
        return new System.Net.NetworkInformation.PhysicalAddress(bytes);
    }
}

/// <summary>Opens a pmem backing file as upstream: a regular file (size defaults to its length) or a directory (an O_TMPFILE of <c>size</c> in it).</summary>
public static class Pmems
{
    /// <summary>Region size and placement granularity: 2 MiB, so the guest can map it with huge pages (as upstream).</summary>
    public const ulong Alignment = 2UL << 20;

    public static (FileStream File, ulong Size) Open(string id, PmemConfig pmem)
    {
        ArgumentNullException.ThrowIfNull(pmem);
        string Failed() => $"Cannot create virtio-pmem device {id}";
        FileStream? file = null;
        try
        {
            ulong size;
            if (Directory.Exists(pmem.File))
            {
                if (pmem.Size is not { } wanted)
                {
                    throw new HypervisorException(ApiErrorKind.InvalidArgument, Failed(), [$"{pmem.File} is a directory: a pmem backed by a temporary file there needs a size"]);
                }

                file = HostFile.OpenTemporary(pmem.File, (long)wanted);
                size = wanted;
            }
            else
            {
                file = new FileStream(pmem.File, FileMode.Open, pmem.DiscardWrites ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
                var length = (ulong)file.Length;
                size = pmem.Size ?? length;
                if (size > length)
                {
                    throw new HypervisorException(ApiErrorKind.InvalidArgument, Failed(), [$"size {size} is larger than {pmem.File} ({length} bytes)"]);
                }
            }

            if (size == 0 || size % Alignment != 0)
            {
                throw new HypervisorException(ApiErrorKind.InvalidArgument, Failed(), [$"the pmem size {size} is not a non-zero multiple of 2 MiB"]);
            }

            return (file, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file?.Dispose();
            throw new HypervisorException(ApiErrorKind.InvalidArgument, Failed(), [$"Cannot open {pmem.File}: {e.Message}"]);
        }
        catch
        {
            file?.Dispose();
            throw;
        }
    }
}

/// <summary>Builds the hybrid vsock device: its listening Unix socket is bound at boot, as upstream does.</summary>
public static class Vsocks
{
    public static VirtioVsock Create(VsockConfig vsock)
    {
        ArgumentNullException.ThrowIfNull(vsock);
        var id = vsock.Id ?? throw new ArgumentException("vsock: the device has no id (ids are assigned before boot)");
        try
        {
            return new VirtioVsock(id, vsock.Cid, vsock.Socket);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException)
        {
            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Cannot create virtio-vsock device {id}", [$"Cannot listen on {vsock.Socket}: {e.Message}"]);
        }
    }
}
