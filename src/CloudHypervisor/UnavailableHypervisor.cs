using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor;

/// <summary>
/// The backend used while this build has no KVM backend: every VM build fails with a clear error,
/// so vm.boot answers it instead of pretending to run a guest.
/// </summary>
internal sealed class UnavailableHypervisor : IHypervisor
{
    public string Name => "kvm";

    public void PrepareConsoles(VmConfig config)
    {
    }

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events) =>
        throw new HypervisorException(
            "Failed to open hypervisor interface (is hypervisor interface available?)",
            ["This build of cloud-hypervisor has no KVM backend"]);
}
