using System.Buffers.Binary;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// The modern virtio-pci transport (virtio 1.x §4.1) for one device: vendor 0x1af4, device
/// 0x1040 + type, revision 1; one 64-bit BAR 0 holding the common configuration, ISR, device
/// configuration, notification doorbells and the MSI-X table and PBA, each described by a
/// capability. Doorbells are ioeventfds, so a queue notification wakes the device thread without
/// an exit to user space; interrupts are MSI-X vectors (irqfds). Threading: vCPU threads access
/// BAR 0 and config space under <see cref="_lock"/>; the device thread serves queues and only
/// reads queue state captured at DRIVER_OK. A ring the guest breaks sets NEEDS_RESET, logs one
/// line for the device and stops it until the driver resets it; the VMM and other devices go on.
/// </summary>
public sealed partial class VirtioPciDevice : PciFunction, IDisposable, IStateful, IPausable
{
    public const ushort VirtioVendorId = 0x1AF4;
    public const ulong BarSize = 0x8000;
    public const uint CommonOffset = 0x0000;
    public const uint IsrOffset = 0x1000;
    public const uint DeviceConfigOffset = 0x2000;
    public const uint NotifyOffset = 0x3000;
    public const uint MsixTableOffset = 0x4000;
    public const uint MsixPbaOffset = 0x5000;
    public const uint NotifyMultiplier = 4;
    public const ushort NoVector = 0xFFFF;

    private const byte StatusAcknowledge = 1;
    private const byte StatusDriver = 2;
    private const byte StatusDriverOk = 4;
    private const byte StatusFeaturesOk = 8;
    private const byte StatusNeedsReset = 0x40;
    private const byte StatusFailed = 0x80;

    private readonly Lock _lock = new();
    private readonly IVirtioDevice _device;
    private readonly GuestMemory _memory;
    private readonly IIoEventRegistry _ioEvents;
    private readonly IGuestEvents _events;
    private readonly ILogger _logger;
    private readonly QueueState[] _queues;
    private readonly MsixEntry[] _msix;
    private readonly IMsiVector[] _vectors;
    private readonly PciBar _bar;
    private readonly int _msixCapability;
    private readonly EventFd _stop = new();
    private ulong _driverFeatures;
    private uint _deviceFeatureSelect;
    private uint _driverFeatureSelect;
    private ushort _configVector = NoVector;
    private ushort _queueSelect;
    private byte _status;
    private byte _configGeneration;
    private int _isr;
    private bool _msixEnabled;
    private bool _msixMasked;
    private bool _activated;
    private int _errorLogged;
    // The rings built at DRIVER_OK (or restored), kept so pause can stop the worker and resume
    // start it again on the same queues, and so their indices can be saved.
    private VirtQueue?[]? _rings;
    private ushort[]? _ringVectors;
    private bool _paused;
    private bool _failed;
    private Thread? _worker;
    private long _notifications;
    private long _interrupts;

    public VirtioPciDevice(IVirtioDevice device, GuestMemory memory, IInterruptController interrupts, IIoEventRegistry ioEvents, IGuestEvents events, ILogger logger)
        : base(VirtioVendorId, (ushort)(0x1040 + device.DeviceType), device.PciClass.Class, device.PciClass.Subclass, revision: 1, VirtioVendorId, (ushort)(0x1040 + device.DeviceType))
    {
        ArgumentNullException.ThrowIfNull(interrupts);
        _device = device;
        _memory = memory;
        _ioEvents = ioEvents;
        _events = events;
        _logger = logger;
        _queues = new QueueState[device.QueueCount];
        for (var i = 0; i < _queues.Length; i++)
        {
            _queues[i] = new QueueState(device.MaxQueueSize);
        }

        _msix = new MsixEntry[device.QueueCount + 1];
        _vectors = new IMsiVector[_msix.Length];
        for (var i = 0; i < _msix.Length; i++)
        {
            _msix[i] = new MsixEntry();
            _vectors[i] = interrupts.AllocateMsi();
        }

        _bar = AddBar(0, BarSize, is64Bit: true, prefetchable: false, new Bar0(this));
        AddVirtioCapability(cfgType: 1, CommonOffset, 0x38);
        AddVirtioCapability(cfgType: 3, IsrOffset, 1);
        AddVirtioCapability(cfgType: 4, DeviceConfigOffset, 0x1000);
        AddVirtioCapability(cfgType: 2, NotifyOffset, (uint)(_queues.Length * NotifyMultiplier), NotifyMultiplier);
        // MSI-X (PCI 3.0 §6.8.2): control (table size - 1; enable and function mask writable), table and PBA in BAR 0.
        Span<byte> msix = stackalloc byte[10];
        BinaryPrimitives.WriteUInt16LittleEndian(msix, (ushort)(_msix.Length - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(msix[2..], MsixTableOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(msix[6..], MsixPbaOffset);
        _msixCapability = AddCapability(0x11, msix, [0x00, 0xC0]);
        device.ConfigChanged = RaiseConfigChange;
        device.Wake = queue =>
        {
            if ((uint)queue < (uint)_queues.Length)
            {
                _queues[queue].Notifier.Signal();
            }
        };
    }

    public string Id => _device.Id;

    public IVirtioDevice Device => _device;

    public PciBar Bar => _bar;

    private void AddVirtioCapability(byte cfgType, uint offset, uint length, uint? multiplier = null)
    {
        // struct virtio_pci_cap after id/next: cap_len, cfg_type, bar, id, padding[2], offset, length [, notify_off_multiplier].
        var body = new byte[multiplier is null ? 14 : 18];
        body[0] = (byte)(body.Length + 2);
        body[1] = cfgType;
        body[2] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(6), offset);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(10), length);
        if (multiplier is { } m)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(14), m);
        }

