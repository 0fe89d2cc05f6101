using CloudHypervisor.EventMonitor;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Hypervisor;

/// <summary>
/// The boundary between the control loop and a hypervisor backend (KVM). The control loop owns
/// state and events; a backend owns guest memory, vCPU threads and devices. Calls into a backend
/// are made off the control loop (long operations), one at a time per VM.
/// Failures are thrown as <see cref="HypervisorException"/>.
/// </summary>
public interface IHypervisor
{
    /// <summary>The feature name for vmm.ping (e.g. "kvm").</summary>
    string Name { get; }

    /// <summary>
    /// Prepares what upstream prepares at vm.create, before any boot: creates serial/console
    /// files and allocates PTYs, writing a PTY's path into <c>serial.file</c>/<c>console.file</c>
    /// of <paramref name="config"/>. Must not need the hypervisor device.
    /// </summary>
    void PrepareConsoles(VmConfig config);

    /// <summary>
    /// Closes what <see cref="PrepareConsoles"/> opened (PTYs, sockets, files); called when
    /// vm.delete drops the config, so the next vm.create gets fresh ones. A backend that keeps
    /// nothing between create and boot has nothing to release.
    /// </summary>
    void ReleaseConsoles()
    {
    }

    /// <summary>
    /// Builds a VM from <paramref name="config"/> (memory, devices, vCPUs, payload loaded) without
    /// running it. Device ids are already assigned in <paramref name="config"/>. Throws a
    /// <see cref="HypervisorException"/> naming the device when /dev/kvm is missing or not accessible.
    /// </summary>
    IGuestVm CreateVm(VmConfig config, IGuestEvents events);

    /// <summary>
    /// <see cref="CreateVm(VmConfig, IGuestEvents)"/> that gives up with
    /// <see cref="OperationCanceledException"/> once <paramref name="cancellationToken"/> is
    /// cancelled (vm.delete or vmm.shutdown during the boot). A backend that cannot be interrupted
    /// ignores the token.
    /// </summary>
    IGuestVm CreateVm(VmConfig config, IGuestEvents events, CancellationToken cancellationToken) => CreateVm(config, events);

    /// <summary>
    /// Builds a VM from a snapshot (vm.restore): memory filled from memory-ranges, every
    /// component's state put back, vCPU threads started but paused. The VM is returned paused;
    /// <see cref="IGuestVm.Resume"/> runs it. A snapshot that does not fit this VMM throws an
    /// InvalidArgument <see cref="HypervisorException"/> naming the file and field.
    /// </summary>
    IGuestVm RestoreVm(SnapshotImage image, IGuestEvents events, CancellationToken cancellationToken) =>
        throw new HypervisorException("Restoring a VM is not supported by this backend", []);
}

/// <summary>
/// A built VM. <see cref="Pause"/> and <see cref="Shutdown"/> return only when every vCPU has
/// left KVM_RUN. <see cref="IDisposable.Dispose"/> releases memory and file descriptors.
/// </summary>
public interface IGuestVm : IDisposable
{
    /// <summary>Starts the vCPU threads.</summary>
    void Boot();

    void Pause();

    void Resume();

    /// <summary>Stops every vCPU and device thread. The VM cannot run again.</summary>
    void Shutdown();

    /// <summary>Signals the ACPI power button (the GED device) to the guest.</summary>
    void PowerButton();

    /// <summary>Injects an NMI into every vCPU.</summary>
    void Nmi();

    /// <summary>The devices built for this VM, keyed by id, as vm.info's <c>device_tree</c>.</summary>
    IReadOnlyDictionary<string, DeviceNode> DeviceTree { get; }

    /// <summary>vm.resize-disk on a booted VM: grows disk <paramref name="id"/> to <paramref name="size"/> bytes and tells the guest.</summary>
    void ResizeDisk(string id, ulong size) =>
        throw new HypervisorException("Resizing a disk of a booted VM is not supported by this backend", []);

    /// <summary>Bytes the guest's balloon driver holds (its <c>actual</c> pages), which vm.info subtracts from RAM; 0 without a balloon.</summary>
    ulong BalloonActualSize => 0;

    /// <summary>vm.resize desired_balloon on a booted VM: the balloon's new target; the guest is told with a config-change interrupt.</summary>
    void ResizeBalloon(ulong size) =>
        throw new HypervisorException("Resizing the balloon of a booted VM is not supported by this backend", []);

    /// <summary>
    /// Hot-plug: builds device <paramref name="id"/> of <paramref name="config"/> (the config with
    /// the new entry) into the running VM and tells the guest; returns its BDF.
    /// </summary>
    string HotPlug(VmConfig config, string id) =>
        throw new HypervisorException("Hot-plugging a device into a booted VM is not supported by this VMM yet", []);

