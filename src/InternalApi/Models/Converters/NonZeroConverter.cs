using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudHypervisor.InternalApi.Models.Converters;

/// <summary>
/// Upstream declares some numbers as <c>NonZeroU64</c>, so a 0 fails deserialization with 400
/// (contract §9 item 11). Same wording as serde.
/// </summary>
public sealed class NonZeroUInt64Converter : JsonConverter<ulong>
{
    public override ulong Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetUInt64();
        return value != 0 ? value : throw new JsonException("invalid value: integer `0`, expected a nonzero u64");
    }

    public override void Write(Utf8JsonWriter writer, ulong value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue(value);
    }
}

/// <summary>The <c>NonZeroU32</c> form of <see cref="NonZeroUInt64Converter"/>.</summary>
public sealed class NonZeroUInt32Converter : JsonConverter<uint>
{
    public override uint Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetUInt32();
        return value != 0 ? value : throw new JsonException("invalid value: integer `0`, expected a nonzero u32");
    }

    public override void Write(Utf8JsonWriter writer, uint value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue(value);
    }
}
