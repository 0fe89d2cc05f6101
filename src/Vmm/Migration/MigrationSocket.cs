using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CloudHypervisor.Interop;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Vmm.Migration;

/// <summary>
/// One migration connection (a Unix or TCP stream socket) with the protocol's reads and writes.
/// Blocking calls on one thread (the operation's); cancellation shuts the socket down, which wakes
/// a blocked read, write or accept, so vmm.shutdown never waits on a silent peer.
/// </summary>
public sealed class MigrationSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenRegistration _cancel;
    private readonly byte[] _header = new byte[MigrationProtocol.HeaderSize];
    private readonly List<int> _fds = [];

    private MigrationSocket(Socket socket, CancellationToken cancellationToken)
    {
        _socket = socket;
        _cancel = cancellationToken.Register(static s => ShutDown((Socket)s!), socket);
    }

    public bool IsUnix => _socket.AddressFamily == AddressFamily.Unix;

    /// <summary>The sender's end: connects to <paramref name="url"/> (<c>unix:PATH</c> or <c>tcp:HOST:PORT</c>).</summary>
    public static MigrationSocket Connect(MigrationUrl url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        var socket = url.NewSocket();
        var connection = new MigrationSocket(socket, cancellationToken);
        try
        {
            socket.Connect(url.EndPoint);
            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = true;
            }

            return connection;
        }
        catch (SocketException e)
        {
            connection.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new HypervisorException($"Error connecting to the migration destination {url}", [e.Message]);
        }
    }

    /// <summary>
    /// The receiver's end: listens on <paramref name="url"/>, calls <paramref name="listening"/>,
    /// takes one connection and stops listening (a unix socket file is removed again).
    /// </summary>
    public static MigrationSocket Accept(MigrationUrl url, Action listening, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(listening);
        using var listener = url.NewSocket();
        using var cancel = cancellationToken.Register(static s => ShutDown((Socket)s!), listener);
        try
        {
            if (url.Path is { } path && File.Exists(path))
            {
                File.Delete(path);
            }

            if (listener.AddressFamily != AddressFamily.Unix)
            {
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }

            listener.Bind(url.EndPoint);
            listener.Listen(1);
            listening();
            var socket = listener.Accept();
            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = true;
            }

            return new MigrationSocket(socket, cancellationToken);
        }
        catch (SocketException e)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new HypervisorException($"Error binding to the migration address {url}", [e.Message]);
        }
        finally
        {
            if (url.Path is { } path)
            {
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    // Best effort: the socket file is only a rendezvous.
                }
            }
        }
    }

    private static void ShutDown(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected (a listener on some kernels): closing is all that is left.
            socket.Close();
        }
    }

    public void SendRequest(MigrationCommand command, ReadOnlySpan<byte> payload)
    {
        MigrationProtocol.WriteRequest(_header, command, (ulong)payload.Length);
        Write(_header);
        Write(payload);
    }

    /// <summary>A Request whose payload the caller writes next (Memory: table, then the bytes).</summary>
    public void SendRequestHeader(MigrationCommand command, ulong length)
    {
        MigrationProtocol.WriteRequest(_header, command, length);
        Write(_header);
    }

    /// <summary>Start with the protocol version in its headers.</summary>
    public void SendStart()
    {
        MigrationProtocol.WriteRequest(_header, MigrationCommand.Start, 0, MigrationProtocol.CurrentVersion);
        Write(_header);
    }

    /// <summary>MemoryFd: length 4, then the slot as a u32 in one sendmsg with the memfd attached.</summary>
    public void SendMemoryFd(uint slot, SafeHandle memfd)
    {
        ArgumentNullException.ThrowIfNull(memfd);
        SendRequestHeader(MigrationCommand.MemoryFd, 4);
        Span<byte> payload = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(payload, slot);
        var added = false;
        try
        {
            memfd.DangerousAddRef(ref added);
            Span<int> fds = [(int)memfd.DangerousGetHandle()];
            var sent = ScmRights.Send(_socket.SafeHandle, payload, fds, ScmRights.MSG_NOSIGNAL);
            if (sent != 4)
            {
                throw new HypervisorException("Error sending a memory fd", [$"sendmsg: errno {Marshal.GetLastPInvokeError()}"]);
            }
        }
        finally
        {
            if (added)
            {
                memfd.DangerousRelease();
            }
        }
    }

    /// <summary>Waits for the peer's Response; an Error or a closed connection throws naming <paramref name="what"/>.</summary>
    public void ExpectOk(string what)
    {
        ReadExactly(_header, what);
        var (status, length) = MigrationProtocol.ReadResponse(_header);
        if (length > 0)
        {
            Skip(length, what);
        }

        if (status != MigrationStatus.Ok)
        {
            throw new HypervisorException($"The destination refused {what}", [$"Response status {status}"]);
        }
    }

    public void SendResponse(MigrationStatus status)
    {
        MigrationProtocol.WriteResponse(_header, status);
        Write(_header);
    }

    /// <summary>The next Request; null when the peer closed the connection between requests.</summary>
    public MigrationRequest? ReadRequest()
    {
        if (!ReadExactly(_header, "a request", endOk: true))
        {
            return null;
        }

        return MigrationProtocol.ReadRequest(_header);
    }

    /// <summary>Descriptors that came with the bytes read so far (MemoryFd), taken by the caller.</summary>
    public List<int> TakeFds()
    {
        var fds = new List<int>(_fds);
        _fds.Clear();
        return fds;
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = _socket.Send(bytes);
                bytes = bytes[sent..];
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw new HypervisorException("Error writing to the migration socket", [e.Message]);
        }
    }

    /// <summary>Reads exactly <paramref name="into"/>'s length; false only for <paramref name="endOk"/> and a close before the first byte.</summary>
    public bool ReadExactly(Span<byte> into, string what, bool endOk = false)
    {
        var done = 0;
        while (done < into.Length)
        {
            int n;
            if (into.Length - done <= 64)
            {
                // Small reads (headers, a MemoryFd's slot) through recvmsg, so a passed descriptor is kept.
                n = (int)ScmRights.Receive(_socket.SafeHandle, into[done..], _fds, ScmRights.MSG_CMSG_CLOEXEC, out _);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 4)
                    {
                        continue;
                    }

                    throw new HypervisorException($"Error reading {what} from the migration socket", [$"recvmsg: errno {errno}"]);
                }
            }
            else
            {
                try
                {
                    n = _socket.Receive(into[done..]);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    throw new HypervisorException($"Error reading {what} from the migration socket", [e.Message]);
                }
            }

            if (n == 0)
            {
                if (done == 0 && endOk)
                {
                    return false;
                }

                throw new HypervisorException($"The migration stream ended in the middle of {what}", [$"{done} of {into.Length} bytes arrived"]);
            }

            done += n;
        }

        return true;
    }

    private void Skip(ulong length, string what)
    {
        var buffer = new byte[(int)Math.Min(length, 1 << 16)];
        while (length > 0)
        {
            var chunk = (int)Math.Min(length, (ulong)buffer.Length);
            ReadExactly(buffer.AsSpan(0, chunk), what);
            length -= (ulong)chunk;
        }
    }

    public void Dispose()
    {
        _cancel.Dispose();
        foreach (var fd in _fds)
        {
            new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true).Dispose();
        }

        _fds.Clear();
        _socket.Dispose();
    }
}

