using System.Runtime.InteropServices;
using CloudHypervisor.Vmm.Host;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.State;
using Microsoft.Win32.SafeHandles;
using Serilog;

namespace CloudHypervisor.Vmm.Memory;

// SAFETY: every ioctl gets a pointer to a local struct of the size its request number encodes;
// UFFDIO_COPY's source is a pinned page-sized buffer, its destination a page of the registered
// guest RAM mapping, which outlives this server (the VM disposes it after the server).
/// <summary>
/// Restore with <c>memory_restore_mode=ondemand</c>: guest RAM is registered with userfaultfd
/// (MISSING mode) and left empty, and one thread serves each first touch of a page (by a vCPU
/// through KVM, or by the VMM) from memory-ranges: UFFDIO_COPY of the page where the file holds
/// data, UFFDIO_ZEROPAGE in its holes. So the guest starts as soon as its state is set, and RAM
/// it never touches is never read.
/// </summary>
internal sealed unsafe class UserfaultfdServer : IDisposable
{
    private const string Device = "/dev/userfaultfd";
    private const ulong UFFD_API = 0xAA;
    private const ulong UFFDIO_REGISTER_MODE_MISSING = 1;
    private const byte UFFD_EVENT_PAGEFAULT = 0x12;
    private const int EEXIST = 17;
    private const int PageSize = 4096;

    private static readonly ulong USERFAULTFD_IOC_NEW = (0xAAUL << 8) | 0x00;
    private static readonly ulong UFFDIO_API = IoWr(0x3F, sizeof(uffdio_api));
    private static readonly ulong UFFDIO_REGISTER = IoWr(0x00, sizeof(uffdio_register));
    private static readonly ulong UFFDIO_COPY = IoWr(0x03, sizeof(uffdio_copy));
    private static readonly ulong UFFDIO_ZEROPAGE = IoWr(0x04, sizeof(uffdio_zeropage));

    private readonly FdHandle _uffd;
    private readonly SafeFileHandle _file;
    private readonly GuestMemory _memory;
    private readonly (ulong HostOffset, ulong Length, long FileOffset)[] _map;
    private readonly (long Start, long End)[] _data;
    private readonly EventFd _stop = new();
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private long _copied;
    private long _zeroed;

    private static ulong IoWr(uint nr, int size) => (3UL << 30) | ((ulong)size << 16) | (0xAAUL << 8) | nr;

    private UserfaultfdServer(FdHandle uffd, SafeFileHandle file, GuestMemory memory, MemoryRangeTable table, ILogger logger)
    {
        _uffd = uffd;
        _file = file;
        _memory = memory;
        _logger = logger;
        long fileOffset = 0;
        var map = new List<(ulong, ulong, long)>();
        foreach (var range in table.Data)
        {
            var region = memory.Regions.First(r => r.GuestAddress == range.Gpa && r.Size == range.Length);
            map.Add((region.HostOffset, range.Length, fileOffset));
            fileOffset += (long)range.Length;
        }

        _map = [.. map];
        _data = DataExtents(file, fileOffset);
        _thread = new Thread(Serve) { IsBackground = true, Name = "uffd-restore" };
    }

    public long PagesCopied => Interlocked.Read(ref _copied);

    /// <summary>Registers <paramref name="memory"/> (fresh, untouched) and starts serving it from the memory-ranges file.</summary>
    public static UserfaultfdServer Start(GuestMemory memory, string memoryPath, MemoryRangeTable table, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var device = FdHandle.Check(Libc.open(Device, Libc.O_RDWR | Libc.O_CLOEXEC), $"open {Device}");
        FdHandle uffd;
        try
        {
            uffd = FdHandle.Check(device.RawIoctl(USERFAULTFD_IOC_NEW, Libc.O_CLOEXEC | Libc.O_NONBLOCK), "USERFAULTFD_IOC_NEW");
        }
        finally
        {
            device.Dispose();
        }

        SafeFileHandle? file = null;
        try
        {
            var api = new uffdio_api { api = UFFD_API };
            uffd.Ioctl(UFFDIO_API, (nint)(&api), "UFFDIO_API");
            var register = new uffdio_register
            {
                range = new uffdio_range { start = (ulong)memory.HostAddress, len = memory.Size },
                mode = UFFDIO_REGISTER_MODE_MISSING,
            };
            uffd.Ioctl(UFFDIO_REGISTER, (nint)(&register), "UFFDIO_REGISTER of guest RAM");
            file = File.OpenHandle(memoryPath, FileMode.Open, FileAccess.Read);
            var server = new UserfaultfdServer(uffd, file, memory, table, logger);
            server._thread.Start();
            return server;
        }
        catch
        {
            file?.Dispose();
            uffd.Dispose();
            throw;
        }
    }

