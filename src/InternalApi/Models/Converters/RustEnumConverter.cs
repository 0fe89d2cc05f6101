using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudHypervisor.InternalApi.Models.Converters;

/// <summary>
/// Reads and writes an enum as its exact member name, which in every model equals upstream's Rust
/// variant name (contract §3.2 "Enum spellings"). Unlike <see cref="JsonStringEnumConverter{TEnum}"/>
/// it is case-sensitive and refuses numbers and comma lists, because serde does: <c>"acpi"</c> or
/// <c>0</c> for a HotplugMethod is a 400 upstream. AOT-clean (no reflection beyond enum names).
/// </summary>
public sealed class RustEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly string[] Names = Enum.GetNames<TEnum>();
    private static readonly TEnum[] Values = Enum.GetValues<TEnum>();
    private static readonly string Expected = string.Join(", ", Names.Select(n => $"`{n}`"));

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"invalid type: {Describe(reader.TokenType)}, expected one of {Expected}");
        }

        var text = reader.GetString();
        for (var i = 0; i < Names.Length; i++)
        {
            if (string.Equals(Names[i], text, StringComparison.Ordinal))
            {
                return Values[i];
            }
        }

        throw new JsonException($"unknown variant `{text}`, expected one of {Expected}");
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var index = Array.IndexOf(Values, value);
        if (index < 0)
        {
            throw new JsonException($"{typeof(TEnum).Name} has no variant for value {value}");
        }

        writer.WriteStringValue(Names[index]);
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "integer",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "map",
        JsonTokenType.StartArray => "sequence",
        _ => token.ToString(),
    };
}
