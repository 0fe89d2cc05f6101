namespace CloudHypervisor.Sandbox;

/// <summary>
/// The system calls the VMM may make once the seccomp filter is on (x86-64 numbers from
/// asm/unistd_64.h). Measured, not guessed: the real executable, JIT and Native AOT, was run by
/// the real-binary tests (CloudHypervisor.Tests but its Linux and QEMU guests, the binary tests of
/// Frontends.DBus.Tests) under <c>strace -f</c>, and every call made after the filter's
/// installation point, or before it but needed again later (socket, bind), is here
/// (scripts/seccomp-measure.sh repeats the measurement and names any call missing). A few that
/// the tests did not reach are allowed for a stated reason: glibc's and the vDSO's fallbacks (clone
/// when clone3 is refused, the clock calls), the other halves of measured operations (mkdir and
/// renameat for snapshots, fdatasync, fallocate, userfaultfd for an on-demand restore, sendmsg for
/// SCM_RIGHTS), and Landlock's three calls. Left out on purpose, with the kill they cause as the
/// point: execve, execveat, fork and vfork, ptrace, process_vm_readv/writev, mount and
/// namespaces (unshare, setns, pivot_root, chroot), module and kexec loading, bpf, perf_event_open,
/// keyrings, setuid and friends, reboot, mknod, and seccomp itself. ioctl is allowed whatever its
/// request: the ones measured are the KVM API's (KVM_RUN most of all, KVM_IRQFD, KVM_IOEVENTFD,
/// KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, the GET/SET state calls), the tap's (TUNSETIFF,
/// TUNSETOFFLOAD, TUNSETVNETHDRSZ, SIOCSIF*), the terminal's (TCGETS, TCSETS, TIOCGPTN and
/// TIOCSPTLCK for PTYs) and userfaultfd's (USERFAULTFD_IOC_NEW, UFFDIO_API, UFFDIO_REGISTER,
/// UFFDIO_COPY). Filtering ioctl by request is left for later: the KVM numbers alone are 45.
/// </summary>
internal static class SeccompAllowList
{
    /// <summary>A system call by its name in the kernel headers and its x86-64 number.</summary>
    public sealed record Syscall(string Name, int Number);

