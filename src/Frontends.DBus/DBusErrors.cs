using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Error names and messages (DESIGN.md "Error kinds"). Upstream answers every failure with
/// <c>org.freedesktop.DBus.Error.Failed</c> and the top message only; we name the kind and send
/// the whole chain, joined with <c>": "</c> on one line, in the same order as the REST error array
/// (<c>Error from API: The VM could not boot: …</c>).
/// </summary>
public static class DBusErrors
{
    public const string Prefix = DBusInterface.Name + ".Error.";

    public const string NotCreated = Prefix + "NotCreated";
    public const string NotFound = Prefix + "NotFound";
    public const string InvalidState = Prefix + "InvalidState";
    public const string AlreadyExists = Prefix + "AlreadyExists";
    public const string InvalidArgument = Prefix + "InvalidArgument";
    public const string Busy = Prefix + "Busy";
    public const string Failed = Prefix + "Failed";

    /// <summary>The D-Bus error name of <paramref name="kind"/>; no discard arm, so a new kind must be mapped here.</summary>
    public static string NameOf(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.NotCreated => NotCreated,
        ApiErrorKind.NotFound => NotFound,
        ApiErrorKind.InvalidState => InvalidState,
        ApiErrorKind.AlreadyExists => AlreadyExists,
        ApiErrorKind.InvalidArgument => InvalidArgument,
        ApiErrorKind.PayloadTooLarge => InvalidArgument,
        ApiErrorKind.Busy => Busy,
        ApiErrorKind.Internal => Failed,
    };

    /// <summary>
    /// The kind a D-Bus error name stands for (for clients such as ch-remote), or null for names
    /// outside our interface. PayloadTooLarge reads back as InvalidArgument, its D-Bus name.
    /// </summary>
    public static ApiErrorKind? KindOf(string errorName) => errorName switch
    {
        NotCreated => ApiErrorKind.NotCreated,
        NotFound => ApiErrorKind.NotFound,
        InvalidState => ApiErrorKind.InvalidState,
        AlreadyExists => ApiErrorKind.AlreadyExists,
        InvalidArgument => ApiErrorKind.InvalidArgument,
        Busy => ApiErrorKind.Busy,
        Failed => ApiErrorKind.Internal,
        _ => null,
    };

    /// <summary>The error message: the whole chain on one line.</summary>
    public static string MessageOf(ApiError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return string.Join(": ", error.Chain);
    }
}
