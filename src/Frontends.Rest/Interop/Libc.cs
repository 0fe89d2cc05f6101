using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

// The REST frontend's own native calls (DESIGN.md rule 5), beside the shared ones in
// src/Interop: the lock file's flock, a Unix socket bound and chmod-ed before it listens, so no
// client can connect while the socket still has the process umask's mode, and statx, which tells
// a socket file from anything else at the socket path.
// SAFETY: as in src/Interop/Libc.cs; FileTypeAt and BindUnix pass only buffers on their frame.
internal static unsafe partial class Libc
{
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;

    public const int EADDRINUSE = 98;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1;

    /// <summary><c>sizeof(sun_path)</c> on Linux.</summary>
    public const int UnixPathMax = 108;

#pragma warning disable CS8981 // libc struct names kept so they grep against the headers.
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
    public struct sockaddr_un
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
    public static partial int bind(int fd, sockaddr_un* address, uint addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    // statx has one layout on every architecture, unlike struct stat.
    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, statx* buffer);

    /// <summary>
    /// The file type bits (<c>S_IFMT</c>) of what is at <paramref name="path"/>, without following a
    /// symbolic link; null when statx fails (nothing there, for one).
    /// </summary>
    public static ushort? FileTypeAt(string path)
    {
        var status = default(statx);
        // SAFETY: status lives on this frame and is the 256 bytes the kernel writes.
        return Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &status) == 0 ? (ushort)(status.stx_mode & S_IFMT) : null;
    }

    /// <summary>bind(2) of the AF_UNIX socket <paramref name="fd"/> to <paramref name="path"/> (shorter than <see cref="UnixPathMax"/>).</summary>
    public static int BindUnix(int fd, ReadOnlySpan<byte> path)
    {
        if (path.Length >= UnixPathMax)
        {
            throw new ArgumentException($"a Unix socket path is shorter than {UnixPathMax} bytes", nameof(path));
        }

        var address = new sockaddr_un { sun_family = AF_UNIX };
        // SAFETY: sun_path is UnixPathMax bytes inside address, and path is shorter, so the copy
        // and its NUL stay inside it; address lives on this frame for the whole call and the
        // length counts only its bytes.
        path.CopyTo(new Span<byte>(address.sun_path, UnixPathMax));
        return bind(fd, &address, (uint)(sizeof(ushort) + path.Length + 1));
    }
}
