using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

/// <summary>
/// The libc calls the KVM backend needs beyond the shared ones in src/Interop/Libc.cs (close, read,
/// write, poll, fcntl), which this project links into the same partial class. This folder is the
/// only place in Vmm that calls native code; callers above it see SafeHandles and
/// <c>KvmException</c>.
/// </summary>
// SAFETY: declarations only: pointers are passed through to libc by the callers in this folder,
// each of which says why its buffer is valid for the call.
internal static unsafe partial class Libc
{
    private const string LibcName = "libc";

    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_DIRECT = 0x4000;
    public const int O_NOCTTY = 0x100;

    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_NORESERVE = 0x4000;
    public const int MAP_HUGETLB = 0x40000;
    public static readonly nint MAP_FAILED = -1;

    public const uint MFD_CLOEXEC = 0x1;
    public const uint MFD_HUGETLB = 0x4;

    public const int MADV_DONTNEED = 4;
    public const int MADV_REMOVE = 9;
    public const int MADV_DONTFORK = 10;
    public const int O_TMPFILE = 0x410000;

    public const int EFD_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;

    public const int SA_RESTART = 0x10000000;
    public const int TCSANOW = 0;

    [LibraryImport(LibcName, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    // ioctl is variadic in C; on x86-64 SysV a single integer or pointer argument is passed the
    // same way to a variadic callee, so a fixed three-argument import is sound.
    [LibraryImport(LibcName, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int ioctl(int fd, ulong request, nint arg);

    [LibraryImport(LibcName, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(LibcName, EntryPoint = "munmap", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    [LibraryImport(LibcName, EntryPoint = "madvise", SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    [LibraryImport(LibcName, EntryPoint = "mincore", SetLastError = true)]
    public static partial int mincore(nint addr, nuint length, byte* vec);

    [LibraryImport(LibcName, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport(LibcName, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(LibcName, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    public const int F_OFD_GETLK = 36;
    public const int F_OFD_SETLK = 37;
    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;
    public const int EACCES = 13;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    // fcntl is variadic; like ioctl, one pointer argument is passed as a fixed argument would be.
    [LibraryImport(LibcName, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(int fd, int command, flock* lock_);

    [LibraryImport(LibcName, EntryPoint = "fallocate", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long length);

    [LibraryImport(LibcName, EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport(LibcName, EntryPoint = "fsync", SetLastError = true)]
    public static partial int fsync(int fd);

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int ENXIO = 6;
    public const int MADV_POPULATE_WRITE = 23;
    public const int O_DIRECTORY = 0x10000;

    [LibraryImport(LibcName, EntryPoint = "lseek", SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(LibcName, EntryPoint = "pthread_self")]
    public static partial nuint pthread_self();

    [LibraryImport(LibcName, EntryPoint = "pthread_kill")]
    public static partial int pthread_kill(nuint thread, int sig);

    [LibraryImport(LibcName, EntryPoint = "sigaction", SetLastError = true)]
    public static partial int sigaction(int signum, sigaction_t* act, sigaction_t* oldact);

    [LibraryImport(LibcName, EntryPoint = "__libc_current_sigrtmax")]
    public static partial int __libc_current_sigrtmax();

    [LibraryImport(LibcName, EntryPoint = "posix_openpt", SetLastError = true)]
    public static partial int posix_openpt(int flags);

    [LibraryImport(LibcName, EntryPoint = "grantpt", SetLastError = true)]
    public static partial int grantpt(int fd);

    [LibraryImport(LibcName, EntryPoint = "unlockpt", SetLastError = true)]
    public static partial int unlockpt(int fd);

    [LibraryImport(LibcName, EntryPoint = "ptsname_r")]
    public static partial int ptsname_r(int fd, byte* buf, nuint buflen);

    [LibraryImport(LibcName, EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport(LibcName, EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport(LibcName, EntryPoint = "cfmakeraw")]
    public static partial void cfmakeraw(byte* termios);

    [LibraryImport(LibcName, EntryPoint = "isatty")]
    public static partial int isatty(int fd);

    /// <summary>Size of glibc's x86-64 <c>struct termios</c> (60 bytes) rounded up; treated as opaque.</summary>
    public const int TermiosBufferSize = 64;

#pragma warning disable IDE1006, CA1815, CS8981 // Linux names.
    /// <summary>x86-64 <c>struct flock</c>: type, whence, start, length, pid (32 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct flock
    {
        public short l_type;
        public short l_whence;
        public long l_start;
        public long l_len;
        public int l_pid;
    }

    /// <summary>glibc's x86-64 <c>struct sigaction</c>: handler, 1024-bit mask, flags, restorer (152 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct sigaction_t
    {
        public nint sa_handler;
        public fixed ulong sa_mask[16];
        public int sa_flags;
        public int pad;
        public nint sa_restorer;
    }
#pragma warning restore IDE1006, CA1815, CS8981
}
