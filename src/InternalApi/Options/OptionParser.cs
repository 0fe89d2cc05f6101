using System.Numerics;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// Upstream's <c>key=value,...</c> option-string parser (contract §6.2). Register the keys a flag
/// knows with <see cref="Add"/> (they need <c>=value</c>) or <see cref="AddValueless"/> (bare
/// words such as <c>off</c> or <c>tty</c>), call <see cref="Parse"/>, then read the values.
/// <para>
/// Rules: parts are separated by commas outside double quotes and outside (nested) brackets; the
/// key is the text before the first <c>=</c> and must be registered ("Unknown option: k"); a value
/// is trimmed and de-quoted when read; a later duplicate wins; an empty value (<c>k=</c>) reads as
/// "not given", so the default applies.
/// </para>
/// <para>
/// Typed readers (<see cref="Toggle"/>, <see cref="Size"/>, <see cref="Number{T}"/>, ...) never
/// throw: the first value that does not convert is kept in <see cref="Error"/> as
/// "Unable to convert &lt;value&gt; for &lt;key&gt;" and the reader returns its fallback, so a
/// builder reads every key and checks <see cref="Error"/> once.
/// </para>
/// </summary>
public sealed class OptionParser
{
    private readonly Dictionary<string, Entry> _options = new(StringComparer.Ordinal);

    /// <summary>Creates a parser that knows <paramref name="keys"/> (each needs a value).</summary>
    public OptionParser(params string[] keys)
    {
        Add(keys);
    }

    /// <summary>The first conversion failure of a typed reader, or null.</summary>
    public OptionError? Error { get; private set; }

    /// <summary>Registers keys that need <c>=value</c>.</summary>
    public OptionParser Add(params string[] keys) => Register(keys, requiresValue: true);

    /// <summary>Registers bare-word keys (their presence is the value).</summary>
    public OptionParser AddValueless(params string[] keys) => Register(keys, requiresValue: false);

    /// <summary>
    /// Parses <paramref name="input"/>; returns null on success or the leaf error
    /// ("Unknown option: k", "Invalid syntax: ..."). Options before a failing part stay set, as
    /// upstream (the API socket parser relies on this). Blank input sets nothing.
    /// </summary>
    public OptionError? Parse(string input) => ParseCore(input, ignoreUnknown: false);

    /// <summary>Like <see cref="Parse"/> but skips keys that are not registered.</summary>
    public OptionError? ParseSubset(string input) => ParseCore(input, ignoreUnknown: true);

    /// <summary>True when <paramref name="key"/> appeared in the input (with or without a value).</summary>
    public bool IsSet(string key) => _options.TryGetValue(key, out var entry) && entry.Value is not null;

    /// <summary>The de-quoted value of <paramref name="key"/>; null when absent or empty.</summary>
    public string? Get(string key) => Raw(key) is { Length: > 0 } raw ? OptionSyntax.Dequote(raw) : null;

    /// <summary>The value as written (trimmed, quotes kept); null when absent or empty.</summary>
    public string? Raw(string key) =>
        _options.TryGetValue(key, out var entry) && entry.Value is { Length: > 0 } value ? value : null;

    /// <summary>A toggle (<c>on|off|true|false</c>, any case); <paramref name="fallback"/> when absent or empty.</summary>
    public bool Toggle(string key, bool fallback) => Convert<bool>(key, OptionSyntax.TryParseToggle, dequote: false) ?? fallback;

    /// <summary>A byte size with optional K/M/G suffix; null when absent.</summary>
    public ulong? Size(string key) => Convert<ulong>(key, OptionSyntax.TryParseSize, dequote: true);

    /// <summary>A decimal integer of type <typeparamref name="T"/>; null when absent.</summary>
    public T? Number<T>(string key)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        Convert<T>(key, OptionSyntax.TryParseInteger, dequote: true);

    /// <summary>An integer list (<c>[1,3-5]</c>); null when absent.</summary>
    public List<T>? IntegerList<T>(string key)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        ConvertClass<List<T>>(key, OptionSyntax.TryParseIntegerList);

    /// <summary>A string list (<c>[a,b]</c>); null when absent.</summary>
    public List<string>? StringList(string key) => ConvertClass<List<string>>(key, OptionSyntax.TryParseStringList);

