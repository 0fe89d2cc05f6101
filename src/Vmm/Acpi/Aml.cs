using System.Text;

namespace CloudHypervisor.Vmm.Acpi;

/// <summary>
/// A small AML encoder (ACPI 6.5 §20.2, "AML Grammar Definition"). Every method returns the
/// encoded bytes of one term, so a table is built by nesting calls the way ASL nests. Only the
/// constructs our DSDT needs exist; each follows the grammar's byte layout exactly.
/// </summary>
public static class Aml
{
    public const byte ZeroOp = 0x00;
    public const byte OneOp = 0x01;
    public const byte NameOp = 0x08;
    public const byte BytePrefix = 0x0A;
    public const byte WordPrefix = 0x0B;
    public const byte DWordPrefix = 0x0C;
    public const byte StringPrefix = 0x0D;
    public const byte QWordPrefix = 0x0E;
    public const byte ScopeOp = 0x10;
    public const byte BufferOp = 0x11;
    public const byte PackageOp = 0x12;
    public const byte MethodOp = 0x14;
    public const byte DualNamePrefix = 0x2E;
    public const byte MultiNamePrefix = 0x2F;
    public const byte ExtOpPrefix = 0x5B;
    public const byte RootChar = 0x5C;
    public const byte ParentPrefixChar = 0x5E;
    public const byte Local0Op = 0x60;
    public const byte Arg0Op = 0x68;
    public const byte StoreOp = 0x70;
    public const byte ShiftLeftOp = 0x79;
    public const byte AndOp = 0x7B;
    public const byte NotifyOp = 0x86;
    public const byte LEqualOp = 0x93;
    public const byte IfOp = 0xA0;
    public const byte ReturnOp = 0xA4;
    public const byte OnesOp = 0xFF;

    // Second bytes after ExtOpPrefix.
    public const byte OpRegionOp = 0x80;
    public const byte FieldOp = 0x81;
    public const byte DeviceOp = 0x82;

    /// <summary>
    /// PkgLength (§20.2.4) for a package whose contents after the PkgLength are
    /// <paramref name="contentLength"/> bytes: the encoded length counts its own bytes too.
    /// One byte holds up to 63; otherwise bits 7-6 of the lead byte give the number of
    /// following bytes, its bits 3-0 the low nibble, the following bytes the rest.
    /// </summary>
    public static byte[] PkgLength(int contentLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(contentLength);
        for (var extra = 0; extra <= 3; extra++)
        {
            var total = contentLength + 1 + extra;
            if (extra == 0 ? total <= 0x3F : total < 1 << (4 + 8 * extra))
            {
                return EncodeLength(total, extra);
            }
        }

        throw new ArgumentOutOfRangeException(nameof(contentLength), contentLength, "AML package too large (PkgLength holds 28 bits).");
    }

    /// <summary>
    /// The PkgLength encoding of a plain value, as field elements use it for their bit width
    /// (§20.2.5.2 NamedField := NameSeg PkgLength): the value does not count its own bytes.
    /// </summary>
    public static byte[] RawLength(int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        for (var extra = 0; extra <= 3; extra++)
        {
            if (extra == 0 ? value <= 0x3F : value < 1 << (4 + 8 * extra))
            {
                return EncodeLength(value, extra);
            }
        }

        throw new ArgumentOutOfRangeException(nameof(value), value, "AML length too large (PkgLength holds 28 bits).");
    }

    private static byte[] EncodeLength(int value, int extra)
    {
        if (extra == 0)
        {
            return [(byte)value];
        }

        var bytes = new byte[1 + extra];
        bytes[0] = (byte)((extra << 6) | (value & 0x0F));
        for (var i = 1; i <= extra; i++)
        {
            bytes[i] = (byte)(value >> (4 + 8 * (i - 1)));
        }

        return bytes;
    }

