using CloudHypervisor.Vmm.Memory;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>Virtio device types (virtio 1.x §5) and the feature bits the transport negotiates itself.</summary>
public static class VirtioIds
{
    public const ushort Block = 2;
    public const ushort Console = 3;
    public const ushort Rng = 4;
    public const ushort Net = 1;
    public const ushort Vsock = 19;
    public const ushort Balloon = 5;
    public const ushort Pmem = 27;

    public const int FeatureIndirectDesc = 28;
    public const int FeatureEventIdx = 29;
    public const int FeatureVersion1 = 32;
}

/// <summary>
/// A virtio device behind a transport: its type, queues, features and configuration space. The
/// transport owns negotiation, rings and interrupts; the device only turns popped chains into
/// work. <see cref="Process"/> runs on the device's own thread; <see cref="ReadConfig"/> and
/// <see cref="WriteConfig"/> on vCPU threads.
/// </summary>
public interface IVirtioDevice : IDisposable
{
    string Id { get; }

    ushort DeviceType { get; }

    /// <summary>PCI class and subclass: block is mass storage (0x01, 0x80 "other"), the rest 0xFF/0x00 as upstream.</summary>
    (byte Class, byte Subclass) PciClass { get; }

    int QueueCount { get; }

    ushort MaxQueueSize { get; }

    /// <summary>Device-specific feature bits (the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX).</summary>
    ulong Features { get; }

    /// <summary>Set by the transport: call it after changing the config space, to raise a config-change interrupt.</summary>
    Action? ConfigChanged { set; }

    /// <summary>
    /// Set by the transport: call it from any thread with a queue index to have <see cref="Process"/>
    /// run for that queue on the device thread (host-side input arrived for a receive queue).
    /// </summary>
    Action<int>? Wake { set; }

    void ReadConfig(int offset, Span<byte> data);

    void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK with <paramref name="features"/> accepted.</summary>
    void Activate(GuestMemory memory, ulong features);

    /// <summary>
    /// Serves what the driver queued on <paramref name="queue"/>; returns true when an interrupt
    /// is due. A <see cref="VirtioQueueException"/> stops the device until the driver resets it.
    /// </summary>
    bool Process(int index, VirtQueue queue);

    /// <summary>The driver reset the device (status 0): forget negotiated state.</summary>
    void Reset();

    IReadOnlyDictionary<string, ulong> Counters();
}
