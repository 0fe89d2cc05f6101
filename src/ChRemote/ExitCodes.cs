using CloudHypervisor.InternalApi;

namespace CloudHypervisor.ChRemote;

/// <summary>
/// ch-remote's exit codes: upstream exits 1 for every failure; ours tell scripts what failed.
/// The table is printed by <c>ch-remote --help</c> and documented in the README.
/// </summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Internal = 1;
    public const int Usage = 2;
    public const int InvalidArgument = 3;
    public const int NotCreated = 4;
    public const int NotFound = 5;
    public const int InvalidState = 6;
    public const int AlreadyExists = 7;
    public const int Busy = 8;
    public const int PayloadTooLarge = 9;
    public const int Unreachable = 10;
    public const int Timeout = 11;

    public static int For(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.NotCreated => NotCreated,
        ApiErrorKind.NotFound => NotFound,
        ApiErrorKind.InvalidState => InvalidState,
        ApiErrorKind.AlreadyExists => AlreadyExists,
        ApiErrorKind.InvalidArgument => InvalidArgument,
        ApiErrorKind.PayloadTooLarge => PayloadTooLarge,
        ApiErrorKind.Busy => Busy,
        ApiErrorKind.Internal => Internal,
    };

    public const string Table =
        """
        Exit codes:
          0  success
          1  the VMM failed (Internal) or an unexpected error
          2  usage error: bad arguments or option strings
          3  InvalidArgument: the VMM rejected the request body
          4  NotCreated: no VM has been created
          5  NotFound: no such device or memory zone
          6  InvalidState: not possible in the VM's current state
          7  AlreadyExists: duplicate device id or path
          8  Busy: another operation is in progress, retry
          9  PayloadTooLarge: request body over 4 MiB
          10 the VMM could not be reached (socket or D-Bus name)
          11 --timeout passed before an answer (or, for wait-for, the event)
        """;
}
