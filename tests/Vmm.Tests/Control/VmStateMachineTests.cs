using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

public sealed class VmStateMachineTests
{
    // Contract §2.2, written out pair by pair: every pair not listed is invalid.
    private static readonly HashSet<(VmState, VmState)> Valid =
    [
        (VmState.Created, VmState.Running), (VmState.Created, VmState.Paused),
        (VmState.Created, VmState.BreakPoint), (VmState.Created, VmState.Shutdown),
        (VmState.Running, VmState.Paused), (VmState.Running, VmState.Shutdown), (VmState.Running, VmState.BreakPoint),
        (VmState.Paused, VmState.Running), (VmState.Paused, VmState.Shutdown),
        (VmState.Shutdown, VmState.Running),
        (VmState.BreakPoint, VmState.Created), (VmState.BreakPoint, VmState.Running),
    ];

    public static TheoryData<VmState, VmState> AllPairs()
    {
        var data = new TheoryData<VmState, VmState>();
        foreach (var from in Enum.GetValues<VmState>())
        {
            foreach (var to in Enum.GetValues<VmState>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Every_from_to_pair_follows_upstream_valid_transition(VmState from, VmState to)
    {
        Assert.Equal(Valid.Contains((from, to)), VmStateMachine.IsValid(from, to));
        var check = VmStateMachine.Check(from, to);
        if (Valid.Contains((from, to)))
        {
            Assert.Null(check);
        }
        else
        {
            Assert.Equal($"Invalid transition: InvalidStateTransition({from}, {to})", check);
        }
    }

    [Fact]
    public void The_matrix_covers_all_25_pairs_with_12_valid()
    {
        Assert.Equal(25, AllPairs().Count);
        Assert.Equal(12, AllPairs().Count(p => VmStateMachine.IsValid((VmState)p[0], (VmState)p[1])));
    }

    [Fact]
    public void Every_catalog_action_has_one_precondition_row()
    {
        Assert.Equal(
            InternalApi.ApiCatalog.All.Select(a => a.Name).Order(),
            Preconditions.Actions.Select(a => a.Name).Order());
    }
}
