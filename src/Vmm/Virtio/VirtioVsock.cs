using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using CloudHypervisor.Vmm.Memory;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Virtio;

/// <summary>
/// virtio-vsock (virtio 1.x §5.10, stream sockets) with upstream's hybrid host side: the host
/// is CID 2 and every guest stream is a Unix stream socket. Host-initiated: a client connects to
/// <c>socket</c> and writes <c>CONNECT &lt;port&gt;\n</c>; the guest gets a REQUEST from a fresh
/// host port and, once it answers RESPONSE, the client reads <c>OK &lt;host port&gt;\n</c> and the
/// stream is open. Guest-initiated: a REQUEST to CID 2 port P connects to <c>&lt;socket&gt;_P</c>,
/// answered RESPONSE, or RST when nothing listens. Credit (§5.10.6.3) bounds what each side
/// sends: host data waits in the socket until the guest's buf_alloc allows it, and the guest is
/// told our fwd_cnt as bytes reach the host socket. Threading: the device thread serves the
/// transmit queue (guest packets) and the receive queue (packets queued for the guest); one
/// thread accepts on the listener and one reads each host socket, queueing packets and waking
/// the receive queue. Queue 2 (events) is only kept for the driver: no transport reset is sent.
/// </summary>
public sealed class VirtioVsock : IVirtioDevice, IStateful
{
    public const ulong HostCid = 2;
    private const int HeaderSize = 44;
    private const ushort TypeStream = 1;
    private const ushort OpRequest = 1;
    private const ushort OpResponse = 2;
    private const ushort OpRst = 3;
    private const ushort OpShutdown = 4;
    private const ushort OpRw = 5;
    private const ushort OpCreditUpdate = 6;
    private const ushort OpCreditRequest = 7;
    private const uint ShutdownReceive = 1;
    private const uint ShutdownSend = 2;
    private const uint BufAlloc = 256 << 10;
    private const int MaxChunk = 64 << 10;

    private readonly ulong _guestCid;
    private readonly string _socketPath;
    private readonly Socket _listener;
    private readonly ConcurrentQueue<Packet> _toGuest = new();
    private readonly ConcurrentDictionary<(uint Host, uint Guest), Connection> _connections = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _portLock = new();
    private uint _nextHostPort = 1u << 30;
    private GuestMemory? _memory;
    private Packet? _partial;
    private long _rxBytes;
    private long _txBytes;
    private long _connectionsOpened;

