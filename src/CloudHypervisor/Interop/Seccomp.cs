using System.Runtime.InteropServices;

namespace CloudHypervisor.Interop;

/// <summary>
/// A seccomp-BPF allow list as a classic BPF program, installed on every thread at once.
/// The program: the architecture must be x86-64 (<c>AUDIT_ARCH_X86_64</c>; anything else, an
/// i386 <c>int 0x80</c> for instance, kills the process whatever the mode), numbers with the x32
/// bit are denied, then a binary search over the sorted allowed numbers ends in ALLOW or the
/// mode's action. Filters are inherited over clone(), so threads the runtime starts later carry
/// the filter too; <c>SECCOMP_FILTER_FLAG_TSYNC</c> puts it on the threads that exist already.
/// </summary>
internal static partial class Seccomp
{
    // linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    private const uint AUDIT_ARCH_X86_64 = 0xC000003E;
    private const uint X32_SYSCALL_BIT = 0x40000000;

    // linux/seccomp.h return values (the action is in the high 16 bits, data in the low 16).
    public const uint SECCOMP_RET_KILL_PROCESS = 0x80000000;
    public const uint SECCOMP_RET_ERRNO = 0x00050000;
    public const uint SECCOMP_RET_LOG = 0x7ffc0000;
    public const uint SECCOMP_RET_ALLOW = 0x7fff0000;

    private const uint SECCOMP_SET_MODE_FILTER = 1;
    private const uint SECCOMP_FILTER_FLAG_TSYNC = 1;
    private const long SYS_seccomp = 317;
    private const int PR_SET_NO_NEW_PRIVS = 38;

    // struct seccomp_data: int nr at 0, __u32 arch at 4.
    private const uint OffsetNr = 0;
    private const uint OffsetArch = 4;

    // linux/bpf_common.h opcodes.
    private const ushort BPF_LD_W_ABS = 0x00 | 0x00 | 0x20;
    private const ushort BPF_JMP_JA = 0x05 | 0x00;
    private const ushort BPF_JMP_JEQ_K = 0x05 | 0x10;
    private const ushort BPF_JMP_JGE_K = 0x05 | 0x30;
    private const ushort BPF_RET_K = 0x06;

    /// <summary>struct sock_filter.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct sock_filter(ushort code, byte jt, byte jf, uint k);

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct sock_fprog
    {
        public ushort len;
        public sock_filter* filter;
    }

    /// <summary>The filter program: <paramref name="allowed"/> pass, everything else gets <paramref name="deny"/>.</summary>
    public static sock_filter[] Build(IEnumerable<int> allowed, uint deny)
    {
        var numbers = allowed.Distinct().Order().ToArray();
        var program = new List<sock_filter>
        {
            new(BPF_LD_W_ABS, 0, 0, OffsetArch),
            new(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
            new(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
            new(BPF_LD_W_ABS, 0, 0, OffsetNr),
            new(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
            new(BPF_RET_K, 0, 0, deny),
        };
        Search(program, numbers, deny);
        if (program.Count > ushort.MaxValue)
        {
            throw new ArgumentException("The seccomp program is too long", nameof(allowed));
        }

        return [.. program];
    }

    // A node over numbers[lo..hi): one number compares for equality and returns; more split at the
    // middle with "jge mid" (true: jump over the lower half with ja, whose offset has 32 bits, so
    // no half is too far for the 8-bit jt/jf offsets).
    private static void Search(List<sock_filter> program, ReadOnlySpan<int> numbers, uint deny)
    {
        if (numbers.Length == 0)
        {
            program.Add(new(BPF_RET_K, 0, 0, deny));
            return;
        }

        if (numbers.Length == 1)
        {
            program.Add(new(BPF_JMP_JEQ_K, 0, 1, (uint)numbers[0]));
            program.Add(new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
            program.Add(new(BPF_RET_K, 0, 0, deny));
            return;
        }

        var mid = numbers.Length / 2;
        program.Add(new(BPF_JMP_JGE_K, 0, 1, (uint)numbers[mid]));
        var jump = program.Count;
        program.Add(default);
        Search(program, numbers[..mid], deny);
        program[jump] = new(BPF_JMP_JA, 0, 0, (uint)(program.Count - jump - 1));
        Search(program, numbers[mid..], deny);
    }

    /// <summary>
    /// no_new_privs, then the filter on every thread of the process. Throws with the errno when
    /// the kernel refuses (TSYNC answers the id of a thread it could not synchronise).
    /// </summary>
    public static unsafe void Install(sock_filter[] program)
    {
        ArgumentNullException.ThrowIfNull(program);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        {
            throw new IOException($"prctl(PR_SET_NO_NEW_PRIVS) failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        fixed (sock_filter* filter = program)
        {
            var prog = new sock_fprog { len = (ushort)program.Length, filter = filter };
            // SAFETY: prog points at the pinned array for the duration of the call; the kernel
            // copies the program before it returns.
            var result = syscall(SYS_seccomp, (nint)SECCOMP_SET_MODE_FILTER, (nint)SECCOMP_FILTER_FLAG_TSYNC, (nint)(&prog));
            if (result > 0)
            {
                throw new IOException($"seccomp TSYNC failed: thread {result} could not take the filter");
            }

            if (result < 0)
            {
                throw new IOException($"seccomp(SECCOMP_SET_MODE_FILTER) failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
        }
    }

    /// <summary>
    /// Calls <c>execve(NULL, NULL, NULL)</c>: with the call allowed the kernel answers EFAULT
    /// and nothing happens, so it is a harmless way to make the process try a denied call. Returns errno.
    /// </summary>
    public static int TryEmptyExecve()
    {
        const long SYS_execve = 59;
        return syscall(SYS_execve, 0, 0, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall(long number, nint arg1, nint arg2, nint arg3);
}
