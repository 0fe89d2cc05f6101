using System.Collections.Concurrent;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.TestSupport;

/// <summary>
/// The hypervisor double behind the real control loop in every test project that needs one (no
/// /dev/kvm): it builds <see cref="TestGuestVm"/>s that record
/// what the loop asked of them, can be told to fail or to block in Boot until released, and lets a
/// test play the guest (poweroff, reset, device events) through the loop's <see cref="IGuestEvents"/>.
/// </summary>
public sealed class TestHypervisor : IHypervisor
{
    private readonly ConcurrentQueue<TestGuestVm> _vms = new();

    public string Name => "test";

    /// <summary>When set, the next CreateVm throws it (then it is cleared).</summary>
    public HypervisorException? FailNextCreate { get; set; }

    /// <summary>When set, Boot of the next VM throws it (then it is cleared).</summary>
    public HypervisorException? FailNextBoot { get; set; }

    /// <summary>When set, Boot waits on it: a slow boot the test releases.</summary>
    public SemaphoreSlim? BootGate { get; set; }

    /// <summary>Signalled when a Boot has started (and may be waiting on <see cref="BootGate"/>).</summary>
    public SemaphoreSlim BootStarted { get; } = new(0);

    /// <summary>
    /// When set, CreateVm waits on it or for its cancellation token, as the KVM backend's payload
    /// read does: a build that only cancellation ends.
    /// </summary>
    public SemaphoreSlim? CreateGate { get; set; }

    /// <summary>Signalled when a CreateVm has started waiting on <see cref="CreateGate"/>.</summary>
    public SemaphoreSlim CreateStarted { get; } = new(0);

    public int ConsolesPrepared { get; private set; }

    /// <summary>When set, SaveState and CoreCpus wait on it: a snapshot or core dump that takes as long as the test wants.</summary>
    public SemaphoreSlim? SnapshotGate { get; set; }

    /// <summary>Signalled when a SaveState has started (and may be waiting on <see cref="SnapshotGate"/>).</summary>
    public SemaphoreSlim SnapshotStarted { get; } = new(0);

    /// <summary>The snapshot images the loop restored from, in order.</summary>
    public ConcurrentQueue<SnapshotImage> Restored { get; } = new();

    public IGuestVm RestoreVm(SnapshotImage image, IGuestEvents events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        Restored.Enqueue(image);
        var vm = new TestGuestVm(this, image.Config, events, null);
        _vms.Enqueue(vm);
        return vm;
    }

    public IReadOnlyList<TestGuestVm> Vms => [.. _vms];

    public TestGuestVm? LastVm => _vms.LastOrDefault();

    public void PrepareConsoles(VmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        ConsolesPrepared++;
        if (config.Serial.Mode == ConsoleMode.Pty)
        {
            config.Serial.File = "/dev/pts/test";
        }
    }

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events) => CreateVm(config, events, CancellationToken.None);

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events, CancellationToken cancellationToken)
    {
        if (CreateGate is { } gate)
        {
            CreateStarted.Release();
            gate.Wait(cancellationToken);
        }

        if (FailNextCreate is { } failure)
        {
            FailNextCreate = null;
            throw failure;
        }

        var bootFailure = FailNextBoot;
        FailNextBoot = null;
        var vm = new TestGuestVm(this, config, events, bootFailure);
        _vms.Enqueue(vm);
        return vm;
    }
}

/// <summary>A VM of <see cref="TestHypervisor"/>: records calls and answers with config-derived data.</summary>
public sealed class TestGuestVm(TestHypervisor hypervisor, VmConfig config, IGuestEvents events, HypervisorException? bootFailure) : IGuestVm
{
    private readonly ConcurrentQueue<string> _calls = new();
    private long _reads;

    /// <summary>The config the VM was built from (a copy, with device ids assigned).</summary>
    public VmConfig Config { get; } = config;

    /// <summary>The loop's sink for this VM: the test plays the guest through it.</summary>
    public IGuestEvents Events { get; } = events;

    public IReadOnlyList<string> Calls => [.. _calls];

    public bool Disposed { get; private set; }

    /// <summary>When set, Counters throws it: an unexpected failure inside the loop.</summary>
    public Exception? CountersFailure { get; set; }

    public void Boot()
    {
        _calls.Enqueue("boot");
        hypervisor.BootStarted.Release();
        hypervisor.BootGate?.Wait(TimeSpan.FromSeconds(30));
        if (bootFailure is not null)
        {
            throw bootFailure;
        }
    }

    public void Pause() => _calls.Enqueue("pause");

    private GuestMemory? _memory;

    /// <summary>2 MiB of real (anonymous) guest RAM, so a snapshot writes a memory-ranges file.</summary>
    public GuestMemory Memory => _memory ??= GuestMemory.Create(2 << 20, shared: false, hugepages: false);

    public Snapshot SaveState()
    {
        _calls.Enqueue("save-state");
        hypervisor.SnapshotStarted.Release();
        hypervisor.SnapshotGate?.Wait(TimeSpan.FromSeconds(30));
        var root = new Snapshot { SnapshotData = new SnapshotData { State = "{}" } };
        root.Snapshots[SnapshotFiles.CpuManager] = new Snapshot();
        root.Snapshots[SnapshotFiles.MemoryManager] = Snapshot.Of(StateJson.Write(SnapshotMemory.ManagerState(Memory), StateJsonContext.Default.MemoryManagerSnapshotData));
        root.Snapshots[SnapshotFiles.DeviceManager] = new Snapshot();
        return root;
    }

    public void Resume() => _calls.Enqueue("resume");

    public IReadOnlyList<CloudHypervisor.Vmm.Debug.CoreCpuState> CoreCpus()
    {
        _calls.Enqueue("core-cpus");
        hypervisor.SnapshotStarted.Release();
        hypervisor.SnapshotGate?.Wait(TimeSpan.FromSeconds(30));
        return [new CloudHypervisor.Vmm.Debug.CoreCpuState { Id = 0, Rip = 0x100000 }];
    }

    public void Shutdown() => _calls.Enqueue("shutdown");

    public void PowerButton() => _calls.Enqueue("power-button");

    public void Nmi() => _calls.Enqueue("nmi");

    public IReadOnlyDictionary<string, DeviceNode> DeviceTree =>
        (Config.Disks ?? []).Select(d => d.Id!).Append("__serial")
            .ToDictionary(id => id, id => new DeviceNode { Id = id });

    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters()
    {
        if (CountersFailure is { } failure)
        {
            throw failure;
        }

        var reads = (ulong)Interlocked.Increment(ref _reads);
        return (Config.Disks ?? []).ToDictionary(
            d => d.Id!,
            d => (IReadOnlyDictionary<string, ulong>)new Dictionary<string, ulong> { ["read_ops"] = reads });
    }

    public void Dispose()
    {
        _calls.Enqueue("dispose");
        _memory?.Dispose();
        Disposed = true;
    }
}
