using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudHypervisor.InternalApi.Models.Converters;

/// <summary>
/// A file descriptor number inside a JSON body is never trusted (contract §1.6): whatever number a
/// client sends becomes -1, and a stored descriptor is written as -1. Real descriptors arrive out of
/// band (SCM_RIGHTS) and are set on the model by the VMM after parsing.
/// </summary>
public sealed class UntrustedFdConverter : JsonConverter<int?>
{
    public override bool HandleNull => false;

    public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // Still insist on an i32 so a wrong type is a 400, as serde would answer.
        _ = reader.GetInt32();
        return -1;
    }

    public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue(-1);
    }
}

/// <summary>The list form of <see cref="UntrustedFdConverter"/>: the length is kept, every entry is -1.</summary>
public sealed class UntrustedFdListConverter : JsonConverter<List<int>>
{
    public override List<int> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("invalid type, expected a sequence of file descriptors");
        }

        var fds = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            _ = reader.GetInt32();
            fds.Add(-1);
        }

        return fds;
    }

    public override void Write(Utf8JsonWriter writer, List<int> value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartArray();
        foreach (var _ in value)
        {
            writer.WriteNumberValue(-1);
        }

        writer.WriteEndArray();
    }
}