    /// <summary>An integer in its shortest encoding: ZeroOp, OneOp, OnesOp or a Byte/Word/DWord/QWord constant.</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        ulong.MaxValue => [OnesOp],
        <= byte.MaxValue => [BytePrefix, (byte)value],
        <= ushort.MaxValue => [WordPrefix, (byte)value, (byte)(value >> 8)],
        <= uint.MaxValue => Concat([DWordPrefix], BitConverter.GetBytes((uint)value)),
        _ => Concat([QWordPrefix], BitConverter.GetBytes(value)),
    };

    /// <summary>A string constant: StringPrefix, ASCII characters, NUL.</summary>
    public static byte[] String(string value)
    {
        foreach (var c in value)
        {
            if (c is < (char)1 or > (char)0x7F)
            {
                throw new ArgumentException($"AML strings are ASCII without NUL: '{value}'.", nameof(value));
            }
        }

        return Concat([StringPrefix], Encoding.ASCII.GetBytes(value), [0]);
    }

    /// <summary>
    /// A NameString (§20.2.2): optional root (<c>\</c>) or parent (<c>^</c>) prefixes, then name
    /// segments separated by dots, each padded with '_' to four characters. Two segments take
    /// DualNamePrefix, more take MultiNamePrefix and a count.
    /// </summary>
    public static byte[] NameString(string path)
    {
        var prefix = new List<byte>();
        var i = 0;
        if (path.StartsWith('\\'))
        {
            prefix.Add(RootChar);
            i = 1;
        }
        else
        {
            while (i < path.Length && path[i] == '^')
            {
                prefix.Add(ParentPrefixChar);
                i++;
            }
        }

        var rest = path[i..];
        if (rest.Length == 0)
        {
            return [.. prefix, 0x00];
        }

        var segments = rest.Split('.').Select(NameSeg).ToArray();
        var body = segments.Length switch
        {
            1 => segments[0],
            2 => Concat([DualNamePrefix], segments[0], segments[1]),
            <= 255 => Concat([MultiNamePrefix, (byte)segments.Length], Concat(segments)),
            _ => throw new ArgumentException($"Too many name segments in '{path}'.", nameof(path)),
        };
        return [.. prefix, .. body];
    }

    /// <summary>One NameSeg: a lead character A-Z or '_', then A-Z, 0-9 or '_', padded with '_' to four.</summary>
    public static byte[] NameSeg(string segment)
    {
        if (segment.Length is 0 or > 4)
        {
            throw new ArgumentException($"An AML name segment has 1 to 4 characters: '{segment}'.", nameof(segment));
        }

        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            var c = i < segment.Length ? segment[i] : '_';
            var valid = c is (>= 'A' and <= 'Z') or '_' || (i > 0 && c is >= '0' and <= '9');
            if (!valid)
            {
                throw new ArgumentException($"Invalid character '{c}' in AML name segment '{segment}'.", nameof(segment));
            }

            bytes[i] = (byte)c;
        }

        return bytes;
    }

    /// <summary>
    /// A compressed EISA id (ASL <c>EisaId("PNP0C0C")</c>): three letters of 5 bits each and four
    /// hex digits, stored big-endian as a DWord constant.
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(Uri.IsHexDigit))
        {
            throw new ArgumentException($"An EISA id is three capital letters and four hex digits: '{id}'.", nameof(id));
        }

        var vendor = ((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40);
        var product = Convert.ToUInt16(id[3..], 16);
        uint bigEndian = ((uint)vendor << 16) | product;
        var value = ((bigEndian & 0xFF) << 24) | ((bigEndian & 0xFF00) << 8) | ((bigEndian >> 8) & 0xFF00) | (bigEndian >> 24);
        return Concat([DWordPrefix], BitConverter.GetBytes(value));
    }

    /// <summary>DefName := NameOp NameString DataRefObject.</summary>
    public static byte[] Name(string name, byte[] value) => Concat([NameOp], NameString(name), value);

    /// <summary>DefPackage := PackageOp PkgLength NumElements PackageElementList.</summary>
    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255)
        {
            throw new ArgumentException("A Package holds at most 255 elements (use VarPackage).", nameof(elements));
        }

        return WithPkgLength([PackageOp], Concat([(byte)elements.Length], Concat(elements)));
    }

    /// <summary>DefBuffer := BufferOp PkgLength BufferSize ByteList.</summary>
    public static byte[] Buffer(byte[] bytes) =>
        WithPkgLength([BufferOp], Concat(Integer((ulong)bytes.Length), bytes));

    /// <summary>DefScope := ScopeOp PkgLength NameString TermList.</summary>
    public static byte[] Scope(string name, params byte[][] terms) =>
        WithPkgLength([ScopeOp], Concat(NameString(name), Concat(terms)));

    /// <summary>DefDevice := ExtOpPrefix DeviceOp PkgLength NameString TermList.</summary>
    public static byte[] Device(string name, params byte[][] terms) =>
        WithPkgLength([ExtOpPrefix, DeviceOp], Concat(NameString(name), Concat(terms)));

    /// <summary>DefMethod := MethodOp PkgLength NameString MethodFlags TermList; flags: ArgCount bits 0-2, SerializeFlag bit 3.</summary>
    public static byte[] Method(string name, int argCount, bool serialized, params byte[][] terms)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(argCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(argCount, 7);
        var flags = (byte)(argCount | (serialized ? 1 << 3 : 0));
        return WithPkgLength([MethodOp], Concat(NameString(name), [flags], Concat(terms)));
    }

    /// <summary>DefOpRegion := ExtOpPrefix OpRegionOp NameString RegionSpace RegionOffset RegionLen.</summary>
    public static byte[] OperationRegion(string name, AmlRegionSpace space, ulong offset, ulong length) =>
        Concat([ExtOpPrefix, OpRegionOp], NameString(name), [(byte)space], Integer(offset), Integer(length));

    /// <summary>
    /// DefField := ExtOpPrefix FieldOp PkgLength NameString FieldFlags FieldList, with NamedField
    /// elements (NameSeg, then the bit width in PkgLength encoding) laid out from offset 0.
    /// </summary>
    public static byte[] Field(string region, AmlFieldAccess access, AmlFieldUpdate update, params AmlFieldUnit[] units)
    {
        var flags = (byte)((int)access | ((int)update << 5));
        var list = units.Select(u => Concat(NameSeg(u.Name), RawLength(u.Bits))).ToArray();
        return WithPkgLength([ExtOpPrefix, FieldOp], Concat(NameString(region), [flags], Concat(list)));
    }

    /// <summary>LocalN (Local0Op + n).</summary>
    public static byte[] Local(int n) => n is >= 0 and <= 7 ? [(byte)(Local0Op + n)] : throw new ArgumentOutOfRangeException(nameof(n));

    /// <summary>ArgN (Arg0Op + n).</summary>
    public static byte[] Arg(int n) => n is >= 0 and <= 6 ? [(byte)(Arg0Op + n)] : throw new ArgumentOutOfRangeException(nameof(n));

    /// <summary>DefStore := StoreOp TermArg SuperName.</summary>
    public static byte[] Store(byte[] source, byte[] target) => Concat([StoreOp], source, target);

    /// <summary>DefAnd := AndOp Operand Operand Target; an empty target is NullName.</summary>
    public static byte[] And(byte[] left, byte[] right, byte[]? target = null) => Concat([AndOp], left, right, target ?? [0x00]);

    /// <summary>DefLEqual := LEqualOp Operand Operand.</summary>
    public static byte[] LEqual(byte[] left, byte[] right) => Concat([LEqualOp], left, right);

    /// <summary>DefIfElse without Else := IfOp PkgLength Predicate TermList.</summary>
    public static byte[] If(byte[] predicate, params byte[][] terms) => WithPkgLength([IfOp], Concat(predicate, Concat(terms)));

    /// <summary>DefNotify := NotifyOp NotifyObject NotifyValue.</summary>
    public static byte[] Notify(string target, ulong value) => Concat([NotifyOp], NameString(target), Integer(value));

    /// <summary>DefNotify with a computed value (e.g. an argument): NotifyOp NotifyObject TermArg.</summary>
    public static byte[] Notify(string target, byte[] value) => Concat([NotifyOp], NameString(target), value);

    /// <summary>DefShiftLeft := ShiftLeftOp Operand ShiftCount Target; an empty target is NullName.</summary>
    public static byte[] ShiftLeft(byte[] value, byte[] count, byte[]? target = null) => Concat([ShiftLeftOp], value, count, target ?? [0x00]);

    /// <summary>MethodInvocation := NameString TermArgList (the callee's argument count decides how many follow).</summary>
    public static byte[] Call(string method, params byte[][] args) => Concat(NameString(method), Concat(args));

    /// <summary>DefReturn := ReturnOp ArgObject.</summary>
    public static byte[] Return(byte[] value) => Concat([ReturnOp], value);

    /// <summary>A name reference used as a term argument (a NameString on its own).</summary>
    public static byte[] Ref(string path) => NameString(path);

    /// <summary>ASL <c>ResourceTemplate</c>: a Buffer of resource descriptors closed by an End Tag (checksum 0 = not computed, §6.4.2.9).</summary>
    public static byte[] ResourceTemplate(params byte[][] descriptors) =>
        Buffer(Concat(Concat(descriptors), [0x79, 0x00]));

    private static byte[] WithPkgLength(byte[] op, byte[] content) => Concat(op, PkgLength(content.Length), content);

    internal static byte[] Concat(params byte[][] parts)
    {
        var result = new byte[parts.Sum(p => p.Length)];
        var offset = 0;
        foreach (var part in parts)
        {
            part.CopyTo(result, offset);
            offset += part.Length;
        }

        return result;
    }
}

/// <summary>RegionSpace keywords of OperationRegion (§19.6.100).</summary>
public enum AmlRegionSpace : byte
{
    SystemMemory = 0x00,
    SystemIO = 0x01,
}

/// <summary>AccessType bits 0-3 of FieldFlags.</summary>
public enum AmlFieldAccess
{
    AnyAcc = 0,
    ByteAcc = 1,
    WordAcc = 2,
    DWordAcc = 3,
    QWordAcc = 4,
}

/// <summary>UpdateRule bits 5-6 of FieldFlags.</summary>
public enum AmlFieldUpdate
{
    Preserve = 0,
    WriteAsOnes = 1,
    WriteAsZeros = 2,
}

/// <summary>One named field unit: a NameSeg and its width in bits.</summary>
public sealed record AmlFieldUnit(string Name, int Bits);