    public VirtioVsock(string id, ulong guestCid, string socketPath)
    {
        Id = id;
        _guestCid = guestCid;
        _socketPath = socketPath;
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath); // a socket left by a previous run would block the bind, as upstream unlinks it
        }

        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            _listener.Listen(16);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }

        new Thread(AcceptLoop) { IsBackground = true, Name = $"vsock-{id}-accept" }.Start();
    }

    public string Id { get; }

    public ushort DeviceType => VirtioIds.Vsock;

    public (byte Class, byte Subclass) PciClass => (0xFF, 0x00);

    public int QueueCount => 3;

    public ushort MaxQueueSize => 256;

    public ulong Features => 0;

    public Action? ConfigChanged { private get; set; }

    public Action<int>? Wake { private get; set; }

    public void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> c = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(c, _guestCid);
        data.Clear();
        if (offset >= 0 && offset < c.Length)
        {
            c[offset..Math.Min(c.Length, offset + data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
    }

    public void Activate(GuestMemory memory, ulong features) => _memory = memory;

    /// <summary>A driver reset forgets every stream (§5.10.6.6: the guest sees them reset).</summary>
    public void Reset()
    {
        foreach (var c in _connections.Values)
        {
            c.Close();
        }

        _connections.Clear();
        _toGuest.Clear();
        _partial = null;
    }

    public bool Process(int index, VirtQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return index switch
        {
            0 => Deliver(queue),
            1 => Transmit(queue),
            _ => false,
        };
    }

    private sealed record Packet(ulong SrcCid, ulong DstCid, uint SrcPort, uint DstPort, ushort Op, uint Flags, byte[] Payload, Connection? From)
    {
        public int Offset { get; set; }
    }

    private void Send(Packet packet)
    {
        _toGuest.Enqueue(packet);
        Wake?.Invoke(0);
    }

    private Packet Control(uint hostPort, uint guestPort, ushort op, uint flags = 0) =>
        new(HostCid, _guestCid, hostPort, guestPort, op, flags, [], null);

    /// <summary>Queued packets into the driver's receive buffers: 44-byte header, then as much payload as the chain holds.</summary>
    private bool Deliver(VirtQueue queue)
    {
        var interrupt = false;
        while ((_partial ?? (_toGuest.TryDequeue(out var next) ? next : null)) is { } packet)
        {
            if (queue.Pop() is not { } chain)
            {
                _partial = packet;
                return interrupt;
            }

            var room = chain.Writable.Sum(b => (long)b.Length) - HeaderSize;
            if (room < 0)
            {
                throw new VirtioQueueException($"vsock receive buffer of {room + HeaderSize} bytes cannot hold a header");
            }

            var length = (int)Math.Min(room, packet.Payload.Length - packet.Offset);
            var connection = packet.From;
            var header = new byte[HeaderSize];
            BinaryPrimitives.WriteUInt64LittleEndian(header, packet.SrcCid);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), packet.DstCid);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), packet.SrcPort);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), packet.DstPort);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)length);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(28), TypeStream);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(30), packet.Op);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(32), packet.Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(36), BufAlloc);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), connection?.FwdCnt ?? ConnectionFor(packet)?.FwdCnt ?? 0);
            var written = Scatter(chain, header, packet.Payload.AsSpan(packet.Offset, length));
            packet.Offset += length;
            _partial = packet.Offset < packet.Payload.Length ? packet : null;
            if (packet.Op == OpRw)
            {
                Interlocked.Add(ref _rxBytes, length);
            }

            interrupt |= queue.Push(chain, written);
        }

        return interrupt;
    }

    private Connection? ConnectionFor(Packet p) => _connections.GetValueOrDefault((p.SrcPort, p.DstPort));

    private uint Scatter(VirtioChain chain, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        var source = new byte[header.Length + payload.Length];
        header.CopyTo(source);
        payload.CopyTo(source.AsSpan(header.Length));
        var at = 0;
        foreach (var b in chain.Writable)
        {
            var n = (int)Math.Min(b.Length, (uint)(source.Length - at));
            _memory!.Write(b.Address, source.AsSpan(at, n));
            at += n;
            if (at == source.Length)
            {
                break;
            }
        }

        return (uint)at;
    }

    /// <summary>Guest packets: the header, then its payload, read as one stream from the chain's readable buffers.</summary>
    private bool Transmit(VirtQueue queue)
    {
        var interrupt = false;
        while (queue.Pop() is { } chain)
        {
            var bytes = queue.ReadAll(chain, HeaderSize + MaxChunk);
            if (bytes.Length >= HeaderSize)
            {
                Handle(bytes);
            }

            interrupt |= queue.Push(chain, 0);
        }

        return interrupt;
    }

    private void Handle(byte[] bytes)
    {
        var h = bytes.AsSpan();
        var srcCid = BinaryPrimitives.ReadUInt64LittleEndian(h);
        var dstCid = BinaryPrimitives.ReadUInt64LittleEndian(h[8..]);
        var guestPort = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        var hostPort = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        var length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(h[24..]), (uint)(bytes.Length - HeaderSize));
        var type = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
        var op = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(h[32..]);
        var bufAlloc = BinaryPrimitives.ReadUInt32LittleEndian(h[36..]);
        var fwdCnt = BinaryPrimitives.ReadUInt32LittleEndian(h[40..]);
        // A packet not from the guest's CID to the host, or not a stream, is dropped (§5.10.6.2 for the CID check).
        if (srcCid != _guestCid || dstCid != HostCid)
        {
            return;
        }

        if (type != TypeStream)
        {
            Send(Control(hostPort, guestPort, OpRst));
            return;
        }

        var key = (hostPort, guestPort);
        _connections.TryGetValue(key, out var connection);
        connection?.Credit(bufAlloc, fwdCnt);
        switch (op)
        {
            case OpRequest when connection is null:
                ConnectToHost(hostPort, guestPort, bufAlloc, fwdCnt);
                break;
            case OpResponse when connection is { Established: false }:
                connection.Accept();
                break;
            case OpRw when connection is { Established: true }:
                if (connection.Write(bytes.AsSpan(HeaderSize, length)))
                {
                    Interlocked.Add(ref _txBytes, length);
                    if (connection.CreditUpdateDue())
                    {
                        Send(Control(hostPort, guestPort, OpCreditUpdate));
                    }
                }
                else
                {
                    Drop(connection, sendRst: true);
                }

                break;
            case OpCreditUpdate when connection is not null:
                break;
            case OpCreditRequest when connection is not null:
                Send(Control(hostPort, guestPort, OpCreditUpdate));
                break;
            case OpShutdown when connection is not null:
                if ((flags & ShutdownSend) != 0)
                {
                    connection.ShutdownWrite();
                }

                if ((flags & (ShutdownSend | ShutdownReceive)) == (ShutdownSend | ShutdownReceive))
                {
                    Drop(connection, sendRst: true);
                }

                break;
            case OpRst when connection is not null:
                Drop(connection, sendRst: false);
                break;
            case OpRst:
                break;
            default:
                // Anything for a stream we do not have (or a REQUEST for one we do) is answered RST.
                Send(Control(hostPort, guestPort, OpRst));
                break;
        }
    }

    private void Drop(Connection connection, bool sendRst)
    {
        if (_connections.TryRemove((connection.HostPort, connection.GuestPort), out _))
        {
            connection.Close();
            if (sendRst)
            {
                Send(Control(connection.HostPort, connection.GuestPort, OpRst));
            }
        }
    }

    /// <summary>Guest-initiated: connect to &lt;socket&gt;_&lt;port&gt; on the device thread (a Unix connect does not wait for the peer to accept).</summary>
    private void ConnectToHost(uint hostPort, uint guestPort, uint bufAlloc, uint fwdCnt)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint($"{_socketPath}_{hostPort}"));
        }
        catch (SocketException)
        {
            socket.Dispose();
            Send(Control(hostPort, guestPort, OpRst));
            return;
        }

        var connection = new Connection(this, socket, hostPort, guestPort) { Established = true };
        connection.Credit(bufAlloc, fwdCnt);
        _connections[(hostPort, guestPort)] = connection;
        Interlocked.Increment(ref _connectionsOpened);
        Send(Control(hostPort, guestPort, OpResponse));
        connection.StartReading();
    }

    private void AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return;
            }

            new Thread(() => Handshake(client)) { IsBackground = true, Name = $"vsock-{Id}-connect" }.Start();
        }
    }

    /// <summary>Host-initiated: read "CONNECT &lt;port&gt;\n" (one byte at a time, so no stream data is consumed), then ask the guest.</summary>
    private void Handshake(Socket client)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        try
        {
            while (line.Length < 64)
            {
                if (client.Receive(one) != 1)
                {
                    client.Dispose();
                    return;
                }

                if (one[0] == '\n')
                {
                    break;
                }

                line.Append((char)one[0]);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            client.Dispose();
            return;
        }

        var text = line.ToString().Trim();
        if (!text.StartsWith("CONNECT ", StringComparison.Ordinal) || !uint.TryParse(text.AsSpan(8), out var guestPort) || _memory is null)
        {
            client.Dispose();
            return;
        }

        uint hostPort;
        lock (_portLock)
        {
            do
            {
                hostPort = _nextHostPort++;
            }
            while (_connections.Keys.Any(k => k.Host == hostPort));
        }

        var connection = new Connection(this, client, hostPort, guestPort);
        _connections[(hostPort, guestPort)] = connection;
        Interlocked.Increment(ref _connectionsOpened);
        Send(Control(hostPort, guestPort, OpRequest));
    }

    /// <summary>
    /// The guest's CID. Host connections live in host sockets and are not carried into another
    /// process (as upstream): the guest sees them reset when it next uses them.
    /// </summary>
    public string SaveState() =>
        StateJson.Write(new VirtioVsockState { GuestCid = _guestCid }, StateJsonContext.Default.VirtioVsockState);

    public void RestoreState(string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VirtioVsockState);
        if (s.GuestCid != _guestCid)
        {
            throw new StateFormatException("guest_cid", $"is {s.GuestCid}, but this device has CID {_guestCid}");
        }
    }

    public IReadOnlyDictionary<string, ulong> Counters() => new Dictionary<string, ulong>
    {
        ["rx_bytes"] = (ulong)Interlocked.Read(ref _rxBytes),
        ["tx_bytes"] = (ulong)Interlocked.Read(ref _txBytes),
        ["connections"] = (ulong)Interlocked.Read(ref _connectionsOpened),
    };

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var c in _connections.Values)
        {
            c.Close();
        }

        _connections.Clear();
        try
        {
            File.Delete(_socketPath);
        }
        catch (IOException)
        {
        }

        _stop.Dispose();
    }

    /// <summary>One stream: its host socket, its credit in both directions, and the thread that reads the socket for the guest.</summary>
    private sealed class Connection(VirtioVsock owner, Socket socket, uint hostPort, uint guestPort)
    {
        // A monitor, not a Lock: the reader waits on it for credit (Monitor.Wait needs an object lock).
        private readonly object _lock = new();
        private uint _peerBufAlloc;
        private uint _peerFwdCnt;
        private uint _sent;
        private uint _fwdCnt;
        private uint _reportedFwdCnt;
        private bool _closed;

        public uint HostPort { get; } = hostPort;

        public uint GuestPort { get; } = guestPort;

        public bool Established { get; set; }

        public uint FwdCnt
        {
            get
            {
                lock (_lock)
                {
                    _reportedFwdCnt = _fwdCnt;
                    return _fwdCnt;
                }
            }
        }

        public void Credit(uint bufAlloc, uint fwdCnt)
        {
            lock (_lock)
            {
                _peerBufAlloc = bufAlloc;
                _peerFwdCnt = fwdCnt;
                Monitor.PulseAll(_lock);
            }
        }

        /// <summary>The guest answered our REQUEST: tell the client, as upstream does, and start carrying its bytes.</summary>
        public void Accept()
        {
            Established = true;
            try
            {
                socket.Send(Encoding.ASCII.GetBytes($"OK {HostPort}\n"));
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                owner.Drop(this, sendRst: true);
                return;
            }

            StartReading();
        }

        public void StartReading() =>
            new Thread(ReadLoop) { IsBackground = true, Name = $"vsock-{owner.Id}-{HostPort}" }.Start();

        /// <summary>Guest bytes to the host socket; false when the host side is gone.</summary>
        public bool Write(ReadOnlySpan<byte> data)
        {
            try
            {
                while (data.Length > 0)
                {
                    var n = socket.Send(data);
                    data = data[n..];
                    lock (_lock)
                    {
                        _fwdCnt += (uint)n;
                    }
                }

                return true;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }

        /// <summary>A credit update is worth a packet once a quarter of our buffer was forwarded unreported.</summary>
        public bool CreditUpdateDue()
        {
            lock (_lock)
            {
                return _fwdCnt - _reportedFwdCnt >= BufAlloc / 4;
            }
        }

        public void ShutdownWrite()
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        private void ReadLoop()
        {
            var buffer = new byte[MaxChunk];
            while (true)
            {
                int credit;
                lock (_lock)
                {
                    // §5.10.6.3: never more than the peer's buf_alloc minus what it has not consumed yet.
                    while (!_closed && (credit = (int)Math.Min(MaxChunk, _peerBufAlloc - (_sent - _peerFwdCnt))) <= 0)
                    {
                        Monitor.Wait(_lock);
                    }

                    if (_closed)
                    {
                        return;
                    }

                    credit = (int)Math.Min(MaxChunk, _peerBufAlloc - (_sent - _peerFwdCnt));
                }

                int n;
                try
                {
                    n = socket.Receive(buffer.AsSpan(0, credit));
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    n = 0;
                }

                if (n <= 0)
                {
                    // The host closed its end: tell the guest we will neither send nor receive more.
                    lock (_lock)
                    {
                        if (_closed)
                        {
                            return;
                        }
                    }

                    owner.Send(owner.Control(HostPort, GuestPort, OpShutdown, ShutdownSend | ShutdownReceive));
                    return;
                }

                lock (_lock)
                {
                    _sent += (uint)n;
                }

                owner.Send(new Packet(HostCid, owner._guestCid, HostPort, GuestPort, OpRw, 0, buffer.AsSpan(0, n).ToArray(), this));
            }
        }

        public void Close()
        {
            lock (_lock)
            {
                _closed = true;
                Monitor.PulseAll(_lock);
            }

            socket.Dispose();
        }
    }
}

/// <summary>What a virtio-vsock's driver was told: its CID.</summary>
public sealed record VirtioVsockState
{
    public required ulong GuestCid { get; init; }
}
