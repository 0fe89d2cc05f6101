using CloudHypervisor.Vmm.Pci;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// A virtio-pci transport's state in upstream's three sections: the PCI configuration space, the
/// MSI-X table, and the common configuration with every queue's addresses and ring indices.
/// </summary>
public sealed record VirtioPciState
{
    public required PciFunctionState PciConfiguration { get; init; }

    public required MsixConfigState MsixConfig { get; init; }

    public required VirtioPciCommonConfigState VirtioPciCommonConfig { get; init; }
}

public sealed record MsixConfigState
{
    public required List<MsixVectorState> Table { get; init; }
}

public sealed record MsixVectorState
{
    public ulong MsgAddr { get; init; }

    public uint MsgData { get; init; }

    public bool Masked { get; init; }

    public bool Pending { get; init; }
}

/// <summary>What the driver negotiated and programmed through <c>virtio_pci_common_cfg</c>.</summary>
public sealed record VirtioPciCommonConfigState
{
    public uint DeviceFeatureSelect { get; init; }

    public uint DriverFeatureSelect { get; init; }

    public ulong DriverFeatures { get; init; }

    public ushort MsixConfig { get; init; }

    public ushort QueueSelect { get; init; }

    public byte DeviceStatus { get; init; }

    public byte ConfigGeneration { get; init; }

    public int Isr { get; init; }

    /// <summary>DRIVER_OK was accepted and the queues were checked: the device serves them on resume.</summary>
    public bool Activated { get; init; }

    /// <summary>The device stopped on a broken ring and waits for a reset (NEEDS_RESET).</summary>
    public bool Failed { get; init; }

    public required List<VirtQueueState> Queues { get; init; }
}

public sealed record VirtQueueState
{
    public ushort Size { get; init; }

    public ushort Vector { get; init; }

    public bool Enabled { get; init; }

    public ulong DescTable { get; init; }

    public ulong AvailRing { get; init; }

    public ulong UsedRing { get; init; }

    /// <summary>Where the device was in the rings; only meaningful while activated.</summary>
    public ushort NextAvail { get; init; }

    public ushort NextUsed { get; init; }
}

// Pause stops the device thread between two requests (the rings stay as they are); resume
// starts it on the same rings. Save and restore happen only while paused.
public sealed partial class VirtioPciDevice
{
    public void Pause()
    {
        lock (_lock)
        {
            _paused = true;
        }

        StopWorker();
    }

    public void Resume()
    {
        VirtQueue?[]? rings;
        ushort[]? vectors;
        lock (_lock)
        {
            _paused = false;
            rings = _activated && !_failed ? _rings : null;
            vectors = _ringVectors;
        }

        if (rings is not null && vectors is not null && Volatile.Read(ref _worker) is null)
        {
            StartWorker(rings, vectors);
        }
    }

    public string SaveState()
    {
        var pci = SaveConfigState();
        lock (_lock)
        {
            var queues = new List<VirtQueueState>(_queues.Length);
            for (var i = 0; i < _queues.Length; i++)
            {
                var q = _queues[i];
                var ring = _rings?[i];
                queues.Add(new VirtQueueState
                {
                    Size = q.Size,
                    Vector = q.Vector,
                    Enabled = q.Enabled,
                    DescTable = q.Desc,
                    AvailRing = q.Avail,
                    UsedRing = q.Used,
                    NextAvail = ring?.NextAvail ?? 0,
                    NextUsed = ring?.NextUsed ?? 0,
                });
            }

            return StateJson.Write(new VirtioPciState
            {
                PciConfiguration = pci,
                MsixConfig = new MsixConfigState
                {
                    Table = [.. _msix.Select(e => new MsixVectorState { MsgAddr = e.Address, MsgData = e.Data, Masked = e.Masked, Pending = e.Pending })],
                },
                VirtioPciCommonConfig = new VirtioPciCommonConfigState
                {
                    DeviceFeatureSelect = _deviceFeatureSelect,
                    DriverFeatureSelect = _driverFeatureSelect,
                    DriverFeatures = _driverFeatures,
                    MsixConfig = _configVector,
                    QueueSelect = _queueSelect,
                    DeviceStatus = _status,
                    ConfigGeneration = _configGeneration,
                    Isr = Volatile.Read(ref _isr),
                    Activated = _activated,
                    Failed = _failed,
                    Queues = queues,
                },
            }, StateJsonContext.Default.VirtioPciState);
        }
    }

