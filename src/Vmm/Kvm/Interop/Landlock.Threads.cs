using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: the handler and its data live in two pages mapped once and never unmapped; the handler
// touches only its own data page, and the caller reads the slots with volatile reads after the
// handler published them (x86-64 keeps stores in order: result first, then the thread id).
internal static unsafe partial class Landlock
{
    // The handler (GNU as, Intel syntax), data at code + 4096: fd (+0), next slot (+4), then
    // slots of {int tid, int result} (+16). rcx and r11 are clobbered by syscall, which a signal
    // handler may do: sigreturn restores every register.
    //   mov eax, 157; mov edi, 38; mov esi, 1; xor edx, edx; xor r10d, r10d; xor r8d, r8d
    //   syscall                                  ; prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    //   mov eax, 446; mov edi, [rip + fd]; xor esi, esi
    //   syscall                                  ; landlock_restrict_self(fd, 0)
    //   mov r8d, eax; mov eax, 186; syscall      ; gettid()
    //   mov r9d, eax; mov ecx, 1; lock xadd [rip + next], ecx
    //   cmp ecx, 504; jae done
    //   lea rdx, [rip + slots]; mov [rdx + rcx*8 + 4], r8d; mov [rdx + rcx*8], r9d
    // done: ret
    private static ReadOnlySpan<byte> HandlerCode =>
    [
      0xb8, 0x9d, 0x00, 0x00, 0x00, 0xbf, 0x26, 0x00, 0x00, 0x00, 0xbe, 0x01,
      0x00, 0x00, 0x00, 0x31, 0xd2, 0x45, 0x31, 0xd2, 0x45, 0x31, 0xc0, 0x0f,
      0x05, 0xb8, 0xbe, 0x01, 0x00, 0x00, 0x8b, 0x3d, 0xdc, 0x0f, 0x00, 0x00,
      0x31, 0xf6, 0x0f, 0x05, 0x41, 0x89, 0xc0, 0xb8, 0xba, 0x00, 0x00, 0x00,
      0x0f, 0x05, 0x41, 0x89, 0xc1, 0xb9, 0x01, 0x00, 0x00, 0x00, 0xf0, 0x0f,
      0xc1, 0x0d, 0xc2, 0x0f, 0x00, 0x00, 0x81, 0xf9, 0xf8, 0x01, 0x00, 0x00,
      0x73, 0x10, 0x48, 0x8d, 0x15, 0xbf, 0x0f, 0x00, 0x00, 0x44, 0x89, 0x44,
      0xca, 0x04, 0x44, 0x89, 0x0c, 0xca, 0xc3
    ];

    private const int DataFd = 0;
    private const int DataNext = 4;
    private const int DataSlots = 16;
    private const int SlotCount = 504;
    private const long SYS_tgkill = 234;
    private const int ESRCH = 3;
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);
    private static readonly Lock RestrictLock = new();
    private static byte* _pages;

    /// <summary>
    /// Every thread of the process calls <c>landlock_restrict_self(ruleset)</c>. Throws when a
    /// thread refuses or does not answer (it then may be left unrestricted; the caller must not
    /// report Landlock as applied).
    /// </summary>
    public static void RestrictAllThreads(FdHandle ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        lock (RestrictLock)
        {
            var data = Pages() + PageSize;
            *(int*)(data + DataFd) = ruleset.Fd;
            Volatile.Write(ref *(int*)(data + DataNext), 0);
            new Span<byte>(data + DataSlots, SlotCount * 8).Clear();
            var signal = Libc.__libc_current_sigrtmax() - 2;
            var action = new Libc.sigaction_t { sa_handler = (nint)Pages(), sa_flags = Libc.SA_RESTART };
            Libc.sigaction_t old;
            if (Libc.sigaction(signal, &action, &old) != 0)
            {
                throw Error($"sigaction({signal})");
            }

            try
            {
                Broadcast(data, signal);
            }
            finally
            {
                _ = Libc.sigaction(signal, &old, null);
            }
        }
    }

    private static void Broadcast(byte* data, int signal)
    {
        var pid = Environment.ProcessId;
        var signalled = new HashSet<int>();
        while (true)
        {
            var fresh = Directory.EnumerateDirectories("/proc/self/task")
                .Select(d => int.Parse(Path.GetFileName(d), System.Globalization.CultureInfo.InvariantCulture))
                .Where(signalled.Add)
                .ToList();
            if (fresh.Count == 0)
            {
                return;
            }

            if (signalled.Count > SlotCount)
            {
                throw new IOException($"more than {SlotCount} threads to restrict");
            }

            var pending = new HashSet<int>();
            foreach (var tid in fresh)
            {
                if (syscall(SYS_tgkill, pid, tid, signal) == 0)
                {
                    pending.Add(tid);
                }
                else if (Marshal.GetLastPInvokeError() != ESRCH)
                {
                    throw Error($"tgkill({tid})");
                }
            }

            Await(data, pending);
        }
    }

    private static void Await(byte* data, HashSet<int> pending)
    {
        var deadline = DateTime.UtcNow + AnswerTimeout;
        while (pending.Count > 0)
        {
            var filled = Math.Min(Volatile.Read(ref *(int*)(data + DataNext)), SlotCount);
            for (var i = 0; i < filled; i++)
            {
                var slot = (int*)(data + DataSlots + (i * 8));
                var tid = Volatile.Read(ref slot[0]);
                if (tid != 0 && pending.Remove(tid) && slot[1] != 0)
                {
                    throw new IOException($"landlock_restrict_self on thread {tid}: {Marshal.GetPInvokeErrorMessage(-slot[1])}");
                }
            }

            // A thread that ended after the signal was sent never answers.
            pending.RemoveWhere(tid => !Directory.Exists($"/proc/self/task/{tid}"));
            if (pending.Count > 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new IOException($"threads {string.Join(' ', pending)} did not apply the Landlock ruleset");
                }

                Thread.Sleep(1);
            }
        }
    }

    private static byte* Pages()
    {
        if (_pages is null)
        {
            var pages = Libc.mmap(0, (nuint)(2 * PageSize), Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if (pages == Libc.MAP_FAILED)
            {
                throw Error("mmap");
            }

            HandlerCode.CopyTo(new Span<byte>((void*)pages, PageSize));
            if (mprotect(pages, (nuint)PageSize, Libc.PROT_READ | PROT_EXEC) != 0)
            {
                throw Error("mprotect");
            }

            _pages = (byte*)pages;
        }

        return _pages;
    }

    private const int PROT_EXEC = 0x4;

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int mprotect(nint addr, nuint length, int prot);
}
