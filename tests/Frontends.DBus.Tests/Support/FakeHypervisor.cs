#if DBUS_API
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Frontends.DBus.Tests.Support;

/// <summary>
/// A hypervisor whose guests do nothing, so the real control loop can run behind the frontend
/// without /dev/kvm: every guest operation succeeds at once. Frontend tests check the transport,
/// the JSON and the errors; guests are the KVM tests' business.
/// </summary>
public sealed class FakeHypervisor : IHypervisor
{
    public string Name => "fake";

    public void PrepareConsoles(VmConfig config)
    {
    }

    public IGuestVm CreateVm(VmConfig config, IGuestEvents events) => new FakeGuestVm();

    private sealed class FakeGuestVm : IGuestVm
    {
        public IReadOnlyDictionary<string, DeviceNode> DeviceTree { get; } = new Dictionary<string, DeviceNode>();

        public void Boot()
        {
        }

        public void Pause()
        {
        }

        public void Resume()
        {
        }

        public void Shutdown()
        {
        }

        public void PowerButton()
        {
        }

        public void Nmi()
        {
        }

        public IReadOnlyDictionary<string, IReadOnlyDictionary<string, ulong>> Counters() =>
            new Dictionary<string, IReadOnlyDictionary<string, ulong>>();

        public void Dispose()
        {
        }
    }
}
#endif
