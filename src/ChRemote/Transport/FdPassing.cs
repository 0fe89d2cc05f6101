using System.ComponentModel;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CloudHypervisor.Interop;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>
/// Sends bytes with descriptors of this process attached as SCM_RIGHTS, the way upstream
/// ch-remote passes taps and VFIO cdevs (contract §7.1): all of them with the first chunk.
/// </summary>
internal static class FdPassing
{
    /// <summary>
    /// A descriptor to pass must be one the shell gave ch-remote. The .NET runtime opens its own
    /// (epoll, eventfd, pipes, its libraries) close-on-exec, and an inherited one never is, so
    /// <c>fd=7</c> naming the runtime's descriptor is refused instead of handing it to the VMM.
    /// </summary>
    private static void CheckInherited(int fd)
    {
        var flags = fd < 0 ? -1 : Libc.fcntl(fd, Libc.F_GETFD, 0);
        if (flags < 0)
        {
            throw new TransportException(ExitCodes.Usage,
                ["http client error", $"File descriptor {fd} is not open: open it in the shell that runs ch-remote (e.g. {Example(fd)})"]);
        }

        if ((flags & Libc.FD_CLOEXEC) != 0)
        {
            throw new TransportException(ExitCodes.Usage,
                ["http client error", $"File descriptor {fd} was not inherited by ch-remote (it is one of ch-remote's own): open it in the shell (e.g. {Example(fd)})"]);
        }
    }

    private static string Example(int fd) => $"{fd}<>/dev/net/tun";

    /// <summary>
    /// Writes the first chunk of <paramref name="data"/> with <paramref name="fds"/> attached and
    /// returns how many bytes went; the caller sends the rest as usual. Blocking: the socket is
    /// fresh and the request is small, so the kernel takes it at once.
    /// </summary>
    public static int SendWithFds(Socket socket, ReadOnlySpan<byte> data, IReadOnlyList<int> fds)
    {
        if (fds.Count > ScmRights.MaxFds)
        {
            throw new TransportException(ExitCodes.Usage,
                ["http client error", $"{fds.Count} file descriptors cannot be passed in one request: the kernel's limit is {ScmRights.MaxFds}"]);
        }

        foreach (var fd in fds)
        {
            CheckInherited(fd);
        }

        int[] numbers = [.. fds];
        while (true)
        {
            var sent = ScmRights.Send(socket.SafeHandle, data, numbers, ScmRights.MSG_NOSIGNAL);
            if (sent >= 0)
            {
                return (int)sent;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EINTR)
            {
                throw new TransportException(ExitCodes.Unreachable,
                    ["http client error", "Failed to send the request with its file descriptors", new Win32Exception(errno).Message]);
            }
        }
    }
}