    /// <summary>
    /// Restores a transport of a VM that has not run (its guest memory already restored): the
    /// registers, the MSI-X routes, the BAR where the guest put it and, for an activated device,
    /// the rings at their saved indices. The device thread starts at resume.
    /// </summary>
    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioPciState);
        var common = s.VirtioPciCommonConfig;
        if (common.Queues.Count != _queues.Length)
        {
            throw new StateFormatException("virtio_pci_common_config/queues", $"has {common.Queues.Count} queues, device {Id} has {_queues.Length}");
        }

        if (s.MsixConfig.Table.Count != _msix.Length)
        {
            throw new StateFormatException("msix_config/table", $"has {s.MsixConfig.Table.Count} vectors, device {Id} has {_msix.Length}");
        }

        if ((common.DriverFeatures & ~OfferedFeatures) != 0)
        {
            throw new StateFormatException("virtio_pci_common_config/driver_features", $"0x{common.DriverFeatures:X} has features device {Id} does not offer (0x{OfferedFeatures:X})");
        }

        for (var i = 0; i < common.Queues.Count; i++)
        {
            var size = common.Queues[i].Size;
            if (size == 0 || !ushort.IsPow2(size) || size > _queues[i].MaxSize)
            {
                throw new StateFormatException($"virtio_pci_common_config/queues/{i}/size", $"{size} is not a power of two up to {_queues[i].MaxSize}");
            }
        }

        RestoreConfigState(s.PciConfiguration);
        VirtQueue?[]? rings = null;
        lock (_lock)
        {
            _deviceFeatureSelect = common.DeviceFeatureSelect;
            _driverFeatureSelect = common.DriverFeatureSelect;
            _driverFeatures = common.DriverFeatures;
            _configVector = common.MsixConfig < _msix.Length ? common.MsixConfig : NoVector;
            _queueSelect = common.QueueSelect;
            _status = common.DeviceStatus;
            _configGeneration = common.ConfigGeneration;
            Volatile.Write(ref _isr, common.Isr);
            _activated = common.Activated;
            _failed = common.Failed;
            _paused = true;
            for (var i = 0; i < _queues.Length; i++)
            {
                var saved = common.Queues[i];
                var q = _queues[i];
                q.Size = saved.Size;
                q.Vector = saved.Vector < _msix.Length ? saved.Vector : NoVector;
                q.Enabled = saved.Enabled;
                q.Desc = saved.DescTable;
                q.Avail = saved.AvailRing;
                q.Used = saved.UsedRing;
            }

            for (var i = 0; i < _msix.Length; i++)
            {
                var saved = s.MsixConfig.Table[i];
                _msix[i].Address = saved.MsgAddr;
                _msix[i].Data = saved.MsgData;
                _msix[i].Masked = saved.Masked;
                _msix[i].Pending = saved.Pending;
            }

            if (_activated && !_failed)
            {
                rings = new VirtQueue?[_queues.Length];
                for (var i = 0; i < _queues.Length; i++)
                {
                    var q = _queues[i];
                    if (!q.Enabled)
                    {
                        continue;
                    }

                    try
                    {
                        var ring = new VirtQueue(_memory, q.Size, q.Desc, q.Avail, q.Used,
                            eventIdx: (_driverFeatures & (1UL << VirtioIds.FeatureEventIdx)) != 0,
                            indirect: (_driverFeatures & (1UL << VirtioIds.FeatureIndirectDesc)) != 0);
                        ring.RestoreIndices(common.Queues[i].NextAvail, common.Queues[i].NextUsed);
                        rings[i] = ring;
                    }
                    catch (VirtioQueueException e)
                    {
                        throw new StateFormatException($"virtio_pci_common_config/queues/{i}", e.Message);
                    }
                }

                _rings = rings;
                _ringVectors = [.. _queues.Select(q => q.Vector)];
            }
        }

        // The routes the guest programmed; KVM only uses them when a vector fires.
        for (var i = 0; i < _msix.Length; i++)
        {
            if (_msix[i].Address != 0 || _msix[i].Data != 0)
            {
                _vectors[i].SetRoute(_msix[i].Address, _msix[i].Data);
            }
        }

        if (rings is not null)
        {
            _device.Activate(_memory, common.DriverFeatures);
        }
    }

    protected override void OnConfigRestored()
    {
        var control = ReadConfigWord(_msixCapability + 2);
        lock (_lock)
        {
            _msixEnabled = (control & 0x8000) != 0;
            _msixMasked = (control & 0x4000) != 0;
        }
    }
}
