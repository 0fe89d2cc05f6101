using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// A hypervisor test double for scenarios through the real Vmm control loop: VMs that do
/// nothing but record calls. <see cref="BootGate"/>, when set, holds Boot until released, to
/// make a long operation.
/// </summary>
public sealed class FakeHypervisor : IHypervisor
{
    public string Name => "fake";

    public TaskCompletionSource? BootGate { get; set; }

    public List<string> Calls { get; } = [];

    public void PrepareConsoles(VmConfig config)
    {
    }

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events) => new Vm(this);

    private sealed class Vm(FakeHypervisor owner) : IGuestVm
    {
        public IReadOnlyDictionary<string, DeviceNode> DeviceTree { get; } = new Dictionary<string, DeviceNode>();

        public void Boot()
        {
            owner.BootGate?.Task.Wait(TimeSpan.FromSeconds(20));
            Record("boot");
        }

        public void Pause() => Record("pause");

        public void Resume() => Record("resume");

        public void Shutdown() => Record("shutdown");

        public void PowerButton() => Record("power-button");

        public void Nmi() => Record("nmi");

        public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters() =>
            new Dictionary<string, IReadOnlyDictionary<string, ulong>>();

        public void Dispose() => Record("dispose");

        private void Record(string call)
        {
            lock (owner.Calls)
            {
                owner.Calls.Add(call);
            }
        }
    }
}
