using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.Rest.Interop;

// The only native calls of the REST frontend (DESIGN.md rule 5), with ScmRights.cs: the lock
// file's flock, a Unix socket bound and chmod-ed before it listens, so no client can connect
// while the socket still has the process umask's mode, and poll, which tells a client that has
// gone (POLLHUP) from one that only finished sending (shutdown(SHUT_WR)), and statx, which tells
// a socket file from anything else at the socket path.
internal static partial class Libc
{
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_CLOEXEC = 0x80000;
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EWOULDBLOCK = 11;
    public const int EAGAIN = 11;
    public const int EINTR = 4;

    public const int EADDRINUSE = 98;

    public const short POLLHUP = 0x10;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1;
    public const ushort S_IFMT = 0xF000;
    public const ushort S_IFSOCK = 0xC000;

    /// <summary><c>sizeof(sun_path)</c> on Linux.</summary>
    public const int UnixPathMax = 108;

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
    [StructLayout(LayoutKind.Sequential)]
    public struct pollfd
    {
        public int fd;
        public short events;
        public short revents;
    }

    /// <summary>linux/stat.h <c>struct statx</c>: the leading fields up to <c>stx_mode</c>; the kernel writes 256 bytes.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct statx
    {
        public uint stx_mask;
        public uint stx_blksize;
        public ulong stx_attributes;
        public uint stx_nlink;
        public uint stx_uid;
        public uint stx_gid;
        public ushort stx_mode;
    }
#pragma warning restore CS8981

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct sockaddr_un
    {
        public ushort sun_family;
        public fixed byte sun_path[UnixPathMax];
    }

    // open(2) is variadic in C; on x86-64 and arm64 Linux a trailing mode_t passes like a fixed int.
    // .NET's own File.Open would take a flock of its own first and report contention as a generic
    // sharing violation, so the lock file is opened here.
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(SafeHandle fd, int operation);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int bind(int fd, sockaddr_un* address, uint addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(pollfd* fds, nuint nfds, int timeout);

    // statx has one layout on every architecture, unlike struct stat.
    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, statx* buffer);
}