    /// <summary>Asks the guest to eject device <paramref name="id"/>; it goes (and vm/device-removed is emitted) when the guest does.</summary>
    void HotUnplug(string id) =>
        throw new HypervisorException("Removing a device from a booted VM (hot-unplug) is not supported by this VMM yet", []);

    /// <summary>
    /// The state of every component of a paused VM as upstream's snapshot tree (state.json):
    /// cpu-manager, memory-manager and device-manager nodes and the VM-wide data at the root.
    /// </summary>
    Snapshot SaveState() => throw new HypervisorException("Snapshotting a VM is not supported by this backend", []);

    /// <summary>Guest RAM, which a snapshot writes to memory-ranges; null for a backend without any.</summary>
    GuestMemory? Memory => null;

    /// <summary>
    /// Starts dirty-page tracking for a pre-copy migration: the hypervisor's log of guest writes
    /// (KVM_MEM_LOG_DIRTY_PAGES on every slot) and the VMM's own log of device writes.
    /// </summary>
    void StartDirtyLog() => throw new HypervisorException("Live migration is not supported by this backend", []);

    /// <summary>
    /// ORs the pages written since the last call (guest and devices) into <paramref name="into"/>
    /// and resets the logs; with <paramref name="final"/> (VM paused) every page a device wrote
    /// since <see cref="StartDirtyLog"/> is added too.
    /// </summary>
    void TakeDirtyLog(DirtyBitmap into, bool final) => throw new HypervisorException("Live migration is not supported by this backend", []);

    /// <summary>Ends dirty-page tracking; harmless when it was not started.</summary>
    void StopDirtyLog()
    {
    }

    /// <summary>The CPUID entries the guest sees (upstream's common_cpuid of the migration's Config).</summary>
    IReadOnlyList<CpuidEntry> Cpuid => [];

    /// <summary>
    /// The registers of every vCPU of a paused VM, for vm.coredump's notes (GUEST_DEBUG builds).
    /// </summary>
    IReadOnlyList<Debug.CoreCpuState> CoreCpus() =>
        throw new HypervisorException("Writing a guest core dump is not supported by this backend", []);

    /// <summary>Per-device counters for vm.counters, e.g. <c>{"__serial": {"tx_bytes": 12}}</c>.</summary>
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters();
}

/// <summary>One CPUID leaf as upstream's <c>CpuIdEntry</c> serializes it.</summary>
public sealed record CpuidEntry(uint Function, uint Index, uint Flags, uint Eax, uint Ebx, uint Ecx, uint Edx);

/// <summary>How a guest ended its run on its own.</summary>
public enum GuestExitKind
{
    /// <summary>ACPI poweroff (sleep control S5) or an equivalent: contract §2.4 "guest poweroff".</summary>
    Poweroff,
    /// <summary>ACPI reset register, i8042 0xFE, or a triple fault: contract §2.4 "guest reset".</summary>
    Reset,
    /// <summary>The VM cannot continue (emulation failure, internal error). Treated like a poweroff and logged.</summary>
    Fatal,
}

/// <summary>A guest exit and why, for logs.</summary>
public sealed record GuestExit(GuestExitKind Kind, string Reason);

/// <summary>
/// What a backend reports back. Called from vCPU and device threads; implementations never block
/// (they post to the control loop or to the event monitor).
/// </summary>
public interface IGuestEvents
{
    /// <summary>The guest powered off, reset, or failed. Reported once per run.</summary>
    void GuestExited(GuestExit exit);

    /// <summary>A device-level event, e.g. <see cref="Events.VirtioDevice.Activated"/> with {id}.</summary>
    void DeviceEvent(EventKind kind, IReadOnlyDictionary<string, string>? properties = null);
}

/// <summary>A backend failure, with its causes (top first) for the API's error chain.</summary>
public sealed class HypervisorException : Exception
{
    public HypervisorException()
    {
        Causes = [];
    }

    public HypervisorException(string message)
        : base(message)
    {
        Causes = [];
    }

    public HypervisorException(string message, Exception innerException)
        : base(message, innerException)
    {
        Causes = [];
    }

    public HypervisorException(string message, IReadOnlyList<string> causes)
        : base(message)
    {
        Causes = causes;
    }

    /// <summary>A failure of a kind other than Internal, e.g. a config entry this VMM cannot build.</summary>
    public HypervisorException(ApiErrorKind kind, string message, IReadOnlyList<string> causes)
        : base(message)
    {
        Kind = kind;
        Causes = causes;
    }

    /// <summary>How the API reports it: Internal unless the backend knows better (a refused device).</summary>
    public ApiErrorKind Kind { get; } = ApiErrorKind.Internal;

    /// <summary>Messages below <see cref="Exception.Message"/>, root cause last.</summary>
    public IReadOnlyList<string> Causes { get; }
}
