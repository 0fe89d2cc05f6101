using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// The Kestrel transport of the API socket. Kestrel's own socket transport reads with recv, and
/// the kernel closes any descriptors a client passed as SCM_RIGHTS when a read does not ask for
/// them; this one reads with recvmsg (<see cref="UnixSocketConnection"/>) so they reach the
/// request (contract §1.6). It serves the listening Unix socket Kestrel hands it by handle
/// (<c>ListenHandle</c>: the socket we bound, or the one systemd passed).
/// </summary>
internal sealed class UnixSocketTransport(RejectionNotes rejections, Serilog.ILogger log) : IConnectionListenerFactory
{
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not FileHandleEndPoint handle)
        {
            throw new NotSupportedException($"The API socket transport serves a listening socket by handle, not {endpoint}");
        }

        Socket socket;
        try
        {
            socket = new Socket(new SafeSocketHandle((nint)handle.FileHandle, ownsHandle: true));
        }
        catch (SocketException e)
        {
            throw new IOException($"API socket fd {handle.FileHandle} is not a listening Unix stream socket", e);
        }

        // An inherited descriptor (--api-socket fd=N, systemd) must already listen: refuse a wrong
        // one at startup instead of serving nothing.
        if (socket.AddressFamily != AddressFamily.Unix || socket.SocketType != SocketType.Stream
            || (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.AcceptConnection)! == 0)
        {
            socket.Dispose();
            throw new IOException($"API socket fd {handle.FileHandle} is not a listening Unix stream socket");
        }

        return new ValueTask<IConnectionListener>(new Listener(socket, endpoint, rejections, log));
    }

    private sealed class Listener(Socket socket, EndPoint endpoint, RejectionNotes rejections, Serilog.ILogger log) : IConnectionListener
    {
        private long _connections;

        public EndPoint EndPoint => endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await socket.AcceptAsync(cancellationToken);
                }
                catch (ObjectDisposedException)
                {
                    return null; // Unbound.
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted)
                {
                    return null;
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
                {
                    // A client that gave up before accept must not stop the server.
                    log.Debug("API socket accept failed: {Error}", e.Message);
                    continue;
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    // Out of descriptors or memory: wait instead of spinning; the next accept may work.
                    log.Warning("API socket accept failed: {Error}; retrying", e.Message);
                    await Task.Delay(100, cancellationToken);
                    continue;
                }

                var id = Interlocked.Increment(ref _connections);
                var connection = new UnixSocketConnection(accepted, endpoint, $"api-{id}", rejections, log);
                connection.Start();
                return connection;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