    private static (long Start, long End)[] DataExtents(SafeFileHandle file, long length)
    {
        var fd = (int)file.DangerousGetHandle();
        var extents = new List<(long, long)>();
        for (long at = 0; at < length;)
        {
            var data = Libc.lseek(fd, at, Libc.SEEK_DATA);
            if (data < 0 || data >= length)
            {
                break;
            }

            var hole = Libc.lseek(fd, data, Libc.SEEK_HOLE);
            var end = hole < 0 ? length : Math.Min(hole, length);
            extents.Add((data, end));
            at = end;
        }

        return [.. extents];
    }

    private bool HasData(long fileOffset)
    {
        int lo = 0, hi = _data.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (fileOffset < _data[mid].Start)
            {
                hi = mid - 1;
            }
            else if (fileOffset >= _data[mid].End)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    private void Serve()
    {
        var page = (byte*)NativeMemory.AlignedAlloc(PageSize, PageSize);
        try
        {
            Span<Libc.pollfd> fds = [new Libc.pollfd { fd = _uffd.Fd, events = Libc.POLLIN }, new Libc.pollfd { fd = _stop.Fd, events = Libc.POLLIN }];
            var message = stackalloc byte[32];
            while (true)
            {
                fixed (Libc.pollfd* p = fds)
                {
                    if (Libc.poll(p, 2, -1) < 0 && Marshal.GetLastPInvokeError() != Libc.EINTR)
                    {
                        _logger.Error("userfaultfd restore: poll failed ({Errno})", Marshal.GetLastPInvokeError());
                        return;
                    }
                }

                if ((fds[1].revents & Libc.POLLIN) != 0)
                {
                    return;
                }

                while (Libc.read(_uffd.Fd, message, 32) == 32)
                {
                    if (message[0] == UFFD_EVENT_PAGEFAULT)
                    {
                        // struct uffd_msg: event, 7 bytes, then pagefault.flags and pagefault.address.
                        Fault(*(ulong*)(message + 16) & ~(ulong)(PageSize - 1), page);
                    }
                }
            }
        }
        catch (Exception e)
        {
            _logger.Error(e, "userfaultfd restore: serving guest memory failed; faulting threads stay blocked until the VM goes");
        }
        finally
        {
            NativeMemory.AlignedFree(page);
        }
    }

    private void Fault(ulong address, byte* page)
    {
        var hostOffset = address - (ulong)_memory.HostAddress;
        long fileOffset = -1;
        foreach (var (start, length, file) in _map)
        {
            if (hostOffset >= start && hostOffset - start < length)
            {
                fileOffset = file + (long)(hostOffset - start);
                break;
            }
        }

        int result;
        if (fileOffset >= 0 && HasData(fileOffset))
        {
            var span = new Span<byte>(page, PageSize);
            for (var done = 0; done < PageSize;)
            {
                var n = RandomAccess.Read(_file, span[done..], fileOffset + done);
                if (n == 0)
                {
                    span[done..].Clear();
                    break;
                }

                done += n;
            }

            var copy = new uffdio_copy { dst = address, src = (ulong)page, len = PageSize };
            result = _uffd.RawIoctl(UFFDIO_COPY, (nint)(&copy));
            Interlocked.Increment(ref _copied);
        }
        else
        {
            var zero = new uffdio_zeropage { range = new uffdio_range { start = address, len = PageSize } };
            result = _uffd.RawIoctl(UFFDIO_ZEROPAGE, (nint)(&zero));
            Interlocked.Increment(ref _zeroed);
        }

        // EEXIST: another fault on the same page was served first.
        if (result < 0 && Marshal.GetLastPInvokeError() is var errno && errno != EEXIST)
        {
            throw new KvmException($"userfaultfd: serving guest page at host 0x{address:X}", errno);
        }
    }

    public void Dispose()
    {
        _stop.Signal();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }

        _logger.Debug("userfaultfd restore served {Copied} pages from the file and {Zeroed} zero pages", PagesCopied, Interlocked.Read(ref _zeroed));
        _uffd.Dispose();
        _file.Dispose();
        _stop.Dispose();
    }

#pragma warning disable IDE1006, CS0649 // Linux names (linux/userfaultfd.h).
    [StructLayout(LayoutKind.Sequential)]
    private struct uffdio_api
    {
        public ulong api;
        public ulong features;
        public ulong ioctls;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct uffdio_range
    {
        public ulong start;
        public ulong len;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct uffdio_register
    {
        public uffdio_range range;
        public ulong mode;
        public ulong ioctls;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct uffdio_copy
    {
        public ulong dst;
        public ulong src;
        public ulong len;
        public ulong mode;
        public long copy;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct uffdio_zeropage
    {
        public uffdio_range range;
        public ulong mode;
        public long zeropage;
    }
#pragma warning restore IDE1006, CS0649
}
