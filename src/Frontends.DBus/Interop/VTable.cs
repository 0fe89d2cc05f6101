using System.Runtime.InteropServices;
using System.Text;

namespace CloudHypervisor.Frontends.DBus.Interop;

/// <summary>One method of a vtable: signatures and argument names (null or empty for none).</summary>
internal sealed record VTableMethod(string Member, string InSignature, string OutSignature, string? InName, string? OutName);

/// <summary>One signal of a vtable.</summary>
internal sealed record VTableSignal(string Member, string Signature, string ArgName);

/// <summary>
/// An sd_bus_vtable array in native memory, laid out as systemd 252 x86-64 expects (measured,
/// NOTES.md): 56-byte entries, 8 bytes <c>type | flags &lt;&lt; 8</c> then a 48-byte union.
/// sd-bus keeps pointers into the array and its strings for as long as the object is
/// registered, so this must outlive the slot that uses it.
/// </summary>
internal sealed unsafe class VTable : IDisposable
{
    private readonly List<IntPtr> _allocations = [];
    private byte* _entries;

    public VTable(
        IReadOnlyList<VTableMethod> methods,
        IReadOnlyList<VTableSignal> signals,
        delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> handler)
    {
        var count = methods.Count + signals.Count + 2;
        _entries = (byte*)NativeMemory.AllocZeroed((nuint)(count * SdBus.VTableEntrySize));
        var format = NativeLibrary.GetExport(NativeLibrary.Load(SdBus.Library), "sd_bus_object_vtable_format");

        var e = _entries;
        Header(e, SdBus.VTableStart, 0);
        Word(e, 8) = SdBus.VTableEntrySize;
        Word(e, 16) = (long)SdBus.VTableFeatureParamNames;
        Word(e, 24) = format;

        foreach (var m in methods)
        {
            e += SdBus.VTableEntrySize;
            Header(e, SdBus.VTableMethod, SdBus.VTableUnprivileged);
            Word(e, 8) = Utf8(m.Member);
            Word(e, 16) = Utf8(m.InSignature);
            Word(e, 24) = Utf8(m.OutSignature);
            Word(e, 32) = (IntPtr)handler;
            Word(e, 40) = 0;
            // sd-bus wants every argument named once any is: in names, then out names, each
            // NUL-terminated, then a final NUL.
            Word(e, 48) = Names(m.InName, m.OutName);
        }

        foreach (var s in signals)
        {
            e += SdBus.VTableEntrySize;
            Header(e, SdBus.VTableSignal, 0);
            Word(e, 8) = Utf8(s.Member);
            Word(e, 16) = Utf8(s.Signature);
            Word(e, 24) = Names(s.ArgName, null);
        }

        e += SdBus.VTableEntrySize;
        Header(e, SdBus.VTableEnd, 0);
    }

    public IntPtr Pointer => (IntPtr)_entries;

    public void Dispose()
    {
        foreach (var p in _allocations)
        {
            NativeMemory.Free((void*)p);
        }

        _allocations.Clear();
        NativeMemory.Free(_entries);
        _entries = null;
    }

    private static void Header(byte* entry, byte type, ulong flags) =>
        *(ulong*)entry = type | (flags << 8);

    private static ref long Word(byte* entry, int offset) => ref *(long*)(entry + offset);

    private long Utf8(string s) => Bytes(Encoding.UTF8.GetBytes(s + "\0"));

    private long Names(string? first, string? second)
    {
        var text = new StringBuilder();
        foreach (var name in new[] { first, second })
        {
            if (!string.IsNullOrEmpty(name))
            {
                text.Append(name).Append('\0');
            }
        }

        text.Append('\0');
        return Bytes(Encoding.UTF8.GetBytes(text.ToString()));
    }

    private long Bytes(byte[] bytes)
    {
        var p = NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        _allocations.Add((IntPtr)p);
        return (long)p;
    }
}
