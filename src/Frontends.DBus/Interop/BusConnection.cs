using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>A failed sd-bus call: what we tried and the errno sd-bus returned.</summary>
internal sealed class BusException(string what, int errno)
    : Exception($"{what}: {Libc.StrError(errno)}")
{
    public int Errno { get; } = errno;
}

/// <summary>
/// One sd-bus connection with the handful of operations the server and the client need. Not
/// thread-safe: the owning thread makes every call (NOTES.md).
/// </summary>
internal sealed class BusConnection : IDisposable
{
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int EALREADY = 114;

    private BusConnection(SdBusHandle bus) => Handle = bus;

    public SdBusHandle Handle { get; }

    /// <summary>
    /// Connects. With an explicit <paramref name="address"/> (e.g. <c>unix:path=/tmp/bus</c>) that
    /// bus; otherwise the session or system bus as libsystemd finds it, which honours
    /// DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS of the process environment.
    /// </summary>
    public static BusConnection Open(string? address, bool systemBus)
    {
        int r;
        SdBusHandle handle;
        if (address is null)
        {
            r = systemBus ? SdBus.OpenSystem(out var bus) : SdBus.OpenUser(out bus);
            Check(r, "connect");
            handle = new SdBusHandle(bus);
        }
        else
        {
            Check(SdBus.New(out var bus), "sd_bus_new");
            handle = new SdBusHandle(bus);
            r = SdBus.SetAddress(handle, address);
            if (r >= 0)
            {
                r = SdBus.SetBusClient(handle, 1);
            }

            if (r >= 0)
            {
                r = SdBus.Start(handle);
            }

            if (r < 0)
            {
                handle.Dispose();
                Check(r, "connect");
            }
        }

        return new BusConnection(handle);
    }

    /// <summary>Our unique name (":1.42"); waits for the Hello reply if needed.</summary>
    public string UniqueName
    {
        get
        {
            Check(SdBus.GetUniqueName(Handle, out var name), "get unique name");
            return Marshal.PtrToStringUTF8(name) ?? string.Empty;
        }
    }

    /// <summary>
    /// Requests <paramref name="name"/> without queueing or replacement; throws with errno
    /// EEXIST when another connection owns it.
    /// </summary>
    public void RequestName(string name)
    {
        var r = SdBus.RequestName(Handle, name, 0);
        if (r < 0 && -r != EALREADY)
        {
            throw new BusException($"request name {name}", -r);
        }
    }

    public SdBusSlotHandle AddObjectVTable(string path, string @interface, VTable vtable, IntPtr userdata)
    {
        Check(SdBus.AddObjectVTable(Handle, out var slot, path, @interface, vtable.Pointer, userdata), $"register object {path}");
        return new SdBusSlotHandle(slot);
    }

    /// <summary>Sends a signal with one string argument; queued in sd-bus if the socket is full.</summary>
    public void EmitSignal(string path, string @interface, string member, string argument)
    {
        Check(SdBus.MessageNewSignal(Handle, out var message, path, @interface, member), "new signal");
        try
        {
            Check(SdBus.MessageAppendString(message, (byte)'s', argument), "append signal argument");
            Check(SdBus.Send(Handle, message, IntPtr.Zero), "send signal");
        }
        finally
        {
            SdBus.MessageUnref(message);
        }
    }

    /// <summary>Runs sd_bus_process until it has nothing more to do. Returns 0, or a negative errno when the connection is lost.</summary>
    public int ProcessAll()
    {
        int r;
        while ((r = SdBus.Process(Handle, IntPtr.Zero)) > 0)
        {
        }

        return r;
    }

    /// <summary>
    /// Waits until the bus or <paramref name="wake"/> needs attention, or sd-bus's own timeout
    /// or <paramref name="maxWaitMs"/> passes. Returns false when the bus cannot be polled.
    /// </summary>
    public unsafe bool Wait(EventFdHandle wake, int maxWaitMs)
    {
        var fd = SdBus.GetFd(Handle);
        var events = SdBus.GetEvents(Handle);
        if (fd < 0 || events < 0)
        {
            return false;
        }

        var timeout = maxWaitMs;
        if (SdBus.GetTimeout(Handle, out var until) >= 0 && until != ulong.MaxValue)
        {
            var now = Libc.MonotonicUsec();
            var ms = until <= now ? 0 : (int)Math.Min(int.MaxValue, ((until - now) + 999) / 1000);
            timeout = timeout < 0 ? ms : Math.Min(timeout, ms);
        }

        var fds = stackalloc Libc.pollfd[2];
        fds[0] = new Libc.pollfd { fd = fd, events = (short)events };
        fds[1] = new Libc.pollfd { fd = wake.Fd, events = Libc.POLLIN };
        _ = Libc.poll(fds, 2, timeout);
        return true;
    }

    /// <summary>Waits for <paramref name="wake"/> only (while disconnected).</summary>
    public static unsafe void WaitWake(EventFdHandle wake, int timeoutMs)
    {
        var fds = stackalloc Libc.pollfd[1];
        fds[0] = new Libc.pollfd { fd = wake.Fd, events = Libc.POLLIN };
        _ = Libc.poll(fds, 1, timeoutMs);
    }

    public void Dispose() => Handle.Dispose();

    internal static void Check(int r, string what)
    {
        if (r < 0)
        {
            throw new BusException(what, -r);
        }
    }
}
