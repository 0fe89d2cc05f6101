using System.Buffers.Binary;
using System.Net.NetworkInformation;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-net (virtio 1.x §5.1) on a tap, served in user space (this host has no vhost-net, and
/// upstream's default is the same). Queues are rx0, tx0, rx1, tx1, ... and, with more than one
/// pair, a control queue last (MQ needs CTRL_VQ). Frames cross unchanged with their 12-byte
/// virtio_net_hdr: the tap speaks the same header (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so
/// checksum and TSO/UFO offloads pass through, and the driver's accepted GUEST_* offloads become
/// the tap's TUNSETOFFLOAD. MRG_RXBUF is not offered: each received frame fills one chain, which
/// the driver sizes for its offloads (Linux uses big buffers when it accepts GUEST_TSO).
/// Receive: one poller thread per pair waits for the tap, wakes the device thread, and waits
/// again once the device drained the tap; a frame that finds no receive buffer waits for the
/// driver's next notification. Counters carry upstream's names (rx_bytes, rx_frames, tx_bytes,
/// tx_frames).
/// </summary>
public sealed class VirtioNet : IVirtioDevice, IStateful
{
    private const int FeatureCsum = 0;
    private const int FeatureGuestCsum = 1;
    private const int FeatureCtrlGuestOffloads = 2;
    private const int FeatureMtu = 3;
    private const int FeatureMac = 5;
    private const int FeatureGuestTso4 = 7;
    private const int FeatureGuestTso6 = 8;
    private const int FeatureGuestEcn = 9;
    private const int FeatureGuestUfo = 10;
    private const int FeatureHostTso4 = 11;
    private const int FeatureHostTso6 = 12;
    private const int FeatureHostEcn = 13;
    private const int FeatureHostUfo = 14;
    private const int FeatureStatus = 16;
    private const int FeatureCtrlVq = 17;
    private const int FeatureMq = 22;
    private const int MaxFrame = 65562; // 64 KiB of GSO payload plus Ethernet and vnet headers

    private readonly Tap _tap;
    private readonly byte[] _mac;
    private readonly ushort? _mtu;
    private readonly bool _csum;
    private readonly bool _tso;
    private readonly bool _ufo;
    private readonly Pair[] _pairs;
    private readonly EventFd _stop = new();
    private GuestMemory? _memory;
    private bool _stopping;
    private long _rxBytes;
    private long _rxFrames;
    private long _txBytes;
    private long _txFrames;
    private long _txDropped;

    public VirtioNet(string id, Tap tap, PhysicalAddress mac, ushort? mtu, ushort queueSize, bool csum, bool tso, bool ufo)
    {
        ArgumentNullException.ThrowIfNull(tap);
        ArgumentNullException.ThrowIfNull(mac);
        Id = id;
        _tap = tap;
        _mac = mac.GetAddressBytes();
        _mtu = mtu;
        _csum = csum;
        _tso = tso && csum;
        _ufo = ufo && csum;
        MaxQueueSize = queueSize;
        _pairs = new Pair[tap.QueuePairs];
        for (var i = 0; i < _pairs.Length; i++)
        {
            _pairs[i] = new Pair(i);
        }

        QueueCount = (2 * _pairs.Length) + (_pairs.Length > 1 ? 1 : 0);
        for (var i = 0; i < _pairs.Length; i++)
        {
            var pair = _pairs[i];
            pair.Poller = new Thread(() => Poll(pair)) { IsBackground = true, Name = $"virtio-{id}-rx{i}" };
            pair.Poller.Start();
        }
    }

    public string Id { get; }

    public string TapName => _tap.Name;

    public ushort DeviceType => VirtioIds.Net;

    public (byte Class, byte Subclass) PciClass => (0x02, 0x00);

    public int QueueCount { get; }

    public ushort MaxQueueSize { get; }

    public ulong Features
    {
        get
        {
            var f = (1UL << FeatureMac) | (1UL << FeatureStatus);
            if (_csum)
            {
                f |= (1UL << FeatureCsum) | (1UL << FeatureGuestCsum) | (1UL << FeatureCtrlGuestOffloads);
            }

            if (_tso)
            {
                f |= (1UL << FeatureGuestTso4) | (1UL << FeatureGuestTso6) | (1UL << FeatureGuestEcn)
                    | (1UL << FeatureHostTso4) | (1UL << FeatureHostTso6) | (1UL << FeatureHostEcn);
            }

            if (_ufo)
            {
                f |= (1UL << FeatureGuestUfo) | (1UL << FeatureHostUfo);
            }

            if (_mtu is not null)
            {
                f |= 1UL << FeatureMtu;
            }

            if (_pairs.Length > 1)
            {
                f |= (1UL << FeatureCtrlVq) | (1UL << FeatureMq);
            }

            return f;
        }
    }

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data)
    {
        // struct virtio_net_config: mac[6], status (LINK_UP), max_virtqueue_pairs, mtu.
        Span<byte> c = stackalloc byte[12];
        _mac.CopyTo(c);
        BinaryPrimitives.WriteUInt16LittleEndian(c[6..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(c[8..], (ushort)_pairs.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(c[10..], _mtu ?? 1500);
        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        // The MAC is writable only with VIRTIO_NET_F_MAC unset in legacy devices; nothing to do here.
    }

    public void Activate(GuestMemory memory, ulong features)
    {
        _memory = memory;
        _tap.SetOffload(Offloads(features));
    }

    /// <summary>The tap offloads for what the driver said it can receive (§5.1.6.4: the GUEST_* features).</summary>
    private static TapOffload Offloads(ulong features)
    {
        bool Has(int bit) => (features & (1UL << bit)) != 0;
        if (!Has(FeatureGuestCsum))
        {
            return TapOffload.None;
        }

        var flags = TapOffload.Csum;
        flags |= Has(FeatureGuestTso4) ? TapOffload.Tso4 : 0;
        flags |= Has(FeatureGuestTso6) ? TapOffload.Tso6 : 0;
        flags |= Has(FeatureGuestEcn) && (Has(FeatureGuestTso4) || Has(FeatureGuestTso6)) ? TapOffload.TsoEcn : 0;
        flags |= Has(FeatureGuestUfo) ? TapOffload.Ufo : 0;
        return flags;
    }

    public void Reset()
    {
        foreach (var p in _pairs)
        {
            lock (p)
            {
                p.PendingLength = 0;
            }
        }
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (index == 2 * _pairs.Length)
        {
            return Control(queue);
        }

        var pair = _pairs[index / 2];
        return index % 2 == 0 ? Receive(pair, queue) : Transmit(pair, queue);
    }

    private bool Transmit(Pair pair, VirtQueue queue)
    {
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            var frame = queue.ReadAll(chain, MaxFrame);
            if (frame.Length > Tap.VnetHeaderSize)
            {
                if (_tap.Write(pair.Index, frame))
                {
                    Interlocked.Add(ref _txBytes, frame.Length - Tap.VnetHeaderSize);
                    Interlocked.Increment(ref _txFrames);
                }
                else
                {
                    Interlocked.Increment(ref _txDropped);
                }
            }

            interrupt |= queue.Push(chain, 0);
        }

        return interrupt;
    }

    private bool Receive(Pair pair, VirtQueue queue)
    {
        var interrupt = false;
        while (true)
        {
            lock (pair)
            {
                if (pair.PendingLength == 0)
                {
                    pair.PendingLength = _tap.Read(pair.Index, pair.Buffer);
                    if (pair.PendingLength == 0)
                    {
                        // The tap is empty: the poller may wait for it again.
                        pair.Drained.Set();
                        return interrupt;
                    }
                }
            }

            if (queue.Pop() is not { } chain)
            {
                // No receive buffer: the frame waits for the driver's next notification of this queue.
                return interrupt;
            }

            uint written = 0;
            lock (pair)
            {
                // virtio_net_hdr_v1.num_buffers is 1: the frame fills this one chain (no MRG_RXBUF).
                BinaryPrimitives.WriteUInt16LittleEndian(pair.Buffer.AsSpan(10), 1);
                var frame = pair.Buffer.AsSpan(0, pair.PendingLength);
                foreach (var b in chain.Writable)
                {
                    var n = (int)Math.Min(b.Length, (uint)(frame.Length - written));
                    _memory!.Write(b.Address, frame.Slice((int)written, n));
                    written += (uint)n;
                    if (written == frame.Length)
                    {
                        break;
                    }
                }

                // A frame longer than the chain is cut (the driver gave too little); count what arrived.
                Interlocked.Add(ref _rxBytes, Math.Max(0, written - Tap.VnetHeaderSize));
                Interlocked.Increment(ref _rxFrames);
                pair.PendingLength = 0;
            }

            interrupt |= queue.Push(chain, written);
        }
    }

    /// <summary>The control queue (§5.1.6.5): MQ pair counts and guest offloads are acknowledged; anything else answers ERR.</summary>
    private bool Control(VirtQueue queue)
    {
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            var command = queue.ReadAll(chain, 4096);
            byte status = 1; // VIRTIO_NET_ERR
            if (command.Length >= 2)
            {
                status = (command[0], command[1]) switch
                {
                    (4, 0) when command.Length >= 4 => // VIRTIO_NET_CTRL_MQ, VQ_PAIRS_SET
                        BinaryPrimitives.ReadUInt16LittleEndian(command.AsSpan(2)) is >= 1 and var n && n <= _pairs.Length ? (byte)0 : (byte)1,
                    (5, 0) when command.Length >= 10 => SetGuestOffloads(BinaryPrimitives.ReadUInt64LittleEndian(command.AsSpan(2))),
                    (0, _) => 0, // VIRTIO_NET_CTRL_RX (promiscuous, all-multicast): a tap passes every frame anyway
                    (1, _) => 0, // VIRTIO_NET_CTRL_MAC filter tables: likewise
                    _ => 1,
                };
            }

            var writable = chain.Writable.LastOrDefault();
            if (writable.Length > 0)
            {
                _memory!.Write(writable.Address + writable.Length - 1, [status]);
            }

            interrupt |= queue.Push(chain, writable.Length > 0 ? 1u : 0);
        }

        return interrupt;
    }

    private byte SetGuestOffloads(ulong offloads)
    {
        try
        {
            _tap.SetOffload(Offloads(offloads));
            return 0;
        }
        catch (TapException)
        {
            return 1;
        }
    }

    private void Poll(Pair pair)
    {
        while (_tap.WaitReadable(pair.Index, _stop) == TapWait.Readable)
        {
            Wake?.Invoke(2 * pair.Index);
            // Until the device has read the tap dry, readiness says nothing new.
            pair.Drained.WaitOne();
            if (Volatile.Read(ref _stopping))
            {
                return;
            }
        }
    }

    /// <summary>
    /// The MAC the driver knows: the restored device must be the same NIC. The tap's offloads
    /// follow the negotiated features again at restore (the transport re-activates the device);
    /// a frame read from the tap but not yet delivered is dropped, as a NIC may.
    /// </summary>
    public string SaveState() =>
        StateJson.Write(new VirtioNetState { Mac = Convert.ToHexString(_mac) }, StateJsonContext.Default.VirtioNetState);

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioNetState);
        if (!string.Equals(s.Mac, Convert.ToHexString(_mac), StringComparison.OrdinalIgnoreCase))
        {
            throw new StateFormatException("mac", $"is {s.Mac}, but this device has {Convert.ToHexString(_mac)}");
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["rx_bytes"] = (ulong)Interlocked.Read(ref _rxBytes),
        ["rx_frames"] = (ulong)Interlocked.Read(ref _rxFrames),
        ["tx_bytes"] = (ulong)Interlocked.Read(ref _txBytes),
        ["tx_frames"] = (ulong)Interlocked.Read(ref _txFrames),
        ["tx_dropped"] = (ulong)Interlocked.Read(ref _txDropped),
    };

    public void Dispose()
    {
        Volatile.Write(ref _stopping, true);
        _stop.Signal();
        foreach (var p in _pairs)
        {
            p.Drained.Set();
            p.Poller?.Join();
            p.Drained.Dispose();
        }

        _stop.Dispose();
        _tap.Dispose();
    }

    private sealed class Pair(int index)
    {
        public int Index { get; } = index;

        public byte[] Buffer { get; } = new byte[MaxFrame];

        public int PendingLength { get; set; }

        public AutoResetEvent Drained { get; } = new(false);

        public Thread? Poller { get; set; }
    }
}

/// <summary>What a virtio-net's driver was told: its MAC.</summary>
public sealed record VirtioNetState
{
    public required string Mac { get; init; }
}
