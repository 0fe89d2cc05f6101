using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CloudHypervisor.EventMonitor.Sinks;

/// <summary>
/// The three libc calls the event file needs that .NET does not expose: setting O_NONBLOCK on an
/// inherited or opened descriptor, and a plain write(2) that reports EAGAIN instead of blocking.
/// </summary>
internal static partial class Libc
{
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;
    internal const int O_NONBLOCK = 0x800;
    internal const int EINTR = 4;
    internal const int EAGAIN = 11;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int fcntl(SafeFileHandle fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint write(SafeFileHandle fd, byte* buf, nuint count);

    internal static void SetNonBlocking(SafeFileHandle fd)
    {
        var flags = fcntl(fd, F_GETFL, 0);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        {
            throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }
    }
}
