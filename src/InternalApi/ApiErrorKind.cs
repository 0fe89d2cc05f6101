namespace CloudHypervisor.InternalApi;

/// <summary>
/// What went wrong, independent of transport. Each frontend maps every kind in one switch
/// expression with no discard arm (DESIGN.md "Error kinds"), so a new kind breaks the build
/// until every frontend maps it.
/// </summary>
public enum ApiErrorKind
{
    /// <summary>No VM config is stored (HTTP 404).</summary>
    NotCreated,
    /// <summary>A named thing (device id, memory zone) does not exist (HTTP 404).</summary>
    NotFound,
    /// <summary>The action is not valid in the VM's current state (HTTP 409).</summary>
    InvalidState,
    /// <summary>Duplicate device id or path (HTTP 409).</summary>
    AlreadyExists,
    /// <summary>Malformed JSON, wrong type, unknown field, failed validation (HTTP 400).</summary>
    InvalidArgument,
    /// <summary>Request body over 4 MiB (HTTP 413).</summary>
    PayloadTooLarge,
    /// <summary>A conflicting operation is in progress (HTTP 429 with Retry-After).</summary>
    Busy,
    /// <summary>Anything unexpected; the control loop survives it (HTTP 500).</summary>
    Internal,
}
