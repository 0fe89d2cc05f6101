using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// A VM on /dev/kvm: its fds, guest memory, vCPU threads and devices. Threading: the VMM calls
/// Boot/Pause/Resume/Shutdown one at a time; vCPU threads run the guest and call the devices;
/// console threads feed input to the serial port. A guest-ending exit (poweroff, reset, fatal)
/// is reported once, after which every vCPU parks until Shutdown. Pause parks the vCPUs and then
/// pauses every registered device (workers stopped, console input held), so a paused VM is
/// quiescent and its state can be saved; resume undoes it in the opposite order.
/// </summary>
internal sealed class KvmGuestVm : IGuestVm
{
    private static readonly TimeSpan PauseTimeout = TimeSpan.FromSeconds(5);

    private readonly KvmSystem _system;
    private readonly KvmVmFd _vm;
    private readonly GuestMemory _memory;
    private readonly VcpuControl _control;
    private readonly IGuestEvents _events;
    private readonly ILogger _logger;
    private readonly KvmPlatformDevices _devices;
    private DeviceManager? _deviceManager;
    private readonly List<KvmVcpu> _vcpus = [];
    private int _exitReported;
    private bool _booted;
    private bool _shutdown;
    private bool _paused;

    internal KvmGuestVm(KvmSystem system, KvmVmFd vm, GuestMemory memory, int vcpuCount, IGuestEvents events, ILogger logger, KvmPlatformDevices devices)
    {
        _system = system;
        _vm = vm;
        _memory = memory;
        _events = events;
        _logger = logger;
        _devices = devices;
        _control = new VcpuControl(vcpuCount);
    }

    internal VcpuControl Control => _control;

    internal IReadOnlyList<KvmVcpu> Vcpus => _vcpus;

    internal KvmVmFd VmFd => _vm;

    public GuestMemory Memory => _memory;

    internal DeviceRegistry Registry => _devices.Registry;

    /// <summary>The userfaultfd server of an ondemand restore: it must outlive every thread that touches guest RAM.</summary>
    internal UserfaultfdServer? MemoryServer { get; init; }

    /// <summary>The PCI and virtio devices, attached once built (they need the VM's interrupts).</summary>
    internal DeviceManager? DeviceManager
    {
        get => _deviceManager;
        set => _deviceManager = value;
    }

    internal void AddVcpu(KvmVcpuFd fd) =>
        _vcpus.Add(new KvmVcpu(fd, _control, _devices.Pio, _devices.Mmio, ReportExit, _logger));

    /// <summary>Reports the first guest-ending exit of this run and parks every vCPU.</summary>
    internal void ReportExit(GuestExit exit)
    {
        if (Interlocked.Exchange(ref _exitReported, 1) != 0)
        {
            return;
        }

        _logger.Information("Guest exit: {Kind}: {Reason}", exit.Kind.ToString(), exit.Reason);
        _control.MarkExited();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Kick();
        }

