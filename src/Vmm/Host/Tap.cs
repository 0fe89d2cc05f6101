using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Host;

/// <summary>Why a tap could not be created, opened or configured; the message is the user's cause.</summary>
public sealed class TapException(string message) : Exception(message)
{
    public TapException()
        : this("tap error")
    {
    }

    public TapException(string message, Exception innerException)
        : this(message + ": " + innerException?.Message)
    {
    }
}

/// <summary>What a tap may hand the guest (linux/if_tun.h TUN_F_*, the same bits).</summary>
[Flags]
public enum TapOffload : uint
{
    None = 0,
    Csum = 0x01,
    Tso4 = 0x02,
    Tso6 = 0x04,
    TsoEcn = 0x08,
    Ufo = 0x10,
}

/// <summary>What <see cref="Tap.WaitReadable"/> saw.</summary>
public enum TapWait
{
    Readable,
    Stopped,
    Gone,
}

/// <summary>
/// A Linux tap interface as upstream's net_util::Tap uses it: opened on /dev/net/tun with
/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (IFF_MULTI_QUEUE with several queue pairs, one descriptor
/// per pair), a 12-byte vnet header (virtio 1.x struct virtio_net_hdr with num_buffers), or
/// adopted from descriptors passed by the user (checked with TUNGETIFF to be taps). The host side
/// is configured as asked (IPv4 address and mask, MAC, MTU) and brought up. Reads and writes are
/// non-blocking; each call moves one frame with its vnet header.
/// </summary>
// SAFETY: the pointers handed to ioctl/read/write point at stack structs or pinned spans that
// outlive the call, with the sizes the kernel expects (struct ifreq is 40 bytes, asserted by layout).
public sealed unsafe class Tap : IDisposable
{
    public const int VnetHeaderSize = 12;
    private readonly FdHandle[] _queues;

    private Tap(string name, FdHandle[] queues)
    {
        Name = name;
        _queues = queues;
    }

    public string Name { get; }

    public int QueuePairs => _queues.Length;

    private static string Errno() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    /// <summary>Opens (creating it if missing, as upstream) the tap <paramref name="name"/>, or a new vmtap%d when null.</summary>
    public static Tap Open(string? name, int pairs)
    {
        var queues = new List<FdHandle>();
        var actual = name ?? "vmtap%d";
        try
        {
            for (var i = 0; i < pairs; i++)
            {
                var fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
                if (fd < 0)
                {
                    throw new TapException($"Cannot open /dev/net/tun: {Errno()}");
                }

                var handle = new FdHandle(fd);
                queues.Add(handle);
                var request = NewRequest(actual);
                request.ifr_flags = (short)(Libc.IFF_TAP | Libc.IFF_NO_PI | Libc.IFF_VNET_HDR | (pairs > 1 ? Libc.IFF_MULTI_QUEUE : 0));
                if (handle.RawIoctl(Libc.TUNSETIFF, (nint)(&request)) < 0)
                {
                    throw new TapException($"Cannot create tap {actual}: {Errno()}");
                }

                actual = NameOf(request);
            }

            var tap = new Tap(actual, [.. queues]);
            tap.SetHeaderSize();
            return tap;
        }
        catch
        {
            foreach (var q in queues)
            {
                q.Dispose();
            }

            throw;
        }
    }

    /// <summary>Adopts descriptors the user passed (fd=[..]); each must be a tap with a vnet header, or it is refused.</summary>
    public static Tap Adopt(IReadOnlyList<int> fds)
    {
        ArgumentNullException.ThrowIfNull(fds);
        string? name = null;
        foreach (var fd in fds)
        {
            var request = default(Libc.ifreq);
            if (Libc.ioctl(fd, Libc.TUNGETIFF, (nint)(&request)) < 0)
            {
                throw new TapException($"File descriptor {fd} is not a tap: TUNGETIFF: {Errno()}");
            }

            if ((request.ifr_flags & Libc.IFF_TAP) == 0 || (request.ifr_flags & Libc.IFF_VNET_HDR) == 0)
            {
                throw new TapException($"File descriptor {fd} is a tun device without IFF_TAP and IFF_VNET_HDR (flags 0x{request.ifr_flags:X})");
            }

            name ??= NameOf(request);
        }

        // The descriptors are the VMM's now (upstream closes them with the device): set them non-blocking.
        var queues = fds.Select(fd =>
        {
            // fcntl's third argument is an int for F_GETFL/F_SETFL, passed in the pointer's register.
            var flags = Libc.fcntl(fd, 3 /* F_GETFL */, null);
            _ = Libc.fcntl(fd, 4 /* F_SETFL */, (Libc.flock*)(nint)(flags | Libc.O_NONBLOCK));
            return new FdHandle(fd);
        }).ToArray();
        var tap = new Tap(name ?? "", queues);
        tap.SetHeaderSize();
        return tap;
    }

    private static Libc.ifreq NewRequest(string name)
    {
        var request = default(Libc.ifreq);
        var bytes = Encoding.ASCII.GetBytes(name);
        if (bytes.Length > 15)
        {
            throw new TapException($"Tap name {name} is longer than 15 characters");
        }

        for (var i = 0; i < bytes.Length; i++)
        {
            request.ifr_name[i] = bytes[i];
        }

        return request;
    }

    private static string NameOf(Libc.ifreq request)
    {
        var span = new ReadOnlySpan<byte>(request.ifr_name, 16);
        var end = span.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
    }

    private void SetHeaderSize()
    {
        var size = VnetHeaderSize;
        foreach (var q in _queues)
        {
            if (q.RawIoctl(Libc.TUNSETVNETHDRSZ, (nint)(&size)) < 0)
            {
                throw new TapException($"Cannot set the vnet header size of tap {Name}: {Errno()}");
            }
        }
    }

    /// <summary>What the tap may hand the guest: the offloads the driver accepted.</summary>
    public void SetOffload(TapOffload offload)
    {
        var flags = (uint)offload;
        foreach (var q in _queues)
        {
            if (q.RawIoctl(Libc.TUNSETOFFLOAD, (nint)flags) < 0)
            {
                throw new TapException($"Cannot set offloads 0x{flags:X} on tap {Name}: {Errno()}");
            }
        }
    }

    /// <summary>Host-side set-up, as upstream: address and mask, MAC, MTU, then the link up.</summary>
    public void Configure(IPAddress? ip, IPAddress? mask, PhysicalAddress? hostMac, int? mtu)
    {
        var sock = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (sock < 0)
        {
            throw new TapException($"Cannot open a socket to configure tap {Name}: {Errno()}");
        }

        using var socket = new FdHandle(sock);
        if (ip is not null)
        {
            SetAddress(socket, Libc.SIOCSIFADDR, ip, "address");
        }

        if (mask is not null)
        {
            SetAddress(socket, Libc.SIOCSIFNETMASK, mask, "netmask");
        }

        if (hostMac is not null)
        {
            var request = NewRequest(Name);
            request.sa_family = Libc.ARPHRD_ETHER;
            var mac = hostMac.GetAddressBytes();
            for (var i = 0; i < 6; i++)
            {
                request.sa_data[i] = mac[i];
            }

            Ioctl(socket, Libc.SIOCSIFHWADDR, ref request, "MAC address");
        }

        if (mtu is { } m)
        {
            var request = NewRequest(Name);
            request.ifr_mtu = m;
            Ioctl(socket, Libc.SIOCSIFMTU, ref request, "MTU");
        }

        var flags = NewRequest(Name);
        Ioctl(socket, Libc.SIOCGIFFLAGS, ref flags, "flags");
        flags.ifr_flags |= Libc.IFF_UP;
        Ioctl(socket, Libc.SIOCSIFFLAGS, ref flags, "flags (up)");
    }

    private void SetAddress(FdHandle socket, ulong request, IPAddress address, string what)
    {
        var r = NewRequest(Name);
        r.sa_family = Libc.AF_INET;
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < 4; i++)
        {
            r.sa_data[2 + i] = bytes[i];
        }

        Ioctl(socket, request, ref r, what);
    }

    private void Ioctl(FdHandle socket, ulong request, ref Libc.ifreq r, string what)
    {
        fixed (Libc.ifreq* p = &r)
        {
            if (socket.RawIoctl(request, (nint)p) < 0)
            {
                throw new TapException($"Cannot set the {what} of tap {Name}: {Errno()}");
            }
        }
    }

    /// <summary>Waits until queue pair <paramref name="pair"/> has a frame, <paramref name="stop"/> is signalled, or the tap goes away.</summary>
    public TapWait WaitReadable(int pair, EventFd stop)
    {
        ArgumentNullException.ThrowIfNull(stop);
        var polls = stackalloc Libc.pollfd[2];
        polls[0] = new Libc.pollfd { fd = stop.Fd, events = Libc.POLLIN };
        polls[1] = new Libc.pollfd { fd = _queues[pair].Fd, events = Libc.POLLIN };
        while (true)
        {
            var n = Libc.poll(polls, 2, -1);
            if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
            {
                continue;
            }

            if (n < 0 || (polls[0].revents & Libc.POLLIN) != 0)
            {
                return TapWait.Stopped;
            }

            if ((polls[1].revents & Libc.POLLIN) != 0)
            {
                return TapWait.Readable;
            }

            if ((polls[1].revents & (Libc.POLLERR | Libc.POLLHUP)) != 0)
            {
                return TapWait.Gone;
            }
        }
    }

    /// <summary>One frame (vnet header first) into <paramref name="buffer"/>; 0 when none is waiting or the tap failed.</summary>
    public int Read(int pair, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var n = Libc.read(_queues[pair].Fd, p, (nuint)buffer.Length);
            if (n >= 0)
            {
                return (int)n;
            }

            // EAGAIN: nothing waiting. Anything else (the interface was deleted) reads as empty too;
            // the poller sees POLLERR/POLLHUP and stops.
            return 0;
        }
    }

    /// <summary>One frame (vnet header first); false when the tap's queue is full and the frame was dropped.</summary>
    public bool Write(int pair, ReadOnlySpan<byte> frame)
    {
        fixed (byte* p = frame)
        {
            return Libc.write(_queues[pair].Fd, p, (nuint)frame.Length) == frame.Length;
        }
    }

    public void Dispose()
    {
        foreach (var q in _queues)
        {
            q.Dispose();
        }
    }
}
