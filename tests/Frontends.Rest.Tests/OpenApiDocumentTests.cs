using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// openapi/cloud-hypervisor.yaml describes exactly what we serve (DESIGN.md rule 1): checked both
// ways against ApiCatalog, and its schemas against the models' JSON metadata.
public sealed class OpenApiDocumentTests
{
    private const string GeneratedMarker = "    # ---- generated from the InternalApi models below this line ----\n";
    private static readonly string[] ErrorStatuses = ["400", "404", "405", "409", "413", "429", "500"];

    private static string DocumentPath => Path.Combine(AppContext.BaseDirectory, "openapi", "cloud-hypervisor.yaml");

    private static readonly Lazy<YamlMap> Document = new(() => YamlSubset.Parse(File.ReadAllText(DocumentPath)));

    private static YamlMap Paths => Document.Value.Map("paths");

    private static string? Ref(YamlMap node) => node.Scalar("$ref");

    [Fact]
    public void Every_catalog_action_is_a_path_and_every_path_is_a_catalog_action_or_the_event_stream()
    {
        var documented = Paths.Entries
            .Where(p => (p.Value as YamlMap)!.Entries.All(m => (m.Value as YamlMap)!.Scalar("x-feature") is null || IsCompiledIn(p.Key)))
            .Select(p => p.Key)
            .Order(StringComparer.Ordinal);
        var served = ApiCatalog.All.Select(a => "/" + a.Name).Append("/events").Order(StringComparer.Ordinal);

        Assert.Equal(served, documented);
        Assert.Equal("http://localhost/api/v1", (((YamlSequence)Document.Value["servers"]!).Items[0] as YamlMap)!.Scalar("url"));
    }

    public static TheoryData<string> ActionNames() => [.. ApiCatalog.All.Select(a => a.Name)];

    [Theory]
    [MemberData(nameof(ActionNames))]
    public void Each_action_has_its_method_body_schema_and_statuses(string name)
    {
        var action = ApiCatalog.Find(name)!;
        var path = Paths.Map("/" + name);
        var method = action.Verb == ApiVerb.Get ? "get" : "put";
        Assert.Equal([method], path.Keys);
        var operation = path.Map(method);
        Assert.Equal(name, operation.Scalar("operationId"));

        var body = operation["requestBody"] as YamlMap;
        Assert.Equal(action.BodySchema is null ? null : "#/components/schemas/" + action.BodySchema,
            body is null ? null : Ref(body.Map("content").Map("application/json").Map("schema")));

        var responses = operation.Map("responses");
        var success = action.Reply switch
        {
            ApiReplyKind.NoContent => new[] { "204" },
            ApiReplyKind.Json or ApiReplyKind.EmptyOk => ["200"],
            ApiReplyKind.OptionalJson => ["200", "204"],
            _ => throw new InvalidOperationException(action.Reply.ToString()),
        };
        Assert.Equal(success.Concat(ErrorStatuses).Order(StringComparer.Ordinal), responses.Keys.Order(StringComparer.Ordinal));

        var ok = responses["200"] as YamlMap;
        var okSchema = ok?["content"] is YamlMap content ? Ref(content.Map("application/json").Map("schema")) : null;
        var expectedOk = action.Reply is ApiReplyKind.Json or ApiReplyKind.OptionalJson ? "#/components/schemas/" + action.ResponseSchema : null;
        Assert.Equal(expectedOk, okSchema);
        Assert.Null(responses["204"] is YamlMap noContent ? noContent["content"] : null);
    }

    [Fact]
    public void Error_responses_are_the_json_array_and_busy_carries_Retry_After()
    {
        var responses = Document.Value.Map("components").Map("responses");
        foreach (var (name, node) in responses.Entries)
        {
            var schema = ((YamlMap)node).Map("content").Map("application/json").Map("schema");
            Assert.True(Ref(schema) == "#/components/schemas/ErrorChain", name);
        }

        Assert.NotNull(responses.Map("Busy").Map("headers")["Retry-After"]);
        Assert.NotNull(responses.Map("MethodNotAllowed").Map("headers")["Allow"]);
        var chain = Document.Value.Map("components").Map("schemas").Map("ErrorChain");
        Assert.Equal("array", chain.Scalar("type"));
        Assert.Equal("string", chain.Map("items").Scalar("type"));
    }

    [Fact]
    public void The_event_stream_is_documented_as_ndjson_with_since_and_follow()
    {
        var events = Paths.Map("/events");
        Assert.Equal(["get"], events.Keys);
        var get = events.Map("get");
        var parameters = ((YamlSequence)get["parameters"]!).Items.Cast<YamlMap>().ToList();
        Assert.Equal(["since", "follow"], parameters.Select(p => p.Scalar("name")));
        Assert.All(parameters, p => Assert.Equal("query", p.Scalar("in")));
        Assert.Equal("#/components/schemas/Event",
            Ref(get.Map("responses").Map("200").Map("content").Map("application/x-ndjson").Map("schema")));
    }

    [Fact]
    public void Every_reference_resolves_and_every_schema_is_referenced()
    {
        var text = File.ReadAllText(DocumentPath);
        var references = System.Text.RegularExpressions.Regex.Matches(text, "\\$ref: '#/components/(schemas|responses)/([A-Za-z0-9]+)'")
            .Select(m => (Kind: m.Groups[1].Value, Name: m.Groups[2].Value))
            .ToHashSet();
        var components = Document.Value.Map("components");
        foreach (var (kind, name) in references)
        {
            Assert.True(components.Map(kind)[name] is not null, $"#/components/{kind}/{name} is missing");
        }

        foreach (var kind in new[] { "schemas", "responses" })
        {
            foreach (var name in components.Map(kind).Keys)
            {
                Assert.True(references.Contains((kind, name)), $"#/components/{kind}/{name} is never referenced");
            }
        }
    }

    [Fact]
    public void The_schemas_are_the_models_json_shapes()
    {
        var text = File.ReadAllText(DocumentPath).Replace("\r\n", "\n", StringComparison.Ordinal);
        var marker = text.IndexOf(GeneratedMarker, StringComparison.Ordinal);
        Assert.True(marker > 0, "the generated-schemas marker is missing");
#if GUEST_DEBUG
        // The document describes the default build; guest_debug adds VmConfig.gdb (and vm.coredump,
        // marked x-feature). The member must exist here, so this list cannot go stale.
        string[] featureOnly = ["VmConfig.gdb"];
        Assert.Contains(ApiJsonContext.Default.VmConfig.Properties, p => p.Name == "gdb");
#else
        string[] featureOnly = [];
#endif
        var expected = SchemaWriter.WriteCatalogSchemas(featureOnly.ToHashSet());
        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI") is { Length: > 0 } target)
        {
            // UPDATE_OPENAPI=<path of openapi/cloud-hypervisor.yaml in the source tree>
            File.WriteAllText(target, text[..(marker + GeneratedMarker.Length)] + expected);
        }

        Assert.Equal(expected, text[(marker + GeneratedMarker.Length)..]);
    }

    private static bool IsCompiledIn(string path) => ApiCatalog.Find(path.TrimStart('/')) is not null;
}
