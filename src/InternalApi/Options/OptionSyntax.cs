using System.Globalization;
using System.Numerics;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>Parses one value's text; false when the text is not a valid value.</summary>
public delegate bool TryParser<T>(string text, out T value);

/// <summary>
/// The value grammar shared by every option string (contract §6.2), as pure functions:
/// comma splitting that respects double quotes and nested brackets, de-quoting, toggles, binary
/// sizes, integer lists with ranges, string lists and <c>key@value</c> tuple lists. The rules
/// follow upstream's <c>option_parser</c> crate so that the same strings are accepted and refused.
/// </summary>
public static class OptionSyntax
{
    /// <summary>
    /// Splits <paramref name="text"/> (trimmed) at commas that are outside double quotes and
    /// outside <c>[...]</c> (nesting allowed). Quotes and brackets stay in the parts. False for
    /// unbalanced quotes or brackets.
    /// </summary>
    public static bool TrySplitCommas(string text, out List<string> parts)
    {
        ArgumentNullException.ThrowIfNull(text);
        parts = [];
        var depth = 0;
        var inQuotes = false;
        var current = new System.Text.StringBuilder();
        foreach (var c in text.Trim())
        {
            if (c == '"')
            {
                inQuotes = !inQuotes;
            }
            else if (!inQuotes)
            {
                if (c == '[')
                {
                    depth++;
                }
                else if (c == ']')
                {
                    if (depth == 0)
                    {
                        return false;
                    }

                    depth--;
                }
                else if (c == ',' && depth == 0)
                {
                    parts.Add(current.ToString());
                    current.Clear();
                    continue;
                }
            }

            current.Append(c);
        }

        parts.Add(current.ToString());
        return !inQuotes && depth == 0;
    }

