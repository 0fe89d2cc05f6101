using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CloudHypervisor.InternalApi.Json;

/// <summary>
/// The one JSON policy (STYLE.md §7): snake_case names, unset optional fields omitted, unknown
/// members rejected, enums spelled as upstream's Rust variant names, compact output. Defined by
/// <see cref="ApiJsonContext"/>; every frontend and the event monitor use it through here.
/// </summary>
public static class ApiJson
{
    /// <summary>Upstream's first chain element for a body that does not deserialize.</summary>
    public const string DeserializeFailed = "Failed to deserialize JSON";

    /// <summary>Options of the source-generated context (AOT-safe).</summary>
    public static JsonSerializerOptions Options => ApiJsonContext.Default.Options;

    /// <summary>Compact JSON of <paramref name="value"/>.</summary>
    public static string Serialize<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    /// <summary>
    /// Parses <paramref name="utf8"/> as <typeparamref name="T"/>. Failures come back as an
    /// InvalidArgument error <c>["Failed to deserialize JSON", "&lt;what and where&gt;"]</c>, also
    /// for an array longer than <see cref="JsonArrayLimit.MaxElements"/>, which is refused before
    /// any of it is materialized.
    /// </summary>
    public static (T? Value, ApiError? Error) Deserialize<T>(ReadOnlySpan<byte> utf8, JsonTypeInfo<T> type)
        where T : class
    {
        if (JsonArrayLimit.Check(utf8) is { } tooLong)
        {
            return (null, ApiError.Request(ApiErrorKind.InvalidArgument, DeserializeFailed, tooLong));
        }

        try
        {
            var value = JsonSerializer.Deserialize(utf8, type);
            return value is null
                ? (null, ApiError.Request(ApiErrorKind.InvalidArgument, DeserializeFailed, "expected a JSON object, found null"))
                : (value, null);
        }
        catch (JsonException e)
        {
            return (null, ApiError.Request(ApiErrorKind.InvalidArgument, DeserializeFailed, Describe(e)));
        }
        catch (InvalidOperationException e)
        {
            return (null, ApiError.Request(ApiErrorKind.InvalidArgument, DeserializeFailed, e.Message));
        }
    }

    /// <summary>A one-line description of a JSON failure that names the field and position.</summary>
    public static string Describe(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var message = e.Message;
        const string unmapped = "The JSON property '";
        if (message.StartsWith(unmapped, StringComparison.Ordinal))
        {
            var end = message.IndexOf('\'', unmapped.Length);
            if (end > unmapped.Length)
            {
                var field = message[unmapped.Length..end];
                return $"unknown field `{field}` at {e.Path ?? "$"}";
            }
        }

        var path = e.Path ?? "$";
        const string missing = "was missing required properties including: ";
        var at = message.IndexOf(missing, StringComparison.Ordinal);
        if (at >= 0)
        {
            // STJ lists the JSON names as 'a', 'b'. serde says "missing field `a`".
            var names = message[(at + missing.Length)..].TrimEnd('.', ' ')
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(n => $"`{n.Trim('\'')}`");
            return $"missing field {string.Join(", ", names)} at {path}";
        }

        if (message.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
        {
            // STJ names a .NET type here, sometimes the parent's; the path names the field.
            return $"invalid type or value at {path}{ExpectedType(message)}";
        }

        const string duplicate = "Duplicate property '";
        var duplicateEnd = message.StartsWith(duplicate, StringComparison.Ordinal) ? message.IndexOf('\'', duplicate.Length) : -1;
        if (duplicateEnd > 0)
        {
            return $"duplicate field `{message[duplicate.Length..duplicateEnd]}` at {path}";
        }

        if (message.Contains("doesn't allow null values", StringComparison.Ordinal))
        {
            return $"invalid type: null at {path}";
        }

        // Our converters (Models/Converters) speak serde's words; the path names the field.
        if (message.StartsWith("unknown variant ", StringComparison.Ordinal)
            || message.StartsWith("invalid type: ", StringComparison.Ordinal)
            || message.StartsWith("invalid value: ", StringComparison.Ordinal))
        {
            return $"{message} at {path}";
        }

        var where = e.LineNumber is { } line
            ? $" at line {line + 1} column {(e.BytePositionInLine ?? 0) + 1}"
            : string.Empty;
        // STJ's messages end with a pointer to Path/LineNumber; keep the first sentence.
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut > 0)
        {
            message = message[..cut];
        }

        return message.TrimEnd() + where;
    }

    private static string ExpectedType(string message) =>
        message["The JSON value could not be converted to ".Length..].Split(' ')[0].TrimEnd('.') switch
        {
            "System.Byte" => ": expected u8",
            "System.UInt16" => ": expected u16",
            "System.UInt32" => ": expected u32",
            "System.UInt64" => ": expected u64",
            "System.Int32" => ": expected i32",
            "System.Int64" => ": expected i64",
            "System.Boolean" => ": expected a boolean",
            "System.String" => ": expected a string",
            _ => string.Empty,
        };
}
