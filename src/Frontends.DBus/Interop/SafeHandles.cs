using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>
/// An sd_bus connection. Dispose it on the thread that owns the bus: release flushes what is
/// queued, closes the socket and drops our reference.
/// </summary>
internal sealed class SdBusHandle : SafeHandle
{
    public SdBusHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public SdBusHandle(IntPtr bus)
        : base(IntPtr.Zero, ownsHandle: true) => SetHandle(bus);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        SdBus.FlushCloseUnref(handle);
        return true;
    }
}

/// <summary>An sd_bus_slot (object registration or match); unref removes the registration.</summary>
internal sealed class SdBusSlotHandle : SafeHandle
{
    public SdBusSlotHandle(IntPtr slot)
        : base(IntPtr.Zero, ownsHandle: true) => SetHandle(slot);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        SdBus.SlotUnref(handle);
        return true;
    }
}

/// <summary>
/// An eventfd used to wake a bus thread out of poll(2) when another thread posts work.
/// </summary>
internal sealed class EventFdHandle : SafeHandle
{
    private EventFdHandle(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    public int Fd => (int)handle;

    public static EventFdHandle Create()
    {
        var fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (fd < 0)
        {
            throw new IOException("eventfd failed: " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }

        return new EventFdHandle(fd);
    }

    /// <summary>Wakes the poller; safe from any thread.</summary>
    public unsafe void Signal()
    {
        ulong one = 1;
        // An EAGAIN (counter saturated) still leaves the fd readable, which is all we need.
        _ = Libc.write(this, &one, sizeof(ulong));
    }

    /// <summary>Clears the readable state (bus thread only).</summary>
    public unsafe void Drain()
    {
        ulong value;
        _ = Libc.read(this, &value, sizeof(ulong));
    }

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
