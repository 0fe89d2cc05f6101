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
    private readonly Func<ReadOnlyMemory<byte>, PassedFds, ApiCommandOrError> _parse;

    internal ApiAction(
        string name,
        ApiVerb verb,
        string? bodySchema,
        string? dbusArgument,
        ApiReplyKind reply,
        string? responseSchema,
        string errorMessage,
        Func<ReadOnlyMemory<byte>, PassedFds, ApiCommandOrError> parse)
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
    public ApiCommandOrError Parse(ReadOnlyMemory<byte> body) => Parse(body, PassedFds.None);

    /// <summary>
    /// <see cref="Parse(ReadOnlyMemory{byte})"/> for a request that came with file descriptors
    /// (SCM_RIGHTS, contract §1.6). The result owns <paramref name="fds"/>: the four actions that
    /// take descriptors (add-net, add-device, restore, receive-migration) write their numbers into
    /// the body and carry them as <see cref="ApiCommand.Fds"/>; otherwise, or on an error, they are
    /// closed here.
    /// </summary>
    public ApiCommandOrError Parse(ReadOnlyMemory<byte> body, PassedFds fds)
    {
        ArgumentNullException.ThrowIfNull(fds);
        var parsed = _parse(body, fds);
        if (parsed.Command is not { } command || !ReferenceEquals(command.Fds, fds))
        {
            fds.Dispose();
        }

        return parsed;
    }

    public override string ToString() => Name;

    /// <summary>vmm.ping, vm.info and vmm.shutdown: upstream ignores any body they are sent (contract §1.5).</summary>
    internal static Func<ReadOnlyMemory<byte>, PassedFds, ApiCommandOrError> BodyIgnored(Func<ApiCommand> make) =>
        (_, _) => new ApiCommandOrError(make());

    internal static Func<ReadOnlyMemory<byte>, PassedFds, ApiCommandOrError> NoBody(Func<ApiCommand> make) =>
        (body, _) => body.IsEmpty
            ? new ApiCommandOrError(make())
            : new ApiCommandOrError(ApiError.BadRequest("this action takes no request body"));

    /// <param name="type">
    /// The body's JSON type, fetched at the first parse: a source-generated type is built when its
    /// property is first read, so reading every action's type up front would build them all at startup.
    /// </param>
    /// <param name="make">The command for a parsed body.</param>
    /// <param name="attach">
    /// For the actions that take descriptors: writes the received ones into the body, or answers
    /// why they do not fit (then nothing is kept). Null: the action takes none and they are closed.
    /// </param>
    internal static Func<ReadOnlyMemory<byte>, PassedFds, ApiCommandOrError> WithBody<TBody>(
        Func<JsonTypeInfo<TBody>> type, Func<TBody, ApiCommand> make, Func<TBody, IReadOnlyList<int>, ApiError?>? attach = null)
        where TBody : class =>
        (body, fds) =>
        {
            if (body.IsEmpty)
            {
                return new ApiCommandOrError(ApiError.BadRequest("this action needs a JSON request body"));
            }

            var parsed = ApiJson.Deserialize(body.Span, type());
            if (parsed.Error is { } error)
            {
                return new ApiCommandOrError(error);
            }

            if (attach is null)
            {
                return new ApiCommandOrError(make(parsed.Value!));
            }

            return attach(parsed.Value!, fds.Numbers) is { } refused
                ? new ApiCommandOrError(refused)
                : new ApiCommandOrError(make(parsed.Value!) with { Fds = fds });
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

/// <summary>The outcome of <see cref="ApiAction.Parse(ReadOnlyMemory{byte}, PassedFds)"/>: exactly one of the two is set.</summary>
public readonly record struct ApiCommandOrError
{
    public ApiCommandOrError(ApiCommand command) => Command = command;

    public ApiCommandOrError(ApiError error) => Error = error;

    public ApiCommand? Command { get; }
    public ApiError? Error { get; }
}
