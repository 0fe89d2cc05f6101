using System.Runtime.InteropServices;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>
/// Reading and answering one incoming message (a method call or a signal). Called only on the
/// thread that owns the message's bus; <c>message</c> is a borrowed or referenced sd_bus_message*.
/// </summary>
internal static class Messages
{
    public static string Member(IntPtr message) =>
        Marshal.PtrToStringUTF8(SdBus.MessageGetMember(message)) ?? string.Empty;

    public static string Signature(IntPtr message) =>
        Marshal.PtrToStringUTF8(SdBus.MessageGetSignature(message, 1)) ?? string.Empty;

    /// <summary>Reads the next argument, which must be a string.</summary>
    public static string ReadString(IntPtr message)
    {
        BusConnection.Check(SdBus.MessageReadBasic(message, (byte)'s', out var value), "read string argument");
        return Marshal.PtrToStringUTF8(value) ?? string.Empty;
    }

    /// <summary>Replies to <paramref name="call"/> with one string, or with no argument when null.</summary>
    public static void ReplyString(IntPtr call, string? value)
    {
        BusConnection.Check(SdBus.MessageNewMethodReturn(call, out var reply), "new method return");
        try
        {
            if (value is not null)
            {
                BusConnection.Check(SdBus.MessageAppendString(reply, (byte)'s', value), "append reply");
            }

            // A null bus means "the bus of the message", which is the one the call came in on.
            BusConnection.Check(SdBus.SendOnMessageBus(IntPtr.Zero, reply, IntPtr.Zero), "send reply");
        }
        finally
        {
            SdBus.MessageUnref(reply);
        }
    }

    /// <summary>Replies to <paramref name="call"/> with a D-Bus error.</summary>
    public static void ReplyError(IntPtr call, string name, string message)
    {
        var error = new SdBusError
        {
            Name = Marshal.StringToCoTaskMemUTF8(name),
            Message = Marshal.StringToCoTaskMemUTF8(message),
        };
        try
        {
            BusConnection.Check(SdBus.ReplyMethodError(call, in error), "send error reply");
        }
        finally
        {
            Marshal.FreeCoTaskMem(error.Name);
            Marshal.FreeCoTaskMem(error.Message);
        }
    }
}
