using CloudHypervisor.InternalApi.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CloudHypervisor.InternalApi;

/// <summary>The HTTP method of an action route. Upstream uses only these two.</summary>
public enum ApiVerb
{
    Get,
    Put,
}

/// <summary>How a successful answer looks on the wire.</summary>
public enum ApiReplyKind
{
    /// <summary>Always no body: REST 204, D-Bus no out argument.</summary>
    NoContent,
    /// <summary>Always a JSON body: REST 200, D-Bus out <c>s</c>.</summary>
    Json,
    /// <summary>Hot-plug answers 200 with PciDeviceInfo, cold-plug 204; D-Bus out <c>s</c>, <c>""</c> for none.</summary>
    OptionalJson,
    /// <summary>vmm.shutdown: REST 200 with an empty body, D-Bus no out argument.</summary>
    EmptyOk,
}

/// <summary>
/// One catalog entry: everything both frontends and both documents need to know about an
/// action. Parsing is a pure function from the request body to a command or an error.
/// </summary>
public sealed class ApiAction
{
    private readonly Func<ReadOnlyMemory<byte>, ApiCommandOrError> _parse;

    internal ApiAction(
        string name,
        ApiVerb verb,
        string? bodySchema,
        string? dbusArgument,
        ApiReplyKind reply,
        string? responseSchema,
        string errorMessage,
        Func<ReadOnlyMemory<byte>, ApiCommandOrError> parse)
    {
        Name = name;
        Verb = verb;
        BodySchema = bodySchema;
        DBusArgument = dbusArgument;
        Reply = reply;
        ResponseSchema = responseSchema;
        ErrorMessage = errorMessage;
        _parse = parse;
        DBusMethod = ToPascalCase(name);
    }

    /// <summary>Upstream's action name, e.g. <c>vm.add-disk</c>; the REST path is <c>/api/v1/{Name}</c>.</summary>
    public string Name { get; }

    public ApiVerb Verb { get; }

    /// <summary>The OpenAPI schema of the request body, or null when the action takes none.</summary>
    public string? BodySchema { get; }

    /// <summary>The D-Bus in-argument name (upstream's Rust parameter name), or null.</summary>
    public string? DBusArgument { get; }

    public ApiReplyKind Reply { get; }

    /// <summary>The OpenAPI schema of a 200 body, or null.</summary>
    public string? ResponseSchema { get; }

    /// <summary>The second element of the error array (contract §1.5), e.g. "The VM could not boot".</summary>
    public string ErrorMessage { get; }

    /// <summary>The D-Bus method name: <c>vm.add-disk</c> becomes <c>VmAddDisk</c>.</summary>
    public string DBusMethod { get; }

    /// <summary>The REST path.</summary>
    public string Path => "/api/v1/" + Name;

    public bool TakesBody => BodySchema is not null;

    /// <summary>
    /// Turns a request body (empty for "no body") into this action's command, or an
    /// InvalidArgument error: a body where none belongs, none where one is needed, malformed
    /// JSON, a wrong type, a missing required field or an unknown field.
    /// </summary>
    public ApiCommandOrError Parse(ReadOnlyMemory<byte> body) => _parse(body);

    public override string ToString() => Name;

    internal static Func<ReadOnlyMemory<byte>, ApiCommandOrError> NoBody(Func<ApiCommand> make) =>
        body => body.IsEmpty
            ? new ApiCommandOrError(make())
            : new ApiCommandOrError(ApiError.BadRequest("this action takes no request body"));

    internal static Func<ReadOnlyMemory<byte>, ApiCommandOrError> WithBody<TBody>(
        JsonTypeInfo<TBody> type, Func<TBody, ApiCommand> make) where TBody : class =>
        body =>
        {
            if (body.IsEmpty)
            {
                return new ApiCommandOrError(ApiError.BadRequest("this action needs a JSON request body"));
            }

            var parsed = ApiJson.Deserialize(body.Span, type);
            return parsed.Error is { } error
                ? new ApiCommandOrError(error)
                : new ApiCommandOrError(make(parsed.Value!));
        };

    private static string ToPascalCase(string name)
    {
        var chars = new List<char>(name.Length);
        var upper = true;
        foreach (var c in name)
        {
            if (c is '.' or '-' or '_')
            {
                upper = true;
                continue;
            }

            chars.Add(upper ? char.ToUpperInvariant(c) : c);
            upper = false;
        }

        return new string([.. chars]);
    }
}

/// <summary>The outcome of <see cref="ApiAction.Parse"/>: exactly one of the two is set.</summary>
public readonly record struct ApiCommandOrError
{
    public ApiCommandOrError(ApiCommand command) => Command = command;

    public ApiCommandOrError(ApiError error) => Error = error;

    public ApiCommand? Command { get; }
    public ApiError? Error { get; }
}
