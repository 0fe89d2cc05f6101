using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

/// <summary>
/// Landlock (linux/landlock.h): a ruleset of path-beneath rules, then restrict_self. The kernel
/// restricts only the calling thread (and threads it starts later; ABI 7 has no flag to restrict
/// the others), while a .NET process has its runtime threads, thread-pool workers and Kestrel
/// threads already. So every thread is made to call restrict_self itself: a real-time signal whose
/// handler is a few bytes of machine code (no managed code and no libc in a signal handler) that
/// sets no_new_privs and calls <c>landlock_restrict_self(fd, 0)</c>, then records its thread id
/// and the result. The caller signals each thread in /proc/self/task, waits for each answer, and
/// repeats until a scan finds no thread it has not seen (a thread started meanwhile by an
/// unrestricted thread).
/// </summary>
// SAFETY: each pointer passed below is to a local struct or to the two pages this class maps and
// never unmaps (the handler may run at any time after sigaction).
internal static unsafe partial class Landlock
{
    public const ulong ACCESS_FS_EXECUTE = 1UL << 0;
    public const ulong ACCESS_FS_WRITE_FILE = 1UL << 1;
    public const ulong ACCESS_FS_READ_FILE = 1UL << 2;
    public const ulong ACCESS_FS_READ_DIR = 1UL << 3;
    public const ulong ACCESS_FS_REMOVE_DIR = 1UL << 4;
    public const ulong ACCESS_FS_REMOVE_FILE = 1UL << 5;
    public const ulong ACCESS_FS_MAKE_CHAR = 1UL << 6;
    public const ulong ACCESS_FS_MAKE_DIR = 1UL << 7;
    public const ulong ACCESS_FS_MAKE_REG = 1UL << 8;
    public const ulong ACCESS_FS_MAKE_SOCK = 1UL << 9;
    public const ulong ACCESS_FS_MAKE_FIFO = 1UL << 10;
    public const ulong ACCESS_FS_MAKE_BLOCK = 1UL << 11;
    public const ulong ACCESS_FS_MAKE_SYM = 1UL << 12;
    public const ulong ACCESS_FS_REFER = 1UL << 13;
    public const ulong ACCESS_FS_TRUNCATE = 1UL << 14;
    public const ulong ACCESS_FS_IOCTL_DEV = 1UL << 15;

    /// <summary>The rights a rule on a file (not a directory) may carry.</summary>
    public const ulong FileRights = ACCESS_FS_EXECUTE | ACCESS_FS_WRITE_FILE | ACCESS_FS_READ_FILE | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV;

    private const long SYS_landlock_create_ruleset = 444;
    private const long SYS_landlock_add_rule = 445;
    private const uint LANDLOCK_CREATE_RULESET_VERSION = 1;
    private const int LANDLOCK_RULE_PATH_BENEATH = 1;
    private const int O_PATH = 0x200000;
    private const int ENOSYS = 38;
    private const int EOPNOTSUPP = 95;
    private const int PageSize = 4096;
    private const int MaxThreads = 1024;

    [StructLayout(LayoutKind.Sequential)]
    private struct landlock_ruleset_attr
    {
        public ulong handled_access_fs;
    }

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    private struct landlock_path_beneath_attr
    {
        public ulong allowed_access;
        public int parent_fd;
    }

    /// <summary>The kernel's Landlock ABI version; 0 when the kernel lacks Landlock or it is off.</summary>
    public static int AbiVersion()
    {
        var version = syscall(SYS_landlock_create_ruleset, 0, 0, (nint)LANDLOCK_CREATE_RULESET_VERSION);
        if (version >= 0)
        {
            return (int)version;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is ENOSYS or EOPNOTSUPP ? 0 : throw new IOException($"landlock_create_ruleset: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    /// <summary>Every filesystem right the ABI version knows: these are all denied unless a rule allows them.</summary>
    public static ulong HandledRights(int abi) =>
        (1UL << 13) - 1
        | (abi >= 2 ? ACCESS_FS_REFER : 0)
        | (abi >= 3 ? ACCESS_FS_TRUNCATE : 0)
        | (abi >= 5 ? ACCESS_FS_IOCTL_DEV : 0);

    /// <summary>A new ruleset handling <paramref name="handled"/>.</summary>
    public static FdHandle CreateRuleset(ulong handled)
    {
        var attr = new landlock_ruleset_attr { handled_access_fs = handled };
        var fd = syscall(SYS_landlock_create_ruleset, (nint)(&attr), sizeof(landlock_ruleset_attr), 0);
        return fd >= 0 ? new FdHandle((int)fd) : throw Error("landlock_create_ruleset");
    }

    /// <summary>Allows <paramref name="rights"/> beneath <paramref name="path"/>; a file gets only the file rights.</summary>
    public static void AddPathRule(FdHandle ruleset, string path, ulong rights)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        var fd = open(path, O_PATH | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw Error($"open {path}");
        }

        using var handle = new FdHandle(fd);
        Libc.stat_t st;
        if (Libc.fstat(fd, &st) != 0)
        {
            throw Error($"fstat {path}");
        }

        var isDirectory = (st.st_mode & Libc.S_IFMT) == Libc.S_IFDIR;
        var attr = new landlock_path_beneath_attr { allowed_access = isDirectory ? rights : rights & FileRights, parent_fd = fd };
        if (syscall(SYS_landlock_add_rule, ruleset.Fd, LANDLOCK_RULE_PATH_BENEATH, (nint)(&attr), 0) != 0)
        {
            throw Error($"landlock_add_rule {path}");
        }
    }

    private static IOException Error(string what) =>
        new($"{what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall(long number, nint arg1, nint arg2, nint arg3, nint arg4 = 0);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);
}
