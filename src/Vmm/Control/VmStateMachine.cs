using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.Vmm.Control;

/// <summary>
/// Upstream's <c>VmState::valid_transition</c> (contract §2.2), as one switch over the states of
/// <see cref="VmState"/>. Shutdown is never reported (the VM object is dropped right after it shuts
/// down) and BreakPoint needs a gdb stub this VMM does not have; both are here so the rules are whole.
/// </summary>
public static class VmStateMachine
{
    /// <summary>True when a VM in state <paramref name="from"/> may move to <paramref name="to"/>.</summary>
    public static bool IsValid(VmState from, VmState to) => (from, to) switch
    {
        (VmState.Created, VmState.Running or VmState.Paused or VmState.BreakPoint or VmState.Shutdown) => true,
        (VmState.Running, VmState.Paused or VmState.Shutdown or VmState.BreakPoint) => true,
        (VmState.Paused, VmState.Running or VmState.Shutdown) => true,
        (VmState.Shutdown, VmState.Running) => true,
        (VmState.BreakPoint, VmState.Created or VmState.Running) => true,
        _ => false,
    };

    /// <summary>
    /// Null when the transition is valid, otherwise upstream's error text, e.g.
    /// <c>Invalid transition: InvalidStateTransition(Paused, Paused)</c> (contract §1.5, vm.pause).
    /// </summary>
    public static string? Check(VmState from, VmState to) =>
        IsValid(from, to) ? null : $"Invalid transition: InvalidStateTransition({from}, {to})";
}
