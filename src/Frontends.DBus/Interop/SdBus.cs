using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>
/// The libsystemd sd-bus functions we call, all non-variadic (NOTES.md "D-Bus through sd-bus").
/// Every function returns a negative errno on failure. sd-bus objects are single-threaded: only
/// the thread that owns a bus may call these with it (or with its messages and slots).
/// </summary>
internal static partial class SdBus
{
    public const string Library = "libsystemd.so.0";

    /// <summary>sd_bus_vtable entry types (sd-bus-vtable.h).</summary>
    public const byte VTableStart = (byte)'<';
    public const byte VTableEnd = (byte)'>';
    public const byte VTableMethod = (byte)'M';
    public const byte VTableSignal = (byte)'S';

    /// <summary>SD_BUS_VTABLE_UNPRIVILEGED: without it sd-bus denies non-root callers.</summary>
    public const ulong VTableUnprivileged = 1UL << 2;

    /// <summary>_SD_BUS_VTABLE_PARAM_NAMES: the vtable carries argument names for introspection.</summary>
    public const ulong VTableFeatureParamNames = 1UL << 0;

    /// <summary>The size of one sd_bus_vtable entry on systemd 252 x86-64 (measured, NOTES.md).</summary>
    public const int VTableEntrySize = 56;

    [LibraryImport(Library, EntryPoint = "sd_bus_open_user")]
    public static partial int OpenUser(out IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_open_system")]
    public static partial int OpenSystem(out IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_new")]
    public static partial int New(out IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_set_address", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetAddress(SdBusHandle bus, string address);

    [LibraryImport(Library, EntryPoint = "sd_bus_set_bus_client")]
    public static partial int SetBusClient(SdBusHandle bus, int client);

    [LibraryImport(Library, EntryPoint = "sd_bus_start")]
    public static partial int Start(SdBusHandle bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_flush_close_unref")]
    public static partial IntPtr FlushCloseUnref(IntPtr bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_get_fd")]
    public static partial int GetFd(SdBusHandle bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_get_events")]
    public static partial int GetEvents(SdBusHandle bus);

    [LibraryImport(Library, EntryPoint = "sd_bus_get_timeout")]
    public static partial int GetTimeout(SdBusHandle bus, out ulong timeoutUsec);

    [LibraryImport(Library, EntryPoint = "sd_bus_process")]
    public static partial int Process(SdBusHandle bus, IntPtr message);

    [LibraryImport(Library, EntryPoint = "sd_bus_get_unique_name")]
    public static partial int GetUniqueName(SdBusHandle bus, out IntPtr name);

    [LibraryImport(Library, EntryPoint = "sd_bus_request_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RequestName(SdBusHandle bus, string name, ulong flags);

    [LibraryImport(Library, EntryPoint = "sd_bus_add_object_vtable", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int AddObjectVTable(SdBusHandle bus, out IntPtr slot, string path, string @interface, IntPtr vtable, IntPtr userdata);

    [LibraryImport(Library, EntryPoint = "sd_bus_match_signal", StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int MatchSignal(
        SdBusHandle bus,
        out IntPtr slot,
        string? sender,
        string? path,
        string? @interface,
        string? member,
        delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> callback,
        IntPtr userdata);

    [LibraryImport(Library, EntryPoint = "sd_bus_slot_unref")]
    public static partial IntPtr SlotUnref(IntPtr slot);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_ref")]
    public static partial IntPtr MessageRef(IntPtr message);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_unref")]
    public static partial IntPtr MessageUnref(IntPtr message);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_get_member")]
    public static partial IntPtr MessageGetMember(IntPtr message);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_get_signature")]
    public static partial IntPtr MessageGetSignature(IntPtr message, int complete);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_get_error")]
    public static partial IntPtr MessageGetError(IntPtr message);

    /// <summary>For type 's' the out value is a char* owned by the message.</summary>
    [LibraryImport(Library, EntryPoint = "sd_bus_message_read_basic")]
    public static partial int MessageReadBasic(IntPtr message, byte type, out IntPtr value);

    /// <summary>For type 's' the pointer is the char* itself (not a pointer to it).</summary>
    [LibraryImport(Library, EntryPoint = "sd_bus_message_append_basic", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MessageAppendString(IntPtr message, byte type, string value);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_new_method_return")]
    public static partial int MessageNewMethodReturn(IntPtr call, out IntPtr reply);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_new_signal", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MessageNewSignal(SdBusHandle bus, out IntPtr message, string path, string @interface, string member);

    [LibraryImport(Library, EntryPoint = "sd_bus_message_new_method_call", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MessageNewMethodCall(SdBusHandle bus, out IntPtr message, string destination, string path, string @interface, string member);

    [LibraryImport(Library, EntryPoint = "sd_bus_send")]
    public static partial int Send(SdBusHandle bus, IntPtr message, IntPtr cookie);

    /// <summary>sd_bus_send with the bus taken from the message (bus == NULL), for replies.</summary>
    [LibraryImport(Library, EntryPoint = "sd_bus_send")]
    public static partial int SendOnMessageBus(IntPtr bus, IntPtr message, IntPtr cookie);

    [LibraryImport(Library, EntryPoint = "sd_bus_reply_method_error")]
    public static partial int ReplyMethodError(IntPtr call, in SdBusError error);

    /// <summary>
    /// Sends a method call; <paramref name="callback"/> (<c>int (*)(sd_bus_message *m, void *userdata,
    /// sd_bus_error *ret_error)</c>) gets the reply, an error reply, or a synthesized NoReply at the
    /// timeout, from inside <see cref="Process"/>.
    /// </summary>
    [LibraryImport(Library, EntryPoint = "sd_bus_call_async")]
    public static unsafe partial int CallAsync(SdBusHandle bus, out IntPtr slot, IntPtr message,
        delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> callback, IntPtr userdata, ulong usecTimeout);

    /// <summary>Waits for the bus fd (or the timeout); -EINTR when a signal arrives first.</summary>
    [LibraryImport(Library, EntryPoint = "sd_bus_wait")]
    public static partial int Wait(SdBusHandle bus, ulong usecTimeout);
}

/// <summary>struct sd_bus_error { const char *name; const char *message; int _need_free; }.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SdBusError
{
    public IntPtr Name;
    public IntPtr Message;
    public int NeedFree;
}
