using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

/// <summary>
/// The POSIX calls more than one project needs, declared once (DESIGN.md rule 5): each project that
/// calls native code links this file into its own Interop folder and adds its own calls to the same
/// partial class there. Callers outside the Interop folders use the span and SafeHandle wrappers at
/// the bottom, so <c>unsafe</c> stays in these files.
/// </summary>
// SAFETY: pointers are only passed through to libc; each wrapper below pins or stack-allocates
// what it passes and says so.
internal static unsafe partial class Libc
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EWOULDBLOCK = 11;

    public const int F_GETFD = 1;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FD_CLOEXEC = 1;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
    [StructLayout(LayoutKind.Sequential)]
    public struct pollfd
    {
        public int fd;
        public short events;
        public short revents;
    }

    /// <summary>glibc's x86-64 <c>struct stat</c> (144 bytes); only st_mode and st_size are read.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    public struct stat_t
    {
        [FieldOffset(24)]
        public uint st_mode;

        [FieldOffset(48)]
        public long st_size;
    }
#pragma warning restore CS8981

    /// <summary>The file type bits of <c>st_mode</c> (and statx's <c>stx_mode</c>) and their values (sys/stat.h).</summary>
    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFIFO = 0x1000;
    public const uint S_IFSOCK = 0xC000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    // fcntl(2) is variadic in C; every command used here takes an int (or nothing, and then the
    // argument is ignored), which passes like a fixed int on x86-64 and arm64 Linux.
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(SafeHandle fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstat(int fd, stat_t* buf);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    public static partial int fstat(SafeHandle fd, stat_t* buf);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(pollfd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint write(SafeHandle fd, byte* buf, nuint count);

    /// <summary>write(2) of <paramref name="bytes"/>: the count written, or -1 with errno in <paramref name="errno"/>.</summary>
    public static nint Write(SafeHandle fd, ReadOnlySpan<byte> bytes, out int errno)
    {
        fixed (byte* p = bytes)
        {
            // SAFETY: p is the pinned span and the count is its length; the SafeHandle marshaller
            // keeps the descriptor open for the call.
            var n = write(fd, p, (nuint)bytes.Length);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            return n;
        }
    }

    /// <summary>
    /// One poll(2) of a single descriptor with a zero timeout: its revents, or -1 when poll failed.
    /// </summary>
    public static int PollNow(SafeHandle fd, short events)
    {
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            var entry = new pollfd { fd = (int)fd.DangerousGetHandle(), events = events };
            // SAFETY: entry lives on this frame; the AddRef keeps the descriptor open (and its
            // number unreused) for the call.
            var ready = poll(&entry, 1, 0);
            return ready < 0 ? -1 : ready == 0 ? 0 : entry.revents;
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>Sets O_NONBLOCK on <paramref name="fd"/>, or throws the OS error.</summary>
    public static void SetNonBlocking(SafeHandle fd)
    {
        var flags = fcntl(fd, F_GETFL, 0);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        {
            throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }
    }
}