        _events.GuestExited(exit);
    }

    public void Boot()
    {
        ObjectDisposedException.ThrowIf(_shutdown, this);
        if (_booted)
        {
            throw new HypervisorException("the VM is already booted");
        }

        _booted = true;
        _devices.ConnectInput();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Start();
        }
    }

    /// <summary>A restored VM: the vCPU threads start and park at once, the devices start paused.</summary>
    internal void StartPaused()
    {
        _control.RequestPause();
        _devices.Registry.Pause();
        _paused = true;
        Boot();
        if (!_control.WaitAllParked(PauseTimeout))
        {
            throw new HypervisorException($"restored vCPUs did not park within {PauseTimeout.TotalSeconds} s");
        }
    }

    public Snapshot SaveState()
    {
        if (!_paused || _shutdown)
        {
            throw new HypervisorException("Trying to snapshot while VM is running");
        }

        return KvmRestore.Save(this, _system.GetMsrIndexList());
    }

    public void StartDirtyLog()
    {
        ObjectDisposedException.ThrowIf(_shutdown, this);
        _memory.StartDirtyTracking();
        SetDirtyLogging(true);
    }

    public void TakeDirtyLog(DirtyBitmap into, bool final)
    {
        ArgumentNullException.ThrowIfNull(into);
        for (var slot = 0; slot < _memory.Regions.Count; slot++)
        {
            var region = _memory.Regions[slot];
            var pages = region.Size >> 12;
            var bitmap = new ulong[(pages + 63) / 64];
            _vm.GetDirtyLog((uint)slot, bitmap);
            into.OrSlot(bitmap, region.HostOffset >> 12, pages);
        }

        _memory.TakeDirty(into, sinceStart: final);
    }

    public void StopDirtyLog()
    {
        if (_shutdown)
        {
            return;
        }

        _memory.StopDirtyTracking();
        SetDirtyLogging(false);
    }

    private void SetDirtyLogging(bool on)
    {
        for (var slot = 0; slot < _memory.Regions.Count; slot++)
        {
            var region = _memory.Regions[slot];
            _vm.SetUserMemoryRegion((uint)slot, region.GuestAddress, region.Size, _memory.HostAddress + (nint)region.HostOffset,
                on ? KvmConstants.KVM_MEM_LOG_DIRTY_PAGES : 0);
        }
    }

    public IReadOnlyList<CpuidEntry> Cpuid =>
        _vcpus.Count == 0 ? [] : [.. _vcpus[0].Fd.Cpuid.Select(e => new CpuidEntry(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx))];

    public IReadOnlyList<Debug.CoreCpuState> CoreCpus()
    {
        if (!_paused || _shutdown)
        {
            throw new HypervisorException("Trying to coredump while VM is not running or paused");
        }

        return [.. _vcpus.Select(v => KvmCoredump.Read(v.Id, v.Fd))];
    }

    public void Pause()
    {
        if (!_booted || _shutdown)
        {
            throw new HypervisorException("the VM is not running");
        }

        _control.RequestPause();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Kick();
        }

        // A kick sent while a vCPU was between exits is absorbed by immediate_exit; re-kicking
        // covers a thread that had not recorded its pthread id yet.
        var deadline = DateTime.UtcNow + PauseTimeout;
        while (!_control.WaitAllParked(TimeSpan.FromMilliseconds(50)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new HypervisorException($"vCPUs did not stop within {PauseTimeout.TotalSeconds} s");
            }

            foreach (var vcpu in _vcpus)
            {
                vcpu.Kick();
            }
        }

        // vCPUs first: none of them can start device work once the devices are paused.
        _devices.Registry.Pause();
        _paused = true;
    }

    public void Resume()
    {
        if (!_booted || _shutdown)
        {
            throw new HypervisorException("the VM is not running");
        }

        _devices.Registry.Resume();
        _paused = false;
        _control.Resume(() =>
        {
            foreach (var vcpu in _vcpus)
            {
                vcpu.Fd.ImmediateExit = false;
            }
        });
    }

    public void Shutdown()
    {
        if (_shutdown)
        {
            return;
        }

        _shutdown = true;
        _control.RequestStop();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Kick();
        }

        foreach (var vcpu in _vcpus)
        {
            vcpu.Join();
        }

        _devices.DisconnectInput();
        // Device threads stop after the vCPUs, so no doorbell is left unserved mid-request.
        _deviceManager?.Dispose();
        _deviceManager = null;
    }

    public void PowerButton() => _devices.Ged.PowerButton();

    public void Nmi()
    {
        if (!_booted || _shutdown)
        {
            throw new HypervisorException("the VM is not running");
        }

        foreach (var vcpu in _vcpus)
        {
            vcpu.RequestNmi();
        }
    }

    public IReadOnlyDictionary<string, DeviceNode> DeviceTree => _devices.Registry.DeviceTree();

    public string HotPlug(VmConfig config, string id) =>
        (_deviceManager ?? throw new HypervisorException("This VM has no PCI devices", [])).HotPlug(config, id);

    public void HotUnplug(string id) =>
        (_deviceManager ?? throw new HypervisorException(InternalApi.ApiErrorKind.NotFound, $"Unknown device id {id}", [])).Unplug(id);

    public ulong BalloonActualSize => _deviceManager?.BalloonActualBytes ?? 0;

    public void ResizeBalloon(ulong size) =>
        (_deviceManager ?? throw new HypervisorException(InternalApi.ApiErrorKind.InvalidArgument, "Cannot resize the balloon", ["the VM has no devices"])).ResizeBalloon(size);

    public void ResizeDisk(string id, ulong size) =>
        (_deviceManager ?? throw new HypervisorException(InternalApi.ApiErrorKind.NotFound, $"Unknown device id {id}", [])).ResizeDisk(id, size);

    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters()
    {
        var counters = new Dictionary<string, IReadOnlyDictionary<string, ulong>>(_devices.Registry.Counters(_devices.Pio, _devices.Mmio));
        foreach (var vcpu in _vcpus)
        {
            counters[$"vcpu{vcpu.Id}"] = vcpu.Counters();
        }

        return counters;
    }

    public void Dispose()
    {
        Shutdown();
        foreach (var vcpu in _vcpus)
        {
            vcpu.Dispose();
        }

        _vm.Dispose();
        MemoryServer?.Dispose();
        _memory.Dispose();
        _devices.Dispose();
        _system.Dispose();
    }
}
