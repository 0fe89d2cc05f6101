using System.Runtime.InteropServices;

namespace CloudHypervisor.ChRemote.Interop;

// ch-remote's only native calls (DESIGN.md rule 5): sendmsg, the one write that can pass this
// process's descriptors to the VMM as SCM_RIGHTS (contract §7.1: with the request's first chunk),
// and fcntl to check first that each one was inherited from the shell.
internal static partial class Libc
{
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int F_GETFD = 1;
    public const int FD_CLOEXEC = 1;

    /// <summary>The kernel's per-message limit of passed descriptors (SCM_MAX_FD).</summary>
    public const int ScmMaxFd = 253;

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

    // fcntl(2) is variadic in C; F_GETFD takes no third argument.
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint sendmsg(SafeHandle fd, msghdr* message, int flags);
}
