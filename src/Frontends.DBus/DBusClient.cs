using System.Runtime.InteropServices;
using CloudHypervisor.Frontends.DBus.Interop;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>The answer to one call: the string reply (null for a method without one), or a D-Bus error.</summary>
public sealed record DBusCallResult(string? Value, string? ErrorName, string? ErrorMessage)
{
    public bool IsError => ErrorName is not null;
}

/// <summary>The bus could not be reached or the call got no answer at all (not a D-Bus error reply).</summary>
public sealed class DBusClientException : Exception
{
    public DBusClientException()
    {
    }

    public DBusClientException(string message)
        : base(message)
    {
    }

    public DBusClientException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A client of <c>org.cloudhypervisor.DBusApi1</c> (for ch-remote): calls a method with zero or one
/// string argument, and listens to the Event signal. Calls are synchronous and serialized by a
/// lock, which is all sd-bus asks of a connection used from more than one thread.
/// </summary>
public sealed class DBusClient : IDisposable
{
    private readonly Lock _lock = new();
    private readonly BusConnection _bus;
    private readonly string? _address;
    private readonly bool _systemBus;
    private bool _disposed;

    private DBusClient(BusConnection bus, string serviceName, string objectPath, string? address, bool systemBus)
    {
        _bus = bus;
        ServiceName = serviceName;
        ObjectPath = objectPath;
        _address = address;
        _systemBus = systemBus;
    }

    public string ServiceName { get; }
    public string ObjectPath { get; }

    /// <summary>
    /// Connects to the session bus (or the system bus, or <paramref name="address"/> when given);
    /// the default buses honour DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS.
    /// </summary>
    public static DBusClient Connect(string serviceName, string objectPath, bool systemBus = false, string? address = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(objectPath);
        try
        {
            return new DBusClient(BusConnection.Open(address, systemBus), serviceName, objectPath, address, systemBus);
        }
        catch (BusException e)
        {
            throw new DBusClientException($"Cannot connect to the D-Bus {(address ?? (systemBus ? "system bus" : "session bus"))}: {Libc.StrError(e.Errno)}", e);
        }
    }

    /// <summary>
    /// Calls <paramref name="method"/> of <c>org.cloudhypervisor.DBusApi1</c> with one string
    /// argument, or none when <paramref name="argument"/> is null.
    /// </summary>
    public DBusCallResult Call(string method, string? argument = null, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var r = SdBus.MessageNewMethodCall(_bus.Handle, out var call, ServiceName, ObjectPath, DBusInterface.Name, method);
            if (r < 0)
            {
                throw new DBusClientException($"Cannot call {method}: {Libc.StrError(-r)}");
            }

            var reply = IntPtr.Zero;
            try
            {
                if (argument is not null && (r = SdBus.MessageAppendString(call, (byte)'s', argument)) < 0)
                {
                    throw new DBusClientException($"Cannot call {method}: {Libc.StrError(-r)}");
                }

                var usec = timeout is { } t ? (ulong)(t.Ticks / 10) : 0UL; // 0: sd-bus's default (25 s)
                reply = Exchange(call, usec, method);
                var replyError = SdBus.MessageGetError(reply);
                if (replyError != IntPtr.Zero)
                {
                    // SAFETY: sd_bus_message_get_error returns a pointer to an sd_bus_error owned by
                    // the reply, which stays referenced until the finally block below.
                    var e = Marshal.PtrToStructure<SdBusError>(replyError);
                    return new DBusCallResult(null, Marshal.PtrToStringUTF8(e.Name) ?? "org.freedesktop.DBus.Error.Failed",
                        Marshal.PtrToStringUTF8(e.Message) ?? string.Empty);
                }

                return new DBusCallResult(Messages.Signature(reply) == "s" ? Messages.ReadString(reply) : null, null, null);
            }
            finally
            {
                if (reply != IntPtr.Zero)
                {
                    SdBus.MessageUnref(reply);
                }

                SdBus.MessageUnref(call);
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="call"/> once and waits for its reply (or sd-bus's NoReply error at
    /// the timeout). sd_bus_call cannot be used: it gives up with -EINTR when a signal reaches
    /// the thread (the .NET runtime signals threads, e.g. to suspend them for the GC), and
    /// sending again could run a non-idempotent action twice. Here an interrupted wait just waits
    /// again. Returns the reply message with a reference the caller releases.
    /// </summary>
    private unsafe IntPtr Exchange(IntPtr call, ulong usec, string method)
    {
        var pending = new PendingReply();
        var handle = GCHandle.Alloc(pending);
        var slot = IntPtr.Zero;
        try
        {
            var r = SdBus.CallAsync(_bus.Handle, out slot, call, &OnReply, GCHandle.ToIntPtr(handle), usec);
            while (r >= 0 && pending.Reply == IntPtr.Zero)
            {
                r = SdBus.Process(_bus.Handle, IntPtr.Zero);
                if (r == 0)
                {
                    r = SdBus.Wait(_bus.Handle, ulong.MaxValue);
                }

                if (r == -Libc.EINTR)
                {
                    r = 0;
                }
            }

            return r < 0
                ? throw new DBusClientException($"{method} got no answer from {ServiceName}: {Libc.StrError(-r)}")
                : pending.Reply;
        }
        finally
        {
            if (slot != IntPtr.Zero)
            {
                SdBus.SlotUnref(slot);
            }

            handle.Free();
        }
    }

    [UnmanagedCallersOnly]
    private static int OnReply(IntPtr message, IntPtr userdata, IntPtr retError)
    {
        // Runs inside sd_bus_process on the calling thread; only keeps a reference to the reply.
        var pending = (PendingReply)GCHandle.FromIntPtr(userdata).Target!;
        pending.Reply = SdBus.MessageRef(message);
        return 0;
    }

    private sealed class PendingReply
    {
        public IntPtr Reply { get; set; }
    }

    /// <summary>
    /// Starts listening to the Event signal of the service on a connection of its own; each
    /// record (the pretty JSON of the event file) goes to <paramref name="onEvent"/> on the
    /// listener's thread. Dispose the listener to stop.
    /// </summary>
    public DBusEventListener ListenForEvents(Action<string> onEvent) =>
        DBusEventListener.Start(_address, _systemBus, ServiceName, ObjectPath, onEvent);

    public void Dispose()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _disposed = true;
                _bus.Dispose();
            }
        }
    }
}
