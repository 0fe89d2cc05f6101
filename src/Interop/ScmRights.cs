using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

// SCM_RIGHTS over a Unix stream socket: the only way a descriptor crosses from ch-remote to the
// VMM (contract §1.6, §7.1). One file for both ends, compiled into the REST frontend (recvmsg)
// and linked into ch-remote (sendmsg), so the message layout exists once (DESIGN.md rule 5).
// SAFETY: every pointer here points into this frame (the control buffer, iovec, msghdr) or into
// a span pinned by fixed; CollectFds walks only the controllen bytes the kernel wrote.
internal static unsafe partial class ScmRights
{
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>The kernel's per-message limit of passed descriptors (SCM_MAX_FD).</summary>
    public const int MaxFds = 253;

    private const int SOL_SOCKET = 1;
    private const int SCM_RIGHTS = 1;

    /// <summary>
    /// One sendmsg of <paramref name="data"/> with <paramref name="fds"/> attached (at most
    /// <see cref="MaxFds"/>). Returns the byte count sent, or -1 with the errno in
    /// <see cref="Marshal.GetLastPInvokeError"/>.
    /// </summary>
    public static nint Send(SafeHandle socket, ReadOnlySpan<byte> data, ReadOnlySpan<int> fds, int flags)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fds.Length, MaxFds);
        var dataSize = sizeof(int) * fds.Length;
        var controlSize = sizeof(cmsghdr) + CmsgAlign(dataSize);
        var control = stackalloc byte[controlSize];
        new Span<byte>(control, controlSize).Clear();
        var header = (cmsghdr*)control;
        header->cmsg_len = (nuint)(sizeof(cmsghdr) + dataSize);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        fds.CopyTo(new Span<int>(control + sizeof(cmsghdr), fds.Length));
        fixed (byte* bytes = data)
        {
            var iov = new iovec { iov_base = bytes, iov_len = (nuint)data.Length };
            var message = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = (nuint)controlSize };
            // SAFETY: iov, message and control live on this frame and data is pinned; the
            // SafeHandle keeps the socket open (and its number unreused) for the call.
            return sendmsg(socket, &message, flags);
        }
    }

    /// <summary>
    /// One recvmsg into <paramref name="buffer"/>. Descriptors that came along are appended to
    /// <paramref name="fds"/> (the caller owns them); <paramref name="truncated"/> says the kernel
    /// closed some that did not fit. Returns the byte count, 0 at end of input, or -1 with the
    /// errno in <see cref="Marshal.GetLastPInvokeError"/>.
    /// </summary>
    public static nint Receive(SafeHandle socket, Span<byte> buffer, List<int> fds, int flags, out bool truncated)
    {
        ArgumentNullException.ThrowIfNull(fds);
        var controlSize = sizeof(cmsghdr) + CmsgAlign(sizeof(int) * MaxFds);
        var control = stackalloc byte[controlSize];
        fixed (byte* data = buffer)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)buffer.Length };
            var message = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = (nuint)controlSize };
            // SAFETY: as in Send; data is pinned by fixed.
            var received = recvmsg(socket, &message, flags);
            truncated = received >= 0 && (message.msg_flags & MSG_CTRUNC) != 0;
            if (received >= 0)
            {
                CollectFds(control, (int)message.msg_controllen, fds);
            }

            return received;
        }
    }

    private static void CollectFds(byte* control, int length, List<int> fds)
    {
        var offset = 0;
        while (offset + sizeof(cmsghdr) <= length)
        {
            var header = (cmsghdr*)(control + offset);
            var messageLength = (int)header->cmsg_len;
            if (messageLength < sizeof(cmsghdr))
            {
                break;
            }

            if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
            {
                fds.AddRange(new ReadOnlySpan<int>(control + offset + sizeof(cmsghdr), (messageLength - sizeof(cmsghdr)) / sizeof(int)));
            }

            offset += CmsgAlign(messageLength);
        }
    }

    /// <summary><c>CMSG_ALIGN</c>: control messages are padded to the size of a pointer.</summary>
    private static int CmsgAlign(int length) => (length + IntPtr.Size - 1) & ~(IntPtr.Size - 1);

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct iovec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    /// <summary><c>struct msghdr</c> (LP64 layout: the int fields are followed by padding).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct msghdr
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
    private struct cmsghdr
    {
        public nuint cmsg_len;
        public int cmsg_level;
        public int cmsg_type;
    }
#pragma warning restore CS8981

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint sendmsg(SafeHandle fd, msghdr* message, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recvmsg(SafeHandle fd, msghdr* message, int flags);
}
