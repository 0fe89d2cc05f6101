using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.Platform;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>An ISA interrupt line of the in-kernel PIC/IOAPIC, signalled with KVM_IRQ_LINE.</summary>
internal sealed class KvmIrqLine(KvmVmFd vm, uint gsi) : IIrqLine
{
    public void Pulse()
    {
        vm.SetIrqLine(gsi, true);
        vm.SetIrqLine(gsi, false);
    }
}

/// <summary>
/// Interrupts of one VM on KVM. Legacy lines use KVM_IRQ_LINE. Each MSI vector owns a GSI from
/// <see cref="FirstMsiGsi"/> and an eventfd bound to it with KVM_IRQFD, so a device thread raises
/// it with one write and KVM injects it without the VMM. KVM_SET_GSI_ROUTING replaces the whole
/// table, so the table always repeats KVM's default irqchip routes (GSI 0-15 on both PICs and
/// the IOAPIC, 16-23 on the IOAPIC) before the MSI routes. Route changes come from vCPU threads
/// writing MSI-X tables; they are rare and serialized by a lock off the I/O fast path.
/// Queue doorbells are KVM_IOEVENTFD registrations.
/// </summary>
internal sealed class KvmInterrupts(KvmVmFd vm) : IInterruptController, IIoEventRegistry
{
    public const uint FirstMsiGsi = PlatformLayout.IoApicPins;

    private readonly KvmVmFd _vm = vm;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, (ulong Address, uint Data)> _msiRoutes = [];
    private uint _nextGsi = FirstMsiGsi;

    public IIrqLine Line(uint gsi) => new KvmIrqLine(_vm, gsi);

    public IMsiVector AllocateMsi()
    {
        uint gsi;
        lock (_lock)
        {
            gsi = _nextGsi++;
        }

        var notifier = new EventFd();
        try
        {
            _vm.Irqfd(notifier.Fd, gsi, assign: true);
        }
        catch
        {
            notifier.Dispose();
            throw;
        }

        return new Vector(this, gsi, notifier);
    }

    public void Register(ulong address, int length, EventFd notifier) => _vm.Ioeventfd(address, length, notifier.Fd, assign: true);

    public void Unregister(ulong address, int length, EventFd notifier) => _vm.Ioeventfd(address, length, notifier.Fd, assign: false);

    private void Route(uint gsi, (ulong Address, uint Data)? route)
    {
        lock (_lock)
        {
            if (route is { } r)
            {
                if (_msiRoutes.TryGetValue(gsi, out var current) && current == r)
                {
                    return;
                }

                _msiRoutes[gsi] = r;
            }
            else if (!_msiRoutes.Remove(gsi))
            {
                return;
            }

            _vm.SetGsiRouting(Table());
        }
    }

    private kvm_irq_routing_entry[] Table()
    {
        var entries = new List<kvm_irq_routing_entry>();
        for (uint gsi = 0; gsi < PlatformLayout.IoApicPins; gsi++)
        {
            if (gsi < 16)
            {
                entries.Add(Chip(gsi, gsi < 8 ? KvmConstants.KVM_IRQCHIP_PIC_MASTER : KvmConstants.KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
            }

            entries.Add(Chip(gsi, KvmConstants.KVM_IRQCHIP_IOAPIC, gsi));
        }

        foreach (var (gsi, (address, data)) in _msiRoutes)
        {
            entries.Add(new kvm_irq_routing_entry
            {
                gsi = gsi,
                type = KvmConstants.KVM_IRQ_ROUTING_MSI,
                u0 = (uint)address,
                u1 = (uint)(address >> 32),
                u2 = data,
            });
        }

        return [.. entries];
    }

    private static kvm_irq_routing_entry Chip(uint gsi, uint chip, uint pin) =>
        new() { gsi = gsi, type = KvmConstants.KVM_IRQ_ROUTING_IRQCHIP, u0 = chip, u1 = pin };

    private sealed class Vector(KvmInterrupts owner, uint gsi, EventFd notifier) : IMsiVector
    {
        private int _disposed;

        public void SetRoute(ulong address, uint data) => owner.Route(gsi, (address, data));

        public void Trigger() => notifier.Signal();

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                owner._vm.Irqfd(notifier.Fd, gsi, assign: false);
                owner.Route(gsi, null);
            }
            catch (KvmException)
            {
                // The VM is going away with its irqfds.
            }

            notifier.Dispose();
        }
    }
}