    /// <summary>Every allowed call, in groups by who makes it.</summary>
    public static IReadOnlyList<Syscall> All { get; } =
    [
        // The .NET runtime: memory. The GC and the JIT map, protect and release memory all the time;
        // membarrier is FlushProcessWriteBuffers.
        new("mmap", 9),
        new("munmap", 11),
        new("mprotect", 10),
        new("madvise", 28),
        new("mremap", 25),
        new("brk", 12),
        new("membarrier", 324),
        new("get_mempolicy", 239),

        // The .NET runtime: threads and synchronisation. Thread-pool, timer and GC threads start and end at
        // any time (glibc tries clone3, then clone); waits are futexes; the GC suspends threads with signals
        // (tgkill, SIGRTMIN) on alternate stacks.
        new("clone", 56),
        new("clone3", 435),
        new("exit", 60),
        new("exit_group", 231),
        new("set_robust_list", 273),
        new("rseq", 334),
        new("futex", 202),
        new("futex_waitv", 449),
        new("sched_yield", 24),
        new("sched_getaffinity", 204),
        new("sched_setaffinity", 203),
        new("sched_getparam", 143),
        new("sched_setparam", 142),
        new("sched_getscheduler", 145),
        new("sched_setscheduler", 144),
        new("sched_get_priority_max", 146),
        new("sched_get_priority_min", 147),
        new("gettid", 186),
        new("getpid", 39),
        new("getppid", 110),
        new("tgkill", 234),
        new("tkill", 200),
        new("kill", 62),
        new("rt_sigprocmask", 14),
        new("rt_sigaction", 13),
        new("rt_sigreturn", 15),
        new("rt_sigsuspend", 130),
        new("rt_sigtimedwait", 128),
        new("sigaltstack", 131),
        new("restart_syscall", 219),
        new("prctl", 157),
        new("prlimit64", 302),
        new("getrusage", 98),
        new("sysinfo", 99),
        new("uname", 63),
        new("getcwd", 79),

        // The .NET runtime: time, randomness and identity (the vDSO serves the clocks; these are its
        // fallbacks).
        new("clock_gettime", 228),
        new("clock_getres", 229),
        new("clock_nanosleep", 230),
        new("nanosleep", 35),
        new("gettimeofday", 96),
        new("time", 201),
        new("getcpu", 309),
        new("getrandom", 318),
        new("getuid", 102),
        new("geteuid", 107),
        new("getgid", 104),
        new("getegid", 108),
        new("getsid", 124),

        // Files: the runtime's lazy assembly loads and /proc reads, disk images, snapshot and restore files
        // (written beside and renamed into place, fsynced), the event-monitor and log files, console and
        // serial files.
        new("read", 0),
        new("write", 1),
        new("readv", 19),
        new("writev", 20),
        new("pread64", 17),
        new("pwrite64", 18),
        new("preadv", 295),
        new("pwritev", 296),
        new("openat", 257),
        new("close", 3),
        new("fstat", 5),
        new("newfstatat", 262),
        new("stat", 4),
        new("lstat", 6),
        new("statx", 332),
        new("statfs", 137),
        new("fstatfs", 138),
        new("lseek", 8),
        new("fcntl", 72),
        new("dup", 32),
        new("dup3", 292),
        new("access", 21),
        new("faccessat", 269),
        new("faccessat2", 439),
        new("readlink", 89),
        new("readlinkat", 267),
        new("getdents64", 217),
        new("unlink", 87),
        new("unlinkat", 263),
        new("rename", 82),
        new("renameat", 264),
        new("renameat2", 316),
        new("mkdir", 83),
        new("mkdirat", 258),
        new("rmdir", 84),
        new("chmod", 90),
        new("fchmod", 91),
        new("fchmodat", 268),
        new("ftruncate", 77),
        new("fallocate", 285),
        new("fsync", 74),
        new("fdatasync", 75),
        new("flock", 73),
        new("copy_file_range", 326),
        new("sendfile", 40),

        // Event loops: epoll for the runtime's socket engine, poll for the D-Bus and device threads, pipes
        // and eventfds to wake them.
        new("epoll_create1", 291),
        new("epoll_ctl", 233),
        new("epoll_wait", 232),
        new("epoll_pwait", 281),
        new("poll", 7),
        new("ppoll", 271),
        new("pipe2", 293),
        new("eventfd2", 290),

        // Sockets: Kestrel's API socket (accept4, the request and reply, the socket's mode and .lock file),
        // the D-Bus connection (Tmds.DBus.Protocol: connect, SCM_CREDENTIALS and SCM_RIGHTS over
        // sendmsg/recvmsg, reconnects), serial, console and vsock sockets, the journald and sd_notify
        // datagrams.
        new("socket", 41),
        new("socketpair", 53),
        new("bind", 49),
        new("listen", 50),
        new("accept4", 288),
        new("connect", 42),
        new("shutdown", 48),
        new("sendto", 44),
        new("recvfrom", 45),
        new("sendmsg", 46),
        new("recvmsg", 47),
        new("getsockopt", 55),
        new("setsockopt", 54),
        new("getsockname", 51),
        new("getpeername", 52),

        // KVM and the device workers: every KVM ioctl (KVM_RUN, KVM_IRQFD, KVM_IOEVENTFD,
        // KVM_SET_USER_MEMORY_REGION, the GET/SET state ioctls), TUNSETIFF on /dev/net/tun, terminal ioctls
        // for PTYs; guest RAM in a memfd; userfaultfd for restore on demand; mincore for a migration's
        // first pass, which sends only the pages of RAM that were ever touched.
        new("ioctl", 16),
        new("memfd_create", 319),
        new("userfaultfd", 323),
        new("mincore", 27),

        // Landlock at vm.create (every thread restricts itself from a signal handler, which gettid and tgkill
        // reach).
        new("landlock_create_ruleset", 444),
        new("landlock_add_rule", 445),
        new("landlock_restrict_self", 446),
    ];

    /// <summary>The allowed numbers.</summary>
    public static IReadOnlyList<int> Numbers { get; } = [.. All.Select(s => s.Number)];
}
