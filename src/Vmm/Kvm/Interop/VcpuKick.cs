using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: sigaction gets pointers to two stack structs of glibc's layout (152 bytes, tested).
/// <summary>
/// Kicks a vCPU thread out of KVM_RUN with a real-time signal. KVM_RUN returns EINTR only when a
/// signal with a handler is pending (an ignored signal is discarded before it interrupts anything),
/// so the signal gets a handler that does nothing. The handler must be native and
/// async-signal-safe, not managed code: libc's getpid serves, because on x86-64 the signal
/// number it is called with is simply ignored and its result is discarded.
/// </summary>
internal static unsafe class VcpuKick
{
    private static readonly Lock InstallLock = new();
    private static int _signal;

    /// <summary>The signal used, installed on first use: SIGRTMAX-1 (the runtime uses SIGRTMIN).</summary>
    public static int Signal
    {
        get
        {
            lock (InstallLock)
            {
                if (_signal == 0)
                {
                    _signal = Install();
                }

                return _signal;
            }
        }
    }

    private static int Install()
    {
        var signal = Libc.__libc_current_sigrtmax() - 1;
        var libc = NativeLibrary.Load("libc.so.6");
        var noOp = NativeLibrary.GetExport(libc, "getpid");
        var action = new Libc.sigaction_t { sa_handler = noOp, sa_flags = Libc.SA_RESTART };
        Libc.sigaction_t old;
        if (Libc.sigaction(signal, &action, &old) != 0)
        {
            throw KvmException.FromLastError($"sigaction({signal})");
        }

        if (old.sa_handler != 0 && old.sa_handler != noOp)
        {
            // Someone else owns this signal: put their handler back rather than break them.
            _ = Libc.sigaction(signal, &old, null);
            throw new KvmException($"signal {signal} already has a handler; cannot use it to kick vCPUs");
        }

        return signal;
    }

    /// <summary>The calling thread's pthread id, to kick it later.</summary>
    public static nuint CurrentThread() => Libc.pthread_self();

    public static void Kick(nuint thread)
    {
        var rc = Libc.pthread_kill(thread, Signal);
        if (rc != 0 && rc != 3 /* ESRCH: the thread has already ended */)
        {
            throw new KvmException("pthread_kill", rc);
        }
    }
}
