using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.Rest.Interop;

// The only native calls of the REST frontend (DESIGN.md rule 5): the lock file's flock, a
// Unix socket bound and chmod-ed before it listens, so no client can connect while the socket
// still has the process umask's mode, and recvmsg, the one read that receives the descriptors a
// client passes as SCM_RIGHTS (a plain recv makes the kernel close them).
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
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>The kernel's per-message limit of passed descriptors (SCM_MAX_FD).</summary>
    public const int ScmMaxFd = 253;

    /// <summary><c>sizeof(sun_path)</c> on Linux.</summary>
    public const int UnixPathMax = 108;

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iovec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    /// <summary><c>struct msghdr</c> (LP64 layout: the int fields are followed by padding).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct msghdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public iovec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    /// <summary><c>struct cmsghdr</c>; the data follows, aligned to the size of a pointer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct cmsghdr
    {
        public nuint cmsg_len;
        public int cmsg_level;
        public int cmsg_type;
    }

#pragma warning restore CS8981

    /// <summary><c>CMSG_ALIGN</c>: control messages are padded to the size of a pointer.</summary>
    public static int CmsgAlign(int length) => (length + IntPtr.Size - 1) & ~(IntPtr.Size - 1);

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
    public static unsafe partial nint recvmsg(SafeHandle fd, msghdr* message, int flags);
}
