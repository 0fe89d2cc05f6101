using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// Writes OpenAPI component schemas from the models' source-generated JSON metadata (the same
/// metadata that reads and writes the wire), so the document's schemas are what we accept and
/// emit: property names, types, required members, enum spellings.
/// </summary>
public static class SchemaWriter
{
    /// <summary>The upstream schema name of a catalog body or response, mapped to its model type.</summary>
    public static Type ModelOf(string schema) => schema switch
    {
        "VmCounters" => typeof(Dictionary<string, Dictionary<string, ulong>>),
        _ => typeof(ApiAction).Assembly.GetType("CloudHypervisor.InternalApi.Models." + schema)
            ?? throw new InvalidOperationException($"no model named {schema}"),
    };

    /// <summary>
    /// The YAML of every schema reachable from the catalog, four-space indented, sorted by name,
    /// leaving out <paramref name="skip"/> ("Schema.property": members only some builds have).
    /// </summary>
    public static string WriteCatalogSchemas(IReadOnlySet<string>? skip = null)
    {
        _skip = skip ?? new HashSet<string>();
        var roots = ApiCatalog.All
            .SelectMany(a => new[] { a.BodySchema, a.ResponseSchema })
            .OfType<string>()
            .Append("VmCoredumpData") // documented with x-feature: guest_debug in every build
            .Distinct()
            .ToList();
        var named = new SortedDictionary<string, Type>(StringComparer.Ordinal);
        var pending = new Queue<(string Name, Type Type)>(roots.Select(r => (r, ModelOf(r))));
        while (pending.TryDequeue(out var next))
        {
            if (named.TryAdd(next.Name, next.Type))
            {
                foreach (var dependency in NamedDependencies(next.Type))
                {
                    pending.Enqueue((dependency.Name, dependency));
                }
            }
        }

        var yaml = new StringBuilder();
        foreach (var (name, type) in named)
        {
            yaml.Append("    ").Append(name).Append(":\n");
            WriteSchema(yaml, type, 6, inline: true);
        }

        return yaml.ToString();
    }

    [ThreadStatic]
    private static IReadOnlySet<string>? _skip;

    private static JsonTypeInfo Info(Type type) =>
        ApiJsonContext.Default.GetTypeInfo(type) ?? throw new InvalidOperationException($"{type} is not in ApiJsonContext");

    private static bool IsNamed(Type type) =>
        (type.IsClass && type != typeof(string) && Info(type).Kind == JsonTypeInfoKind.Object) || type.IsEnum;

    private static IEnumerable<Type> NamedDependencies(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var info = Info(type);
        var children = info.Kind switch
        {
            JsonTypeInfoKind.Object => info.Properties.Select(p => p.PropertyType),
            JsonTypeInfoKind.Enumerable or JsonTypeInfoKind.Dictionary => [info.ElementType!],
            _ => [],
        };
        foreach (var raw in children)
        {
            var child = Nullable.GetUnderlyingType(raw) ?? raw;
            if (IsNamed(child))
            {
                yield return child;
            }
            else
            {
                foreach (var nested in NamedDependencies(child))
                {
                    yield return nested;
                }
            }
        }
    }

    private static void WriteSchema(StringBuilder yaml, Type type, int indent, bool inline)
    {
        var pad = new string(' ', indent);
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (!inline && IsNamed(type))
        {
            yaml.Append(pad).Append("$ref: '#/components/schemas/").Append(type.Name).Append("'\n");
            return;
        }

        if (type.IsEnum)
        {
            var spellings = Enum.GetValues(type).Cast<object>()
                .Select(v => JsonSerializer.Serialize(v, type, ApiJsonContext.Default).Trim('"'));
            yaml.Append(pad).Append("type: string\n");
            yaml.Append(pad).Append("enum: [").Append(string.Join(", ", spellings)).Append("]\n");
            return;
        }

        if (type == typeof(JsonElement))
        {
            // Externally tagged enums (DeviceNode resources) are kept as raw JSON.
            yaml.Append(pad).Append("description: any JSON value\n");
            return;
        }

        var primitive = Primitive(type);
        if (primitive is not null)
        {
            foreach (var line in primitive.Split('\n'))
            {
                yaml.Append(pad).Append(line).Append('\n');
            }

            return;
        }

        var info = Info(type);
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Enumerable:
                yaml.Append(pad).Append("type: array\n").Append(pad).Append("items:\n");
                WriteSchema(yaml, info.ElementType!, indent + 2, inline: false);
                return;
            case JsonTypeInfoKind.Dictionary:
                yaml.Append(pad).Append("type: object\n").Append(pad).Append("additionalProperties:\n");
                WriteSchema(yaml, info.ElementType!, indent + 2, inline: false);
                return;
            case JsonTypeInfoKind.Object:
                yaml.Append(pad).Append("type: object\n");
                var properties = info.Properties.Where(p => _skip?.Contains(type.Name + "." + p.Name) != true).ToList();
                var required = properties.Where(p => p.IsRequired).Select(p => p.Name).ToList();
                if (required.Count > 0)
                {
                    yaml.Append(pad).Append("required: [").Append(string.Join(", ", required)).Append("]\n");
                }

                if (properties.Count > 0)
                {
                    yaml.Append(pad).Append("properties:\n");
                    foreach (var property in properties)
                    {
                        yaml.Append(pad).Append("  ").Append(property.Name).Append(":\n");
                        WriteSchema(yaml, property.PropertyType, indent + 4, inline: false);
                    }
                }

                return;
            case JsonTypeInfoKind.None:
            default:
                throw new InvalidOperationException($"no schema for {type}");
        }
    }

    private static string? Primitive(Type type) => Type.GetTypeCode(type) switch
    {
        TypeCode.String => "type: string",
        TypeCode.Boolean => "type: boolean",
        TypeCode.Byte => "type: integer\n" + "format: uint8",
        TypeCode.SByte => "type: integer\n" + "format: int8",
        TypeCode.Int16 => "type: integer\n" + "format: int16",
        TypeCode.UInt16 => "type: integer\n" + "format: uint16",
        TypeCode.Int32 => "type: integer\n" + "format: int32",
        TypeCode.UInt32 => "type: integer\n" + "format: uint32",
        TypeCode.Int64 => "type: integer\n" + "format: int64",
        TypeCode.UInt64 => "type: integer\n" + "format: uint64",
        TypeCode.Single or TypeCode.Double => "type: number",
        _ => null,
    };
}
