using CloudHypervisor.Vmm.Host;

namespace CloudHypervisor.Vmm.Devices;

/// <summary>An interrupt line into the in-kernel PIC/IOAPIC (a GSI).</summary>
public interface IIrqLine
{
    /// <summary>Raises and lowers the line: an edge, as ISA devices signal on their IRQ.</summary>
    void Pulse();
}

/// <summary>
/// One MSI message a device can send (an MSI-X table entry): the address/data pair the guest
/// programmed, routed by the hypervisor to a vCPU's local APIC. <see cref="Trigger"/> is safe from
/// any thread and never blocks; with KVM it writes an eventfd bound by irqfd to the vector's GSI.
/// </summary>
public interface IMsiVector : IDisposable
{
    /// <summary>Points the vector at the guest's message address and data (from the MSI-X table).</summary>
    void SetRoute(ulong address, uint data);

    void Trigger();
}

/// <summary>What devices raise interrupts through; one per VM, implemented by the hypervisor backend.</summary>
public interface IInterruptController
{
    /// <summary>The legacy line for GSI <paramref name="gsi"/> (ISA IRQs 0-15, IOAPIC pins up to 23).</summary>
    IIrqLine Line(uint gsi);

    /// <summary>A new MSI vector with its own GSI; unrouted until <see cref="IMsiVector.SetRoute"/>.</summary>
    IMsiVector AllocateMsi();
}

/// <summary>
/// Doorbells that the hypervisor turns into eventfd signals without leaving the kernel
/// (KVM_IOEVENTFD): a guest write of a given length at an MMIO address.
/// </summary>
public interface IIoEventRegistry
{
    void Register(ulong address, int length, EventFd notifier);

    void Unregister(ulong address, int length, EventFd notifier);
}
