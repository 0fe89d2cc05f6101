namespace CloudHypervisor.EventMonitor;

/// <summary>
/// One kind of event: its <c>source</c> and <c>event</c> fields. Only <see cref="Events"/> makes
/// them, so the VMM can emit nothing outside upstream's set.
/// </summary>
public sealed record EventKind
{
    internal EventKind(string source, string name)
    {
        Source = source;
        Name = name;
    }

    public string Source { get; }

    public string Name { get; }

    public override string ToString() => $"{Source}/{Name}";
}

/// <summary>
/// Every event upstream Cloud Hypervisor emits (../shared/reference/upstream-state.md section E),
/// and only those: a test compares <see cref="All"/> with that list. Properties, where upstream
/// has them, are noted per event.
/// </summary>
public static class Events
{
    public static class Vmm
    {
        public static readonly EventKind Starting = new("vmm", "starting");
        public static readonly EventKind Shutdown = new("vmm", "shutdown");
    }

    public static class Vm
    {
        public static readonly EventKind Booting = new("vm", "booting");
        public static readonly EventKind Booted = new("vm", "booted");
        public static readonly EventKind Shutdown = new("vm", "shutdown");
        public static readonly EventKind Rebooting = new("vm", "rebooting");
        public static readonly EventKind Rebooted = new("vm", "rebooted");
        public static readonly EventKind Deleted = new("vm", "deleted");
        public static readonly EventKind Pausing = new("vm", "pausing");
        public static readonly EventKind Paused = new("vm", "paused");
        public static readonly EventKind Resuming = new("vm", "resuming");
        public static readonly EventKind Resumed = new("vm", "resumed");
        public static readonly EventKind Resizing = new("vm", "resizing");
        public static readonly EventKind Resized = new("vm", "resized");
        public static readonly EventKind Snapshotting = new("vm", "snapshotting");
        public static readonly EventKind Snapshotted = new("vm", "snapshotted");
        public static readonly EventKind Restoring = new("vm", "restoring");
        public static readonly EventKind Restored = new("vm", "restored");
        public static readonly EventKind Coredumping = new("vm", "coredumping");

        /// <summary>Properties <c>id</c> (the device, e.g. <c>_disk0</c>) and <c>bdf</c>.</summary>
        public static readonly EventKind DeviceRemoved = new("vm", "device-removed");

        public static readonly EventKind MigrationReceiveReady = new("vm", "migration-receive-ready");
        public static readonly EventKind MigrationReceiveStarted = new("vm", "migration-receive-started");
        public static readonly EventKind MigrationReceiveFailed = new("vm", "migration-receive-failed");
        public static readonly EventKind MigrationReceiveFinished = new("vm", "migration-receive-finished");
        public static readonly EventKind MigrationStarted = new("vm", "migration-started");
        public static readonly EventKind MigrationFinished = new("vm", "migration-finished");
        public static readonly EventKind MigrationFailed = new("vm", "migration-failed");

        /// <summary>Property <c>id</c>: the pre-copy iteration just sent.</summary>
        public static readonly EventKind MigrationMemoryIteration = new("vm", "migration-memory-iteration");

        public static readonly EventKind PostcopyMigrationCompleted = new("vm", "postcopy-migration-completed");
    }

    /// <summary>Property <c>id</c>: the virtio device.</summary>
    public static class VirtioDevice
    {
        public static readonly EventKind Activated = new("virtio-device", "activated");
        public static readonly EventKind Reset = new("virtio-device", "reset");
    }

    /// <summary>Property <c>id</c>: the vDPA device.</summary>
    public static class Vdpa
    {
        public static readonly EventKind Activated = new("vdpa", "activated");
        public static readonly EventKind Reset = new("vdpa", "reset");
    }

    public static class Guest
    {
        /// <summary>Property <c>event</c>: <c>panic</c> (pvpanic).</summary>
        public static readonly EventKind Panic = new("guest", "panic");
    }

    /// <summary>Every kind above.</summary>
    public static IReadOnlyList<EventKind> All { get; } =
    [
        Vmm.Starting, Vmm.Shutdown,
        Vm.Booting, Vm.Booted, Vm.Shutdown, Vm.Rebooting, Vm.Rebooted, Vm.Deleted,
        Vm.Pausing, Vm.Paused, Vm.Resuming, Vm.Resumed, Vm.Resizing, Vm.Resized,
        Vm.Snapshotting, Vm.Snapshotted, Vm.Restoring, Vm.Restored, Vm.Coredumping, Vm.DeviceRemoved,
        Vm.MigrationReceiveReady, Vm.MigrationReceiveStarted, Vm.MigrationReceiveFailed, Vm.MigrationReceiveFinished,
        Vm.MigrationStarted, Vm.MigrationFinished, Vm.MigrationFailed, Vm.MigrationMemoryIteration, Vm.PostcopyMigrationCompleted,
        VirtioDevice.Activated, VirtioDevice.Reset, Vdpa.Activated, Vdpa.Reset, Guest.Panic,
    ];
}