        AddCapability(0x09, body);
    }

    private ulong OfferedFeatures =>
        _device.Features | (1UL << VirtioIds.FeatureVersion1) | (1UL << VirtioIds.FeatureIndirectDesc) | (1UL << VirtioIds.FeatureEventIdx);

    public IReadOnlyDictionary<string, ulong> TransportCounters() => new Dictionary<string, ulong>
    {
        ["notifications"] = (ulong)Interlocked.Read(ref _notifications),
        ["interrupts"] = (ulong)Interlocked.Read(ref _interrupts),
    };

    protected override void OnConfigWritten(int offset, int length)
    {
        if (offset + length <= _msixCapability + 2 || offset >= _msixCapability + 4)
        {
            return;
        }

        var control = ReadConfigWord(_msixCapability + 2);
        List<int> fire;
        lock (_lock)
        {
            _msixEnabled = (control & 0x8000) != 0;
            _msixMasked = (control & 0x4000) != 0;
            fire = CollectUnmaskedPending();
        }

        Fire(fire);
    }

    protected internal override void OnBarMapped(PciBar bar, ulong? oldAddress, ulong? newAddress)
    {
        lock (_lock)
        {
            for (var q = 0; q < _queues.Length; q++)
            {
                var offset = NotifyOffset + (uint)(q * NotifyMultiplier);
                if (oldAddress is { } old)
                {
                    _ioEvents.Unregister(old + offset, 2, _queues[q].Notifier);
                }

                if (newAddress is { } fresh)
                {
                    _ioEvents.Register(fresh + offset, 2, _queues[q].Notifier);
                }
            }
        }
    }

    /// <summary>Raises a config-change interrupt (e.g. after vm.resize-disk changed the capacity).</summary>
    private void RaiseConfigChange()
    {
        ushort vector;
        lock (_lock)
        {
            _configGeneration++;
            Interlocked.Or(ref _isr, 2);
            vector = _configVector;
        }

        Signal(vector);
    }

    private void Signal(ushort vector)
    {
        lock (_lock)
        {
            if (!_msixEnabled || vector >= _msix.Length)
            {
                Interlocked.Or(ref _isr, 1);
                return;
            }

            if (_msixMasked || _msix[vector].Masked)
            {
                _msix[vector].Pending = true;
                return;
            }
        }

        Interlocked.Increment(ref _interrupts);
        _vectors[vector].Trigger();
    }

    private List<int> CollectUnmaskedPending()
    {
        var fire = new List<int>();
        if (!_msixEnabled || _msixMasked)
        {
            return fire;
        }

        for (var i = 0; i < _msix.Length; i++)
        {
            if (_msix[i].Pending && !_msix[i].Masked)
            {
                _msix[i].Pending = false;
                fire.Add(i);
            }
        }

        return fire;
    }

    private void Fire(List<int> vectors)
    {
        foreach (var v in vectors)
        {
            Interlocked.Increment(ref _interrupts);
            _vectors[v].Trigger();
        }
    }

    public void Dispose()
    {
        StopWorker();
        foreach (var v in _vectors)
        {
            v.Dispose();
        }

        foreach (var q in _queues)
        {
            q.Notifier.Dispose();
        }

        _stop.Dispose();
        _device.Dispose();
    }

    private sealed class QueueState(ushort maxSize)
    {
        public ushort MaxSize { get; } = maxSize;

        public ushort Size { get; set; } = maxSize;

        public ushort Vector { get; set; } = NoVector;

        public bool Enabled { get; set; }

        public ulong Desc { get; set; }

        public ulong Avail { get; set; }

        public ulong Used { get; set; }

        public EventFd Notifier { get; } = new();

        public void Reset()
        {
            Size = MaxSize;
            Vector = NoVector;
            Enabled = false;
            Desc = Avail = Used = 0;
        }
    }

    private sealed class MsixEntry
    {
        public ulong Address;
        public uint Data;
        public bool Masked = true;
        public bool Pending;
    }
}