    /// <summary>A <c>[key@value,...]</c> tuple list; null when absent.</summary>
    public List<(TKey Key, TValue Value)>? TupleList<TKey, TValue>(string key, TryParser<TKey> parseKey, TryParser<TValue> parseValue)
    {
        ArgumentNullException.ThrowIfNull(parseKey);
        ArgumentNullException.ThrowIfNull(parseValue);
        return ConvertClass<List<(TKey, TValue)>>(
            key, (string text, out List<(TKey, TValue)> value) => OptionSyntax.TryParseTupleList(text, parseKey, parseValue, out value));
    }

    /// <summary>
    /// A value mapped by <paramref name="parse"/> (e.g. an enum spelled <c>virtio-mem</c>); null when
    /// absent. The value is de-quoted before parsing.
    /// </summary>
    public T? Parsed<T>(string key, TryParser<T> parse)
        where T : struct => Convert(key, parse, dequote: true);

    /// <summary>
    /// An object parsed by <paramref name="parse"/> from the value as written (quotes kept, so the
    /// parser decides); null when absent.
    /// </summary>
    public T? ParsedObject<T>(string key, TryParser<T> parse)
        where T : class => ConvertClass(key, parse);

    /// <summary>Records a semantic failure found by a builder (upstream's "Invalid value: ...") unless an earlier error is kept.</summary>
    public void Fail(OptionError error) => Error ??= error;

    private T? Convert<T>(string key, TryParser<T> parse, bool dequote)
        where T : struct
    {
        if (Raw(key) is not { } raw)
        {
            return null;
        }

        if (parse(dequote ? OptionSyntax.Dequote(raw) : raw, out var value))
        {
            return value;
        }

        Fail(OptionError.Of(OptionMessages.Conversion(key, raw)));
        return null;
    }

    private T? ConvertClass<T>(string key, TryParser<T> parse)
        where T : class
    {
        if (Raw(key) is not { } raw)
        {
            return null;
        }

        if (parse(raw, out var value))
        {
            return value;
        }

        Fail(OptionError.Of(OptionMessages.Conversion(key, raw)));
        return null;
    }

    private OptionParser Register(string[] keys, bool requiresValue)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
        {
            // Such a name could never be matched, because the splitter treats these characters specially.
            if (key.AsSpan().IndexOfAny("\"[]=,") >= 0)
            {
                throw new ArgumentException($"Forbidden character in option name '{key}'.", nameof(keys));
            }

            _options[key] = new Entry(requiresValue);
        }

        return this;
    }

    private OptionError? ParseCore(string input, bool ignoreUnknown)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (string.IsNullOrWhiteSpace(input))
        {
            return null;
        }

        if (!OptionSyntax.TrySplitCommas(input, out var parts))
        {
            return OptionError.Of(OptionMessages.InvalidSyntax(input));
        }

        foreach (var part in parts)
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? part : part[..equals];
            if (!_options.TryGetValue(key, out var entry))
            {
                if (ignoreUnknown)
                {
                    continue;
                }

                return OptionError.Of(OptionMessages.UnknownOption(key));
            }

            if (!entry.RequiresValue)
            {
                entry.Value = string.Empty;
            }
            else if (equals < 0)
            {
                return OptionError.Of(OptionMessages.InvalidSyntax(part));
            }
            else
            {
                entry.Value = part[(equals + 1)..].Trim();
            }
        }

        return null;
    }

    private sealed class Entry(bool requiresValue)
    {
        public bool RequiresValue { get; } = requiresValue;

        public string? Value { get; set; }
    }
}

/// <summary>Upstream's leaf messages (option_parser's <c>OptionParserError</c> Display).</summary>
public static class OptionMessages
{
    /// <summary>A key the flag does not know.</summary>
    public static string UnknownOption(string key) => $"Unknown option: {key}";

    /// <summary>Unbalanced quotes or brackets, or a missing <c>=value</c>.</summary>
    public static string InvalidSyntax(string text) => $"Invalid syntax: {text}";

    /// <summary>A value that does not convert to the key's type.</summary>
    public static string Conversion(string key, string value) => $"Unable to convert {value} for {key}";

    /// <summary>A value that converts but is not acceptable.</summary>
    public static string InvalidValue(string text) => $"Invalid value: {text}";
}
