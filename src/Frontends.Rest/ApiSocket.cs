using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using CloudHypervisor.Interop;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Path mode of <c>--api-socket</c> (contract §6.1): an exclusive flock on <c>&lt;path&gt;.lock</c>
/// (created next to the socket and left there) proves no live instance of ours serves the path;
/// a socket file still there is removed only when nothing listens on it (one a crash left); then
/// bind, chmod 0600, listen. Anything else at the path (a regular file, a directory, another
/// program's live socket) is refused as bind(2) refuses it, with EADDRINUSE in upstream's error
/// chain, and left alone. Closing the lock handle (process exit included, even a crash) releases the lock.
/// </summary>
internal sealed class ApiSocket : IDisposable
{
    private const int Backlog = 512;
    private readonly SafeFileHandle _lock;

    private ApiSocket(string path, SafeFileHandle lockHandle, int listenFd)
    {
        Path = path;
        _lock = lockHandle;
        ListenFd = listenFd;
    }

    public string Path { get; }

    /// <summary>The listening socket; Kestrel takes ownership of it and closes it.</summary>
    public int ListenFd { get; }

    public static ApiSocket Bind(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The API socket needs Linux");
        }

        var lockHandle = AcquireLock(path);
        try
        {
            RemoveIfStale(path);
            var fd = BindAndListen(path);
            return new ApiSocket(path, lockHandle, fd);
        }
        catch
        {
            lockHandle.Dispose();
            throw;
        }
    }

    /// <summary>Removes the socket file and releases the lock; the lock file stays, as upstream.</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
            // The socket file is gone or not ours to remove; the lock release below still matters.
        }
        catch (UnauthorizedAccessException)
        {
        }

        _lock.Dispose();
    }

    /// <summary>The message upstream gives when its API socket cannot be made (VmmError::CreateApiServerSocket).</summary>
    public const string CreateSocketError = "Error creation API server's socket";

    /// <summary>
    /// Removes a socket file at <paramref name="path"/> that nothing listens on; refuses anything
    /// else that is there. Only a socket can be stale: a file of any other type was put there by
    /// someone, and a socket that accepts connections belongs to a live program.
    /// </summary>
    [SupportedOSPlatform("linux")]
    private static void RemoveIfStale(string path)
    {
        var type = Libc.FileTypeAt(path);
        if (type is null)
        {
            return; // Nothing there (ENOENT), or bind will say what is wrong.
        }

        if (type != Libc.S_IFSOCK)
        {
            throw Error(Libc.EADDRINUSE);
        }

        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        probe.Blocking = false;
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused)
        {
            File.Delete(path); // Nobody listens: left by a crash.
            return;
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode != System.Net.Sockets.SocketError.WouldBlock)
        {
            throw new IOException(CreateSocketError, e);
        }

        // It accepted the connection (or its backlog is full): a live program serves this path.
        throw Error(Libc.EADDRINUSE);
    }

    [SupportedOSPlatform("linux")]
    private static SafeFileHandle AcquireLock(string path)
    {
        var lockPath = path + ".lock";
        var fd = Libc.open(lockPath, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
        {
            throw Error(Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Libc.flock(handle, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            if (errno == Libc.EWOULDBLOCK)
            {
                throw new ApiSocketInUseException(path);
            }

            throw Error(errno);
        }

        return handle;
    }

    [SupportedOSPlatform("linux")]
    private static int BindAndListen(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= Libc.UnixPathMax)
        {
            throw new IOException(CreateSocketError, new IOException($"API socket path \"{path}\" is longer than {Libc.UnixPathMax - 1} bytes"));
        }

        var fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Error(Marshal.GetLastPInvokeError());
        }

        try
        {
            if (Libc.BindUnix(fd, bytes) != 0)
            {
                throw Error(Marshal.GetLastPInvokeError());
            }

            // Owner only, set before listen() so no connection can arrive under the umask's mode.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (Libc.listen(fd, Backlog) != 0)
            {
                throw Error(Marshal.GetLastPInvokeError());
            }

            return fd;
        }
        catch
        {
            _ = Libc.close(fd);
            throw;
        }
    }

    /// <summary>Upstream's chain for a socket that cannot be made: its message, then the OS error as Rust prints it.</summary>
    private static IOException Error(int errno) =>
        new(CreateSocketError, new IOException($"{new Win32Exception(errno).Message} (os error {errno})"));
}