/// <summary>
/// A migration URL as upstream takes it: <c>unix:PATH</c>, <c>tcp:HOST:PORT</c> or <c>tcp:[V6]:PORT</c>.
/// </summary>
public sealed class MigrationUrl
{
    private MigrationUrl(string text, EndPoint endPoint, string? path)
    {
        Text = text;
        EndPoint = endPoint;
        Path = path;
    }

    public string Text { get; }

    public EndPoint EndPoint { get; }

    /// <summary>The socket file of a unix: URL.</summary>
    public string? Path { get; }

    public bool IsUnix => Path is not null;

    public override string ToString() => Text;

    /// <summary>Parses <paramref name="url"/>; an InvalidArgument names what is wrong.</summary>
    public static MigrationUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.StartsWith("unix:", StringComparison.Ordinal) && url.Length > "unix:".Length)
        {
            var path = url["unix:".Length..];
            return new MigrationUrl(url, new UnixDomainSocketEndPoint(path), path);
        }

        if (url.StartsWith("tcp:", StringComparison.Ordinal))
        {
            var rest = url["tcp:".Length..];
            var colon = rest.LastIndexOf(':');
            if (colon > 0 && ushort.TryParse(rest[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
            {
                var host = rest[..colon];
                if (host.StartsWith('[') && host.EndsWith(']'))
                {
                    host = host[1..^1];
                }

                if (IPAddress.TryParse(host, out var address))
                {
                    return new MigrationUrl(url, new IPEndPoint(address, port), null);
                }

                try
                {
                    var resolved = Dns.GetHostAddresses(host);
                    if (resolved.Length > 0)
                    {
                        return new MigrationUrl(url, new IPEndPoint(resolved[0], port), null);
                    }
                }
                catch (SocketException)
                {
                    // Reported below with the URL.
                }
            }

            throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Invalid migration URL {url}", ["expected tcp:HOST:PORT"]);
        }

        throw new HypervisorException(ApiErrorKind.InvalidArgument, $"Invalid migration URL {url}", ["expected unix:PATH or tcp:HOST:PORT"]);
    }

    internal Socket NewSocket() => IsUnix
        ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        : new Socket(EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
}
