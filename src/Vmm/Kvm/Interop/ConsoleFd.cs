using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

// SAFETY: pointers go only to stack buffers (termios, pollfd, read buffer) and pinned spans, each
// passed with its true length; the eventfd and descriptors stay open until the pump thread ends.
/// <summary>
/// A terminal-like descriptor used by a console (the VMM's stdin/stdout, or a PTY master): writes
/// that never block the guest, and an input thread that polls the descriptor together with an
/// eventfd so Dispose can stop it.
/// </summary>
internal sealed unsafe class ConsoleFd : IDisposable
{
    private readonly FdHandle? _owned;
    private readonly int _readFd;
    private readonly int _writeFd;
    private readonly FdHandle _stop;
    private readonly byte[]? _savedTermios;
    private Thread? _thread;

    private ConsoleFd(FdHandle? owned, int readFd, int writeFd, byte[]? savedTermios)
    {
        _owned = owned;
        _readFd = readFd;
        _writeFd = writeFd;
        _savedTermios = savedTermios;
        _stop = FdHandle.Check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
    }

    /// <summary>Opens a PTY pair and returns the master in raw mode with the path of its slave.</summary>
    public static ConsoleFd OpenPty(out string path)
    {
        var master = FdHandle.Check(Libc.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC | Libc.O_NONBLOCK), "posix_openpt");
        try
        {
            if (Libc.grantpt(master.Fd) != 0)
            {
                throw KvmException.FromLastError("grantpt");
            }

            if (Libc.unlockpt(master.Fd) != 0)
            {
                throw KvmException.FromLastError("unlockpt");
            }

            var name = stackalloc byte[256];
            var rc = Libc.ptsname_r(master.Fd, name, 256);
            if (rc != 0)
            {
                throw new KvmException("ptsname_r", rc);
            }

            path = Marshal.PtrToStringUTF8((nint)name) ?? throw new KvmException("ptsname_r returned no name");
            MakeRaw(master.Fd);
            return new ConsoleFd(master, master.Fd, master.Fd, null);
        }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    /// <summary>The VMM's own stdin (input) and stdout (output); a terminal on stdin is put in raw mode until Dispose.</summary>
    public static ConsoleFd OpenStdio()
    {
        byte[]? saved = null;
        if (Libc.isatty(0) == 1)
        {
            saved = new byte[Libc.TermiosBufferSize];
            fixed (byte* t = saved)
            {
                if (Libc.tcgetattr(0, t) != 0)
                {
                    saved = null;
                }
            }

            if (saved is not null)
            {
                MakeRaw(0);
            }
        }

        return new ConsoleFd(null, 0, 1, saved);
    }

    private static void MakeRaw(int fd)
    {
        var termios = stackalloc byte[Libc.TermiosBufferSize];
        if (Libc.tcgetattr(fd, termios) != 0)
        {
            throw KvmException.FromLastError("tcgetattr");
        }

        Libc.cfmakeraw(termios);
        if (Libc.tcsetattr(fd, Libc.TCSANOW, termios) != 0)
        {
            throw KvmException.FromLastError("tcsetattr");
        }
    }

    /// <summary>Writes what the descriptor takes now; the rest is dropped when nobody reads (a full PTY).</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = Libc.write(_writeFd, p + done, (nuint)(data.Length - done));
                if (n > 0)
                {
                    done += (int)n;
                    continue;
                }

                if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }

                return;
            }
        }
    }

    public void StartInput(Action<byte[]> input, string threadName)
    {
        _thread = new Thread(() => Pump(input)) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    private void Pump(Action<byte[]> input)
    {
        var fds = stackalloc Libc.pollfd[2];
        var buffer = stackalloc byte[256];
        while (true)
        {
            fds[0] = new Libc.pollfd { fd = _readFd, events = Libc.POLLIN };
            fds[1] = new Libc.pollfd { fd = _stop.Fd, events = Libc.POLLIN };
            var rc = Libc.poll(fds, 2, -1);
            if (rc < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }

                return;
            }

            if (fds[1].revents != 0)
            {
                return;
            }

            if ((fds[0].revents & Libc.POLLIN) != 0)
            {
                var n = Libc.read(_readFd, buffer, 256);
                if (n > 0)
                {
                    input(new ReadOnlySpan<byte>(buffer, (int)n).ToArray());
                    continue;
                }

                if (n == 0 && _owned is null)
                {
                    return; // stdin closed
                }
            }
            else if ((fds[0].revents & (Libc.POLLHUP | Libc.POLLERR)) != 0)
            {
                // A PTY master reports HUP while no one has the slave open; wait for a client.
                Thread.Sleep(100);
            }
        }
    }

    public void Dispose()
    {
        ulong one = 1;
        _ = Libc.write(_stop.Fd, (byte*)&one, 8);
        _thread?.Join(TimeSpan.FromSeconds(2));
        _stop.Dispose();
        _owned?.Dispose();
        if (_savedTermios is not null)
        {
            fixed (byte* t = _savedTermios)
            {
                _ = Libc.tcsetattr(0, Libc.TCSANOW, t);
            }
        }
    }
}
