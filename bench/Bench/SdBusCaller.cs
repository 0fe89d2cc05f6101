using System.Runtime.InteropServices;

namespace CloudHypervisor.Bench;

/// <summary>
/// A blocking sd-bus client on one connection opened once: each call is one sd_bus_call, so a
/// sample is the D-Bus round trip through dbus-daemon and nothing else (no process per call).
/// Its own few declarations rather than the product's DBusClient, because the bare floor calls
/// org.freedesktop.DBus.Peer.Ping, which DBusClient (bound to our interface) cannot, and both
/// figures should come from the same code path. Used from one thread only, as sd-bus requires.
/// </summary>
internal sealed partial class SdBusCaller : IDisposable
{
    private const string Library = "libsystemd.so.0";
    private IntPtr _bus;

    private SdBusCaller(IntPtr bus) => _bus = bus;

    public static SdBusCaller Open(string address)
    {
        Check(New(out var bus), "sd_bus_new");
        var caller = new SdBusCaller(bus);
        try
        {
            Check(SetAddress(bus, address), "sd_bus_set_address");
            Check(SetBusClient(bus, 1), "sd_bus_set_bus_client");
            Check(Start(bus), "sd_bus_start");
            return caller;
        }
        catch
        {
            caller.Dispose();
            throw;
        }
    }

    /// <summary>Calls a method without arguments; throws on a D-Bus error so a broken service cannot pass as fast.</summary>
    public void Call(string destination, string path, string @interface, string member)
    {
        Check(NewMethodCall(_bus, out var call, destination, path, @interface, member), "sd_bus_message_new_method_call");
        var error = default(BusError);
        var reply = IntPtr.Zero;
        try
        {
            var r = SdBusCall(_bus, call, 5_000_000, ref error, out reply);
            if (r < 0)
            {
                throw new InvalidOperationException(
                    $"{@interface}.{member} failed: {Marshal.PtrToStringUTF8(error.Name) ?? $"errno {-r}"} {Marshal.PtrToStringUTF8(error.Message)}");
            }
        }
        finally
        {
            ErrorFree(ref error);
            if (reply != IntPtr.Zero)
            {
                MessageUnref(reply);
            }

            MessageUnref(call);
        }
    }

    public void Dispose()
    {
        if (_bus != IntPtr.Zero)
        {
            FlushCloseUnref(_bus);
            _bus = IntPtr.Zero;
        }
    }

    private static void Check(int r, string what)
    {
        if (r < 0)
        {
            throw new InvalidOperationException($"{what} failed: errno {-r}");
        }
    }

    /// <summary>struct sd_bus_error { const char *name; const char *message; int _need_free; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BusError
    {
        public IntPtr Name;
        public IntPtr Message;
        public int NeedFree;
    }

    [LibraryImport(Library, EntryPoint = "sd_bus_new")]
    private static partial int New(out IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_set_address", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetAddress(IntPtr bus, string address);

    [LibraryImport(Library, EntryPoint = "sd_bus_set_bus_client")]
    private static partial int SetBusClient(IntPtr bus, int client);

    [LibraryImport(Library, EntryPoint = "sd_bus_start")]
    private static partial int Start(IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_flush_close_unref")]
    private static partial IntPtr FlushCloseUnref(IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_new_method_call", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NewMethodCall(IntPtr bus, out IntPtr message, string destination, string path, string @interface, string member);

    [LibraryImport(Library, EntryPoint = "sd_bus_call")]
    private static partial int SdBusCall(IntPtr bus, IntPtr message, ulong usecTimeout, ref BusError error, out IntPtr reply);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_unref")]
    private static partial IntPtr MessageUnref(IntPtr message);

    [LibraryImport(Library, EntryPoint = "sd_bus_error_free")]
    private static partial void ErrorFree(ref BusError error);
}
