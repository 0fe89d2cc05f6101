namespace CloudHypervisor.InternalApi.Validation;

/// <summary>
/// Why a <see cref="Models.VmConfig"/> failed validation: the error kind (AlreadyExists for a
/// duplicate id or path, InvalidArgument for everything else) and upstream's messages, outermost
/// first, e.g. <c>["Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"]</c>.
/// </summary>
public sealed record ConfigValidationError(ApiErrorKind Kind, IReadOnlyList<string> Messages)
{
    /// <summary>Upstream's chain element between the per-action message and the validation messages.</summary>
    public const string FailedToValidate = "Failed to validate config";

    /// <summary>
    /// The whole API error for <paramref name="action"/>, as upstream's cold add answers it:
    /// <c>["Error from API", action.ErrorMessage, "Failed to validate config", Messages...]</c>.
    /// </summary>
    public ApiError ToApiError(ApiAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return ApiError.For(action, Kind, [FailedToValidate, .. Messages]);
    }

    internal static ConfigValidationError Invalid(params string[] messages) =>
        new(ApiErrorKind.InvalidArgument, messages);

    internal static ConfigValidationError Duplicate(string message) =>
        new(ApiErrorKind.AlreadyExists, [message]);

    public override string ToString() => $"{Kind}: {string.Join(": ", Messages)}";
}
