using System.Runtime.InteropServices;

namespace CloudHypervisor.Vmm.Kvm.Interop;

/// <summary>A file descriptor owned by the KVM backend (/dev/kvm, a VM, a vCPU, a memfd, an eventfd, a PTY).</summary>
internal sealed class FdHandle : SafeHandle
{
    public FdHandle(int fd)
        : base(-1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>The raw descriptor; valid while this handle is alive (callers hold a reference).</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;

    /// <summary>An ioctl on this descriptor; returns the raw result (-1 with errno set on failure).</summary>
    public int RawIoctl(ulong request, nint arg)
    {
        var added = false;
        try
        {
            DangerousAddRef(ref added);
            return Libc.ioctl((int)handle, request, arg);
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>An ioctl that throws <see cref="KvmException"/> naming <paramref name="name"/> on failure.</summary>
    public int Ioctl(ulong request, nint arg, string name)
    {
        var result = RawIoctl(request, arg);
        return result < 0 ? throw KvmException.FromLastError(name) : result;
    }

    /// <summary>Wraps a libc return value, throwing the errno when it is -1.</summary>
    public static FdHandle Check(int fd, string operation) =>
        fd < 0 ? throw KvmException.FromLastError(operation) : new FdHandle(fd);
}

/// <summary>A mapping made with mmap, unmapped on release.</summary>
internal sealed class MmapHandle : SafeHandle
{
    public MmapHandle(nint address, nuint length)
        : base(Libc.MAP_FAILED, ownsHandle: true)
    {
        SetHandle(address);
        Length = length;
    }

    public override bool IsInvalid => handle == Libc.MAP_FAILED || handle == 0;

    public nuint Length { get; }

    public nint Address => handle;

    protected override bool ReleaseHandle() => Libc.munmap(handle, Length) == 0;

    public static MmapHandle Map(nuint length, int prot, int flags, int fd, string what)
    {
        var address = Libc.mmap(0, length, prot, flags, fd, 0);
        return address == Libc.MAP_FAILED ? throw KvmException.FromLastError($"mmap of {what}") : new MmapHandle(address, length);
    }
}
