namespace CloudHypervisor.InternalApi;

/// <summary>
/// An error as a value. <see cref="Message"/> is the top message (for internal-API errors the
/// per-action message of the catalog, e.g. "The VM could not boot"); <see cref="Causes"/> are the
/// messages below it, root cause last.
/// </summary>
public sealed record ApiError(ApiErrorKind Kind, string Message, IReadOnlyList<string> Causes)
{
    /// <summary>Upstream's first chain element for every failure that came from the internal API.</summary>
    public const string FromApiPrefix = "Error from API";

    /// <summary>
    /// True when the error came from the internal API (the VMM), so the chain starts with
    /// "Error from API"; false for frontend-level errors such as "Failed to deserialize JSON".
    /// </summary>
    public bool FromApi { get; init; } = true;

    /// <summary>The whole chain as upstream's REST error body lists it.</summary>
    public IReadOnlyList<string> Chain =>
        FromApi ? [FromApiPrefix, Message, .. Causes] : [Message, .. Causes];

    /// <summary>An internal-API error for <paramref name="action"/> with its per-action message.</summary>
    public static ApiError For(ApiAction action, ApiErrorKind kind, params string[] causes) =>
        new(kind, action.ErrorMessage, causes);

    /// <summary>A frontend-level request error (not from the VMM), e.g. a bad body.</summary>
    public static ApiError Request(ApiErrorKind kind, string message, params string[] causes) =>
        new(kind, message, causes) { FromApi = false };

    /// <summary>Upstream's "Bad Request" answer for a body where none belongs or none where one is needed.</summary>
    public static ApiError BadRequest(params string[] causes) =>
        Request(ApiErrorKind.InvalidArgument, "Bad Request", causes);

    public override string ToString() => string.Join(": ", Chain);
}
