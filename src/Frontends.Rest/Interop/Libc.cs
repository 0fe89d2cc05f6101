using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.Rest.Interop;

// The only native calls of the REST frontend (DESIGN.md rule 5): the lock file's flock and a
// Unix socket bound and chmod-ed before it listens, so no client can connect while the socket
// still has the process umask's mode.
internal static partial class Libc
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EWOULDBLOCK = 11;

    /// <summary><c>sizeof(sun_path)</c> on Linux.</summary>
    public const int UnixPathMax = 108;

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct sockaddr_un
    {
        public ushort sun_family;
        public fixed byte sun_path[UnixPathMax];
    }

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
}
