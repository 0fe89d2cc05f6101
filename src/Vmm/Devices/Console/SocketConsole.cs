using System.Net.Sockets;

namespace CloudHypervisor.Vmm.Devices.Console;

/// <summary>
/// Mode Socket (serial only, as upstream): a Unix listening socket at the given path. One client
/// at a time gets the output and can type input; a new client replaces the previous one.
/// Threads: one blocked in accept(2), so a client that connects early is taken at once even when
/// the thread pool is busy; one that sends output; one per client that reads its input.
/// Output is buffered as upstream's buffered serial does: the vCPU appends to a bounded ring
/// (never waiting), the sender thread writes it to the client in large sends and may block on a
/// client that does not read. What no client has received yet, up to the ring's size, is
/// replayed to the next client that connects; beyond that the oldest bytes are dropped and counted.
/// Input applies backpressure: the reader hands each chunk to the UART, which waits while its
/// FIFO is full, so the reader stops reading the socket until the guest drains it.
/// </summary>
public sealed class SocketConsole : IConsoleBackend
{
    /// <summary>Output kept for a client that is absent or not reading.</summary>
    public const int OutputBufferSize = 256 << 10;

    private const int SendChunk = 64 << 10;
    private const int ReceiveChunk = 4096;

    private readonly Socket _listener;
    private volatile bool _stopped;
    // Guards _client, the ring and its counters; the sender waits on it for output or a client.
    private readonly object _lock = new();
    private readonly byte[] _ring = new byte[OutputBufferSize];
    private long _appended;
    private long _start;
    private long _dropped;
    private Socket? _client;
    private Action<byte[]>? _input;

    public SocketConsole(string path)
    {
        Path = path;
        if (File.Exists(path))
        {
            File.Delete(path); // a socket left by a previous run would block the bind
        }

        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
        new Thread(AcceptLoop) { IsBackground = true, Name = "serial-socket-accept" }.Start();
        new Thread(SendLoop) { IsBackground = true, Name = "serial-socket-send" }.Start();
    }

    public string Mode => "Socket";

    public string Path { get; }

    /// <summary>Output bytes dropped because the ring was full (no client, or one that does not read).</summary>
    public long DroppedBytes
    {
        get
        {
            lock (_lock)
            {
                return _dropped;
            }
        }
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (data.Length > _ring.Length)
            {
                // Only the last ring's worth can be kept; the rest counts as overwritten below.
                _appended += data.Length - _ring.Length;
                data = data[^_ring.Length..];
            }

            foreach (var b in data)
            {
                _ring[(int)(_appended % _ring.Length)] = b;
                _appended++;
            }

            if (_appended - _start > _ring.Length)
            {
                // The oldest bytes were overwritten before any client took them.
                _dropped += _appended - _ring.Length - _start;
                _start = _appended - _ring.Length;
            }

            Monitor.PulseAll(_lock);
        }
    }

    public void StartInput(Action<byte[]> input) => _input = input;

    private void AcceptLoop()
    {
        while (!_stopped)
        {
            Socket client;
            try
            {
                // Blocking: Dispose closes the listener, which ends this call.
                client = _listener.Accept();
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_lock)
            {
                _client?.Dispose();
                _client = client;
                Monitor.PulseAll(_lock);
            }

            new Thread(() => ReadLoop(client)) { IsBackground = true, Name = "serial-socket-input" }.Start();
        }
    }

    /// <summary>Sends what the ring holds to the current client, oldest first, and waits for more.</summary>
    private void SendLoop()
    {
        var chunk = new byte[SendChunk];
        while (true)
        {
            Socket client;
            long from;
            int length;
            lock (_lock)
            {
                while (!_stopped && (_client is null || _appended == _start))
                {
                    Monitor.Wait(_lock);
                }

                if (_stopped)
                {
                    return;
                }

                client = _client!;
                from = _start;
                length = (int)Math.Min(SendChunk, _appended - _start);
                for (var i = 0; i < length; i++)
                {
                    chunk[i] = _ring[(int)((from + i) % _ring.Length)];
                }
            }

            int sent;
            try
            {
                // Blocking, on this thread only: a client that does not read holds the sender, the
                // vCPU keeps appending to the ring.
                sent = client.Send(chunk, 0, length, SocketFlags.None);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                lock (_lock)
                {
                    if (_client == client)
                    {
                        _client = null;
                    }
                }

                client.Dispose();
                continue;
            }

            lock (_lock)
            {
                // The ring may have dropped these bytes meanwhile; never move the start back.
                _start = Math.Max(_start, from + sent);
            }
        }
    }

    private void ReadLoop(Socket client)
    {
        var buffer = new byte[ReceiveChunk];
        while (!_stopped)
        {
            int n;
            try
            {
                n = client.Receive(buffer);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                n = 0;
            }

            if (n <= 0)
            {
                lock (_lock)
                {
                    if (_client == client)
                    {
                        _client = null;
                    }
                }

                client.Dispose();
                return;
            }

            // Waits while the UART's FIFO is full: meanwhile nothing more is read from the socket.
            _input?.Invoke(buffer.AsSpan(0, n).ToArray());
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _listener.Dispose();
        lock (_lock)
        {
            _client?.Dispose();
            _client = null;
            Monitor.PulseAll(_lock);
        }

        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