    /// <summary>
    /// Removes the double quotes of a value; inside a quoted run, <c>""</c> stands for one literal
    /// quote (<c>"a""b"</c> is <c>a"b</c>).
    /// </summary>
    public static string Dequote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Contains('"', StringComparison.Ordinal))
        {
            return text;
        }

        var output = new System.Text.StringBuilder(text.Length);
        var previous = '\0';
        var inQuotes = false;
        foreach (var c in text)
        {
            if (c == '"')
            {
                if (previous == '"' && !inQuotes)
                {
                    output.Append('"');
                }

                inQuotes = !inQuotes;
            }
            else
            {
                output.Append(c);
            }

            previous = c;
        }

        return output.ToString();
    }

    /// <summary><c>on|off|true|false</c> in any case; the empty string is false.</summary>
    public static bool TryParseToggle(string text, out bool value)
    {
        ArgumentNullException.ThrowIfNull(text);
        switch (text.ToLowerInvariant())
        {
            case "on" or "true":
                value = true;
                return true;
            case "" or "off" or "false":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    /// <summary>
    /// A byte count: an unsigned integer with an optional binary suffix <c>K</c>, <c>M</c> or
    /// <c>G</c> (upper case, as upstream). Surrounding white space is ignored.
    /// </summary>
    public static bool TryParseSize(string text, out ulong bytes)
    {
        ArgumentNullException.ThrowIfNull(text);
        bytes = 0;
        var trimmed = text.Trim();
        var shift = trimmed.Length == 0 ? 0 : trimmed[^1] switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            _ => 0,
        };

        // Upstream strips every trailing suffix letter but shifts once, so "1KK" is 1 KiB.
        var digits = trimmed.TrimEnd('K', 'M', 'G');
        if (!TryParseInteger(digits, out ulong number))
        {
            return false;
        }

        bytes = number << shift;
        return true;
    }

    /// <summary>
    /// A decimal integer of type <typeparamref name="T"/>: digits with an optional leading
    /// <c>+</c> (and <c>-</c> for signed types), no white space, no overflow.
    /// </summary>
    public static bool TryParseInteger<T>(string text, out T value)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        ArgumentNullException.ThrowIfNull(text);
        value = T.Zero;
        if (text.Length == 0 || (text[0] == '-' && T.IsZero(T.MinValue)))
        {
            return false;
        }

        return T.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>
    /// A hexadecimal integer written <c>0x&lt;digits&gt;</c>; the prefix is required (upstream's
    /// debug-console <c>iobase</c>).
    /// </summary>
    public static bool TryParseHex<T>(string text, out T value)
        where T : struct, IBinaryInteger<T>
    {
        ArgumentNullException.ThrowIfNull(text);
        value = T.Zero;
        if (!text.StartsWith("0x", StringComparison.Ordinal))
        {
            return false;
        }

        var digits = text.AsSpan(2);
        if (digits.Length > 0 && digits[0] == '+')
        {
            digits = digits[1..];
        }

        return digits.Length > 0 && T.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The most elements one integer list may expand to (a guard against <c>0-99999999999</c>).</summary>
    public const int MaxListElements = 1 << 16;

    /// <summary>
    /// An integer list such as <c>[0,2-4,7]</c> (= 0,2,3,4,7). Brackets are optional; a range
    /// must go upwards; every element must fit <typeparamref name="T"/>. An empty list is invalid,
    /// and so is one that expands to more than <see cref="MaxListElements"/> elements.
    /// </summary>
    public static bool TryParseIntegerList<T>(string text, out List<T> values)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        ArgumentNullException.ThrowIfNull(text);
        values = [];
        foreach (var range in text.Trim().Trim('[', ']').Split(','))
        {
            var ends = range.Split('-');
            if (ends.Length > 2 || !TryParseInteger(ends[0], out ulong start))
            {
                return false;
            }

            var end = start;
            if (ends.Length == 2 && (!TryParseInteger(ends[1], out end) || start >= end))
            {
                return false;
            }

            if (end - start >= (ulong)(MaxListElements - values.Count))
            {
                return false;
            }

            for (var i = start; ; i++)
            {
                if (i > ulong.CreateSaturating(T.MaxValue))
                {
                    return false;
                }

                values.Add(T.CreateTruncating(i));
                if (i == end)
                {
                    break;
                }
            }
        }

        return true;
    }

    /// <summary>A string list such as <c>[a,b]</c> or <c>a,b</c>; quoted commas stay inside an element.</summary>
    public static bool TryParseStringList(string text, out List<string> values)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TrySplitCommas(text.Trim().Trim('[', ']'), out values);
    }

    /// <summary>
    /// A tuple list such as <c>[0@[0,2],1@[1-3]]</c> or <c>[net0@[3,4]]</c>: bracketed, comma
    /// separated <c>key@value</c> elements (white space around an element is ignored, an empty key
    /// or a second <c>@</c> outside quotes is invalid).
    /// </summary>
    public static bool TryParseTupleList<TKey, TValue>(
        string text, TryParser<TKey> parseKey, TryParser<TValue> parseValue, out List<(TKey Key, TValue Value)> tuples)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(parseKey);
        ArgumentNullException.ThrowIfNull(parseValue);
        tuples = [];
        var trimmed = text.Trim();
        if (trimmed.Length < 2 || trimmed[0] != '[' || trimmed[^1] != ']'
            || !TrySplitCommas(trimmed[1..^1], out var elements))
        {
            return false;
        }

        foreach (var raw in elements)
        {
            var element = raw.Trim();
            var at = -1;
            var inQuotes = false;
            for (var i = 0; i < element.Length; i++)
            {
                if (element[i] == '"')
                {
                    inQuotes = !inQuotes;
                }
                else if (element[i] == '@' && !inQuotes)
                {
                    if (at >= 0)
                    {
                        return false;
                    }

                    at = i;
                }
            }

            if (at <= 0 || !parseKey(Dequote(element[..at]), out var key) || !parseValue(element[(at + 1)..], out var value))
            {
                return false;
            }

            tuples.Add((key, value));
        }

        return true;
    }

    /// <summary>Rust's <c>ParseIntError</c> wording for a text that <see cref="TryParseInteger{T}"/> refused.</summary>
    public static string DescribeIntegerError<T>(string text)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        ArgumentNullException.ThrowIfNull(text);
        var body = text.Length > 0 && (text[0] == '+' || text[0] == '-') ? text[1..] : text;
        if (text.Length == 0)
        {
            return "cannot parse integer from empty string";
        }

        if (body.Length == 0 || !body.All(char.IsAsciiDigit) || (text[0] == '-' && T.IsZero(T.MinValue)))
        {
            return "invalid digit found in string";
        }

        return text[0] == '-' ? "number too small to fit in target type" : "number too large to fit in target type";
    }
}
