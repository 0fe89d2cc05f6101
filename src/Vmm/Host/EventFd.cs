using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Host;

/// <summary>
/// A Linux eventfd: a counter one side adds to and the other drains. Devices wait on them for
/// queue notifications (KVM signals them by ioeventfd without an exit to user space) and
/// signal them to raise MSI-X vectors (KVM injects on irqfd). The only native call is in Libc.
/// </summary>
// SAFETY: read/write pass an 8-byte counter on the caller's frame with its size; the pollfd array
// is stack-allocated with one entry per descriptor polled and passed with that count.
public sealed unsafe class EventFd : IDisposable
{
    private readonly FdHandle _fd;

    public EventFd()
    {
        _fd = FdHandle.Check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
    }

    /// <summary>The descriptor, for KVM_IRQFD and KVM_IOEVENTFD; valid while this object is alive.</summary>
    internal int Fd => _fd.Fd;

    /// <summary>Adds one to the counter, waking a waiter.</summary>
    public void Signal()
    {
        ulong one = 1;
        var added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
            // A full counter (2^64-2) or a closed fd only loses a wake-up that is already pending.
            _ = Libc.write(_fd.Fd, (byte*)&one, sizeof(ulong));
        }
        finally
        {
            if (added)
            {
                _fd.DangerousRelease();
            }
        }
    }

    /// <summary>Resets the counter; true when it was signalled since the last drain.</summary>
    public bool Drain()
    {
        ulong value = 0;
        var added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
            return Libc.read(_fd.Fd, (byte*)&value, sizeof(ulong)) == sizeof(ulong) && value != 0;
        }
        finally
        {
            if (added)
            {
                _fd.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Waits until one of <paramref name="fds"/> is readable or <paramref name="timeoutMs"/>
    /// passes (-1: forever). Returns a bit per readable fd (at most 64 fds).
    /// </summary>
    public static ulong WaitAny(IReadOnlyList<EventFd> fds, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(fds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fds.Count, 64);
        var polls = stackalloc Libc.pollfd[fds.Count];
        for (var i = 0; i < fds.Count; i++)
        {
            polls[i] = new Libc.pollfd { fd = fds[i].Fd, events = Libc.POLLIN };
        }

        var n = Libc.poll(polls, (nuint)fds.Count, timeoutMs);
        if (n <= 0)
        {
            return 0;
        }

        ulong ready = 0;
        for (var i = 0; i < fds.Count; i++)
        {
            if ((polls[i].revents & Libc.POLLIN) != 0)
            {
                ready |= 1UL << i;
            }
        }

        return ready;
    }

    public void Dispose() => _fd.Dispose();
}
