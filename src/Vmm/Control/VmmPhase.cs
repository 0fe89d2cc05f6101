using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.Vmm.Control;

/// <summary>
/// What the control loop holds, which is what every precondition depends on (contract §0, §2.1):
/// the stored config and the VM object with its state.
/// </summary>
public enum VmmPhase
{
    /// <summary>No config stored: <c>vm.info</c> answers NotCreated.</summary>
    NoConfig,
    /// <summary>A config, no VM object (after vm.create or after a shutdown): reported "Created".</summary>
    Created,
    /// <summary>
    /// A VM object whose boot failed. Upstream keeps it: reported "Created" with a device tree, and
    /// vm.boot answers "VM is already created" until vm.shutdown or vm.delete (contract §2.1).
    /// </summary>
    BootFailed,
    /// <summary>A VM object, booted and running.</summary>
    Running,
    /// <summary>A VM object, paused.</summary>
    Paused,
}

/// <summary>Maps a phase to the state <c>vm.info</c> reports and the transition rules use.</summary>
public static class VmmPhases
{
    /// <summary>Every phase, in declaration order (for tables and test matrices).</summary>
    public static IReadOnlyList<VmmPhase> All { get; } = Enum.GetValues<VmmPhase>();

    /// <summary>The VM state of a phase; NoConfig has none (vm.info answers 404 there).</summary>
    public static VmState? StateOf(VmmPhase phase) => phase switch
    {
        VmmPhase.NoConfig => null,
        VmmPhase.Created => VmState.Created,
        VmmPhase.BootFailed => VmState.Created,
        VmmPhase.Running => VmState.Running,
        VmmPhase.Paused => VmState.Paused,
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, null),
    };
}
