using System.Buffers.Binary;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.Vmm.Devices;
using CloudHypervisor.Vmm.Host;

namespace CloudHypervisor.Vmm.Virtio;

// BAR 0 registers (struct virtio_pci_common_cfg, ISR, device config, doorbells, MSI-X), the
// device status state machine (§2.1, §3.1) and the device thread.
public sealed partial class VirtioPciDevice
{
    [State.NoOwnState("forwards BAR 0 accesses to its transport, which holds the state")]
    private sealed class Bar0(VirtioPciDevice owner) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data) => owner.ReadBar(offset, data);

        public void Write(ulong offset, ReadOnlySpan<byte> data) => owner.WriteBar(offset, data);
    }

    private void ReadBar(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset < IsrOffset)
        {
            lock (_lock)
            {
                Put(data, ReadCommon((uint)offset, data.Length));
            }
        }
        else if (offset < DeviceConfigOffset)
        {
            if (offset == IsrOffset)
            {
                data[0] = (byte)Interlocked.Exchange(ref _isr, 0);
            }
        }
        else if (offset < NotifyOffset)
        {
            _device.ReadConfig((int)(offset - DeviceConfigOffset), data);
        }
        else if (offset is >= MsixTableOffset and < MsixPbaOffset)
        {
            lock (_lock)
            {
                Put(data, ReadMsix((uint)(offset - MsixTableOffset)));
            }
        }
        else if (offset >= MsixPbaOffset && offset - MsixPbaOffset < 8)
        {
            lock (_lock)
            {
                ulong pba = 0;
                for (var i = 0; i < _msix.Length && i < 64; i++)
                {
                    pba |= _msix[i].Pending ? 1UL << i : 0;
                }

                Put(data, pba >> (int)(8 * (offset - MsixPbaOffset)));
            }
        }
    }

    private static void Put(Span<byte> data, ulong value)
    {
        for (var i = 0; i < data.Length && i < 8; i++)
        {
            data[i] = (byte)(value >> (8 * i));
        }
    }

    private static ulong Get(ReadOnlySpan<byte> data)
    {
        ulong value = 0;
        for (var i = 0; i < data.Length && i < 8; i++)
        {
            value |= (ulong)data[i] << (8 * i);
        }

        return value;
    }

    private QueueState? Selected => _queueSelect < _queues.Length ? _queues[_queueSelect] : null;

    private ulong ReadCommon(uint offset, int length)
    {
        var q = Selected;
        return offset switch
        {
            0x00 => _deviceFeatureSelect,
            0x04 => _deviceFeatureSelect < 2 ? (uint)(OfferedFeatures >> (int)(32 * _deviceFeatureSelect)) : 0,
            0x08 => _driverFeatureSelect,
            0x0C => _driverFeatureSelect < 2 ? (uint)(_driverFeatures >> (int)(32 * _driverFeatureSelect)) : 0,
            0x10 => _configVector,
            0x12 => (ulong)_queues.Length,
            0x14 => _status,
            0x15 => _configGeneration,
            0x16 => _queueSelect,
            0x18 => q?.Size ?? 0,
            0x1A => q?.Vector ?? NoVector,
            0x1C => q is { Enabled: true } ? 1UL : 0,
            0x1E => q is null ? 0UL : _queueSelect,
            0x20 => length == 8 ? q?.Desc ?? 0 : (uint)(q?.Desc ?? 0),
            0x24 => (q?.Desc ?? 0) >> 32,
            0x28 => length == 8 ? q?.Avail ?? 0 : (uint)(q?.Avail ?? 0),
            0x2C => (q?.Avail ?? 0) >> 32,
            0x30 => length == 8 ? q?.Used ?? 0 : (uint)(q?.Used ?? 0),
            0x34 => (q?.Used ?? 0) >> 32,
            _ => 0,
        };
    }

    private void WriteBar(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset < IsrOffset)
        {
            WriteCommon((uint)offset, data);
        }
        else if (offset is >= DeviceConfigOffset and < NotifyOffset)
        {
            _device.WriteConfig((int)(offset - DeviceConfigOffset), data);
        }
        else if (offset is >= NotifyOffset and < MsixTableOffset)
        {
            // A doorbell write that did not match the ioeventfd (another width): ring it ourselves.
            var queue = (offset - NotifyOffset) / NotifyMultiplier;
            if (queue < (ulong)_queues.Length)
            {
                _queues[queue].Notifier.Signal();
            }
        }
        else if (offset is >= MsixTableOffset and < MsixPbaOffset)
        {
            List<int> fire;
            lock (_lock)
            {
                WriteMsix((uint)(offset - MsixTableOffset), data);
                fire = CollectUnmaskedPending();
            }

            Fire(fire);
        }
    }

    private void WriteCommon(uint offset, ReadOnlySpan<byte> data)
    {
        var value = Get(data);
        Action? after = null;
        lock (_lock)
        {
            var q = Selected;
            // Queue registers may change only while the queue is disabled and the driver is not done (§4.1.4.3).
            var queueWritable = q is { Enabled: false } && (_status & StatusDriverOk) == 0;
            switch (offset)
            {
                case 0x00:
                    _deviceFeatureSelect = (uint)value;
                    break;
                case 0x08:
                    _driverFeatureSelect = (uint)value;
                    break;
                case 0x0C when _driverFeatureSelect < 2 && (_status & StatusFeaturesOk) == 0:
                    var shift = (int)(32 * _driverFeatureSelect);
                    _driverFeatures = (_driverFeatures & ~(0xFFFF_FFFFUL << shift)) | ((value & 0xFFFF_FFFF) << shift);
                    break;
                case 0x10:
                    _configVector = (ushort)value < _msix.Length ? (ushort)value : NoVector;
                    break;
                case 0x14:
                    after = WriteStatus((byte)value);
                    break;
                case 0x16:
                    _queueSelect = (ushort)value;
                    break;
                case 0x18 when queueWritable:
                    // A size the device cannot serve is refused by reading back the old one.
                    var size = (ushort)value;
                    if (size != 0 && ushort.IsPow2(size) && size <= q!.MaxSize)
                    {
                        q.Size = size;
                    }

                    break;
                case 0x1A when q is not null:
                    q.Vector = (ushort)value < _msix.Length ? (ushort)value : NoVector;
                    break;
                case 0x1C when queueWritable && value == 1:
                    q!.Enabled = true;
                    break;
                case 0x20 when queueWritable:
                    q!.Desc = data.Length == 8 ? value : (q.Desc & 0xFFFF_FFFF_0000_0000) | (uint)value;
                    break;
                case 0x24 when queueWritable:
                    q!.Desc = (q.Desc & 0xFFFF_FFFF) | (value << 32);
                    break;
                case 0x28 when queueWritable:
                    q!.Avail = data.Length == 8 ? value : (q.Avail & 0xFFFF_FFFF_0000_0000) | (uint)value;
                    break;
                case 0x2C when queueWritable:
                    q!.Avail = (q.Avail & 0xFFFF_FFFF) | (value << 32);
                    break;
                case 0x30 when queueWritable:
                    q!.Used = data.Length == 8 ? value : (q.Used & 0xFFFF_FFFF_0000_0000) | (uint)value;
                    break;
                case 0x34 when queueWritable:
                    q!.Used = (q.Used & 0xFFFF_FFFF) | (value << 32);
                    break;
                default:
                    break;
            }
        }

        after?.Invoke();
    }

    /// <summary>Applies a status write under the lock; returns what must happen outside it (thread start/stop, events).</summary>
    private Action? WriteStatus(byte status)
    {
        if (status == 0)
        {
            var wasActive = _activated;
            _status = 0;
            _driverFeatures = 0;
            _configVector = NoVector;
            _activated = false;
            _failed = false;
            _rings = null;
            _ringVectors = null;
            foreach (var q in _queues)
            {
                q.Reset();
            }

            return () =>
            {
                StopWorker();
                _device.Reset();
                if (wasActive)
                {
                    _events.DeviceEvent(Events.VirtioDevice.Reset, new Dictionary<string, string> { ["id"] = Id });
                }
            };
        }

        // Bits are only ever added by the driver (FAILED and NEEDS_RESET aside).
        var added = (byte)(status & ~_status);
        if ((added & StatusFeaturesOk) != 0)
        {
            var valid = (_driverFeatures & ~OfferedFeatures) == 0 && (_driverFeatures & (1UL << VirtioIds.FeatureVersion1)) != 0;
            if (!valid)
            {
                status &= unchecked((byte)~StatusFeaturesOk);
            }
        }

        if ((added & StatusDriverOk) != 0 && (status & StatusFeaturesOk) == 0)
        {
            status &= unchecked((byte)~StatusDriverOk);
        }

        _status = (byte)(status | (_status & StatusNeedsReset));
        if ((added & StatusDriverOk) == 0 || (_status & StatusDriverOk) == 0 || _activated)
        {
            return null;
        }

        // DRIVER_OK: check every enabled queue against guest memory now, before the device thread uses it.
        var rings = new VirtQueue?[_queues.Length];
        try
        {
            for (var i = 0; i < _queues.Length; i++)
            {
                var q = _queues[i];
                if (q.Enabled)
                {
                    rings[i] = new VirtQueue(_memory, q.Size, q.Desc, q.Avail, q.Used,
                        eventIdx: (_driverFeatures & (1UL << VirtioIds.FeatureEventIdx)) != 0,
                        indirect: (_driverFeatures & (1UL << VirtioIds.FeatureIndirectDesc)) != 0);
                }
            }
        }
        catch (VirtioQueueException e)
        {
            return () => Broken(e.Message);
        }

        _activated = true;
        var features = _driverFeatures;
        var vectors = _queues.Select(q => q.Vector).ToArray();
        _rings = rings;
        _ringVectors = vectors;
        var paused = _paused;
        return () =>
        {
            _device.Activate(_memory, features);
            if (!paused)
            {
                StartWorker(rings, vectors);
            }

            _events.DeviceEvent(Events.VirtioDevice.Activated, new Dictionary<string, string> { ["id"] = Id });
        };
    }

    private ulong ReadMsix(uint offset)
    {
        var index = (int)(offset / 16);
        if (index >= _msix.Length)
        {
            return 0;
        }

        var e = _msix[index];
        return (offset % 16) switch
        {
            0 => e.Address,
            4 => e.Address >> 32,
            8 => e.Data | ((ulong)(e.Masked ? 1u : 0) << 32),
            12 => e.Masked ? 1u : 0,
            _ => 0,
        };
    }

    private void WriteMsix(uint offset, ReadOnlySpan<byte> data)
    {
        var index = (int)(offset / 16);
        if (index >= _msix.Length)
        {
            return;
        }

        var e = _msix[index];
        var value = Get(data);
        switch (offset % 16)
        {
            case 0:
                e.Address = data.Length == 8 ? value : (e.Address & 0xFFFF_FFFF_0000_0000) | (uint)value;
                break;
            case 4:
                e.Address = (e.Address & 0xFFFF_FFFF) | (value << 32);
                break;
            case 8:
                e.Data = (uint)value;
                if (data.Length == 8)
                {
                    e.Masked = ((value >> 32) & 1) != 0;
                }

                break;
            case 12:
                e.Masked = (value & 1) != 0;
                break;
            default:
                return;
        }

        // The route is what the guest programmed; KVM only uses it when the eventfd fires.
        _vectors[index].SetRoute(e.Address, e.Data);
    }

    private void Broken(string reason)
    {
        ushort vector;
        lock (_lock)
        {
            _failed = true;
            _status |= StatusNeedsReset;
            _configGeneration++;
            Interlocked.Or(ref _isr, 2);
            vector = _configVector;
        }

        // One warning per device for its lifetime: a guest that breaks and resets a ring in a loop cannot flood the log.
        if (Interlocked.Exchange(ref _errorLogged, 1) == 0)
        {
            _logger.Warning("virtio device {Id}: {Reason}; device needs a reset (later ring errors of this device are logged at debug level)", Id, reason);
        }
        else
        {
            _logger.Debug("virtio device {Id}: {Reason}; device needs a reset", Id, reason);
        }

        Signal(vector);
    }

    private void StartWorker(VirtQueue?[] rings, ushort[] vectors)
    {
        _stop.Drain();
        var worker = new Thread(() => Work(rings, vectors)) { IsBackground = true, Name = $"virtio-{Id}" };
        _worker = worker;
        worker.Start();
    }

    private void StopWorker()
    {
        var worker = Interlocked.Exchange(ref _worker, null);
        if (worker is null)
        {
            return;
        }

        _stop.Signal();
        if (worker != Thread.CurrentThread)
        {
            worker.Join();
        }
    }

    private void Work(VirtQueue?[] rings, ushort[] vectors)
    {
        var fds = new List<EventFd>(_queues.Length + 1) { _stop };
        fds.AddRange(_queues.Select(q => q.Notifier));
        // Serve what was queued before DRIVER_OK (a driver may notify before it finishes).
        var ready = ulong.MaxValue & ~1UL;
        while (true)
        {
            for (var i = 0; i < rings.Length; i++)
            {
                if ((ready & (1UL << (i + 1))) == 0 || rings[i] is not { } ring)
                {
                    continue;
                }

                _queues[i].Notifier.Drain();
                Interlocked.Increment(ref _notifications);
                try
                {
                    if (_device.Process(i, ring))
                    {
                        Signal(vectors[i]);
                    }
                }
                catch (VirtioQueueException e)
                {
                    Broken($"queue {i}: {e.Message}");
                    return;
                }
                catch (ArgumentOutOfRangeException e)
                {
                    Broken($"queue {i}: {e.Message}");
                    return;
                }
            }

            ready = EventFd.WaitAny(fds, -1);
            if ((ready & 1) != 0)
            {
                return;
            }
        }
    }
}
