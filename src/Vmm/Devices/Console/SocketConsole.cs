using System.Net.Sockets;

namespace CloudHypervisor.Vmm.Devices.Console;

/// <summary>
/// Mode Socket (serial only, as upstream): a Unix listening socket at the given path. One client
/// at a time gets the output and can type input; a new client replaces the previous one. Output
/// with no client connected is dropped. Connections are accepted by a thread of their own,
/// blocked in accept(2), so a client that connects before the guest writes gets that output
/// even when the thread pool is busy (an async accept's continuation could run too late).
/// </summary>
public sealed class SocketConsole : IConsoleBackend
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
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
    }

    public string Mode => "Socket";

    public string Path { get; }

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_client is null)
            {
                return;
            }

            try
            {
                // Non-blocking: a client that stops reading loses bytes instead of stalling the vCPU.
                _client.Blocking = false;
                _client.Send(data, SocketFlags.None, out _);
            }
            catch (ObjectDisposedException)
            {
                _client = null;
            }
        }
    }

    public void StartInput(Action<byte[]> input) => _input = input;

    private void AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
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
            }

            _ = Task.Run(() => ReadLoop(client));
        }
    }

    private async Task ReadLoop(Socket client)
    {
        var buffer = new byte[256];
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
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

            _input?.Invoke(buffer.AsSpan(0, n).ToArray());
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        lock (_lock)
        {
            _client?.Dispose();
            _client = null;
        }

        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }

        _stop.Dispose();
    }
}
