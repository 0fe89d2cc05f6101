using System.Text;
using System.Text.Json;

namespace CloudHypervisor.InternalApi.Json;

/// <summary>
/// Bounds the length of every JSON array in a request body before it is deserialized. A 4 MiB
/// body of <c>{}</c> elements is 1.4 M device objects with all their defaults, gigabytes once
/// cloned, validated and written back by vm.info; no array of the API holds anywhere near
/// <see cref="MaxElements"/> legitimately (a VM has at most 31 PCI devices per segment, 254
/// vCPUs). The scan reads tokens only and allocates nothing per element.
/// </summary>
public static class JsonArrayLimit
{
    /// <summary>The longest array any request may carry.</summary>
    public const int MaxElements = 8192;

    /// <summary>
    /// Null when every array of <paramref name="utf8"/> has at most <paramref name="maxElements"/>
    /// elements, else serde's words for the first one that has more, with its path and length:
    /// <c>invalid length 1390000, expected at most 8192 elements at $.disks</c>. A body that is not
    /// well-formed JSON passes, so the deserializer reports what is wrong with it.
    /// </summary>
    public static string? Check(ReadOnlySpan<byte> utf8, int maxElements = MaxElements)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 256 });
        var frames = new List<Frame>();
        var overflow = -1;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        frames[^1] = frames[^1] with { Property = reader.GetString() };

                        break;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        Element(frames, ref overflow, maxElements);
                        frames.Add(new Frame(reader.TokenType == JsonTokenType.StartArray, null, 0));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        if (overflow == frames.Count - 1)
                        {
                            return $"invalid length {frames[^1].Count}, expected at most {maxElements} elements at {PathOf(frames, frames.Count - 1)}";
                        }

                        frames.RemoveAt(frames.Count - 1);
                        break;
                    case JsonTokenType.Comment:
                    case JsonTokenType.None:
                        break;
                    default:
                        Element(frames, ref overflow, maxElements);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Not well-formed: the deserializer says where.
        }

        return overflow >= 0
            ? $"invalid length {frames[overflow].Count}, expected at most {maxElements} elements at {PathOf(frames, overflow)}"
            : null;
    }

    /// <summary>Counts a value inside the innermost array; remembers the first array to grow too long.</summary>
    private static void Element(List<Frame> frames, ref int overflow, int maxElements)
    {
        if (frames.Count == 0 || !frames[^1].IsArray)
        {
            return;
        }

        var count = frames[^1].Count + 1;
        frames[^1] = frames[^1] with { Count = count };
        if (count > maxElements && overflow < 0)
        {
            overflow = frames.Count - 1;
        }
    }

    /// <summary>The JSON path of frame <paramref name="index"/>: $.cpus.affinity[0].host_cpus.</summary>
    private static string PathOf(List<Frame> frames, int index)
    {
        var path = new StringBuilder("$");
        for (var i = 0; i < index; i++)
        {
            if (frames[i].IsArray)
            {
                // The element being read is the last one counted.
                path.Append('[').Append(frames[i].Count - 1).Append(']');
            }
            else if (frames[i].Property is { } name)
            {
                path.Append('.').Append(name);
            }
        }

        return path.ToString();
    }

    private readonly record struct Frame(bool IsArray, string? Property, int Count);
}
