using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using CloudHypervisor.Frontends.Rest.Interop;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Path mode of <c>--api-socket</c> (contract §6.1): an exclusive flock on <c>&lt;path&gt;.lock</c>
/// (created next to the socket and left there) proves no live instance serves the path, so a
/// socket file still there is stale and is removed; then bind, chmod 0600, listen. Closing the
/// lock handle (process exit included, even a crash) releases the lock.
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
            // We hold the lock, so nobody serves this path: whatever socket file is left is stale.
            if (!Directory.Exists(path))
            {
                File.Delete(path);
            }

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

    [SupportedOSPlatform("linux")]
    private static SafeFileHandle AcquireLock(string path)
    {
        var lockPath = path + ".lock";
        var fd = Libc.open(lockPath, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
        {
            throw new IOException($"Cannot open \"{lockPath}\"", new Win32Exception(Marshal.GetLastPInvokeError()));
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

            throw new IOException($"Cannot lock \"{lockPath}\"", new Win32Exception(errno));
        }

        return handle;
    }

    [SupportedOSPlatform("linux")]
    private static unsafe int BindAndListen(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= Libc.UnixPathMax)
        {
            throw new IOException($"API socket path \"{path}\" is longer than {Libc.UnixPathMax - 1} bytes");
        }

        var fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Error("socket", path);
        }

        try
        {
            var address = new Libc.sockaddr_un { sun_family = Libc.AF_UNIX };
            bytes.CopyTo(new Span<byte>(address.sun_path, Libc.UnixPathMax));
            var length = (uint)(sizeof(ushort) + bytes.Length + 1);
            // SAFETY: address lives on this stack frame for the whole call and length stays within it.
            if (Libc.bind(fd, &address, length) != 0)
            {
                throw Error("bind", path);
            }

            // Owner only, set before listen() so no connection can arrive under the umask's mode.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (Libc.listen(fd, Backlog) != 0)
            {
                throw Error("listen", path);
            }

            return fd;
        }
        catch
        {
            _ = Libc.close(fd);
            throw;
        }
    }

    private static IOException Error(string call, string path) =>
        new($"Cannot {call} API socket \"{path}\"", new Win32Exception(Marshal.GetLastPInvokeError()));
}
