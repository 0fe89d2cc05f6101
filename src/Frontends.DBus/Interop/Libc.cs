using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>The few libc calls the bus threads need: eventfd, poll and the monotonic clock.</summary>
internal static partial class Libc
{
    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;
    public const int EINTR = 4;
    public const int CLOCK_MONOTONIC = 1;

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
    [StructLayout(LayoutKind.Sequential)]
    public struct pollfd
    {
        public int fd;
        public short events;
        public short revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct timespec
    {
        public long tv_sec;
        public long tv_nsec;
    }
#pragma warning restore CS8981

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(SafeHandle fd, void* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(SafeHandle fd, void* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(pollfd* fds, nuint nfds, int timeout);

    [LibraryImport("libc")]
    public static partial int clock_gettime(int clock, out timespec tp);

    /// <summary>CLOCK_MONOTONIC in microseconds, the clock of sd_bus_get_timeout.</summary>
    public static ulong MonotonicUsec()
    {
        _ = clock_gettime(CLOCK_MONOTONIC, out var ts);
        return (ulong)ts.tv_sec * 1_000_000UL + (ulong)ts.tv_nsec / 1000UL;
    }

    /// <summary>strerror for a (positive) errno.</summary>
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
