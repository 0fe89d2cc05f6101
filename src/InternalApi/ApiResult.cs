namespace CloudHypervisor.InternalApi;

/// <summary>
/// The one answer to one command: success with an optional compact JSON body, or an error.
/// <c>Json == null</c> on success means "no body" (REST 204, or 200 empty for vmm.shutdown;
/// D-Bus <c>""</c>).
/// </summary>
public sealed record ApiResult
{
    private ApiResult(string? json, ApiError? error)
    {
        Json = json;
        Error = error;
    }

    public string? Json { get; }
    public ApiError? Error { get; }
    public bool IsSuccess => Error is null;

    public static ApiResult Ok() => OkEmpty;
    public static ApiResult Ok(string json) => new(json, null);
    public static ApiResult Fail(ApiError error) => new(null, error);

    public static implicit operator ApiResult(ApiError error) => Fail(error);

    private static readonly ApiResult OkEmpty = new(null, null);
}
