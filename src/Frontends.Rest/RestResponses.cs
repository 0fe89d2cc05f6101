using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CloudHypervisor.InternalApi;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Everything a response looks like on the wire: the status of each error kind (DESIGN.md "Error
/// kinds"), upstream's <c>Server</c> header, compact JSON bodies and the JSON-array error body.
/// </summary>
internal static class RestResponses
{
    public static readonly StringValues ServerHeader = new("Cloud Hypervisor API");
    public static readonly StringValues JsonContentType = new("application/json");
    public static readonly StringValues NdjsonContentType = new("application/x-ndjson");

    // serde_json escapes only '"', '\\' and control characters; the default encoder would also
    // turn quotes, backticks and '<' into \uXXXX, which upstream never writes.
    private static readonly JsonWriterOptions ChainWriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The response header that names the <see cref="ApiErrorKind"/> of an API error (ours).</summary>
    public const string ErrorKindHeader = "Ch-Error-Kind";

    private static readonly StringValues[] KindNames =
        [.. Enum.GetValues<ApiErrorKind>().Select(kind => new StringValues(kind.ToString()))];

    /// <summary>Upstream's body for an unknown path.</summary>
    public static readonly IReadOnlyList<string> NotFoundChain = ["Not Found"];

    /// <summary>
    /// The HTTP status of an error kind. No discard arm: a new kind fails the build (CS8509) until
    /// it is mapped here. CS8524 only complains about numeric values no kind has.
    /// </summary>
#pragma warning disable CS8524
    public static int StatusOf(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.NotCreated => StatusCodes.Status404NotFound,
        ApiErrorKind.NotFound => StatusCodes.Status404NotFound,
        ApiErrorKind.InvalidState => StatusCodes.Status409Conflict,
        ApiErrorKind.AlreadyExists => StatusCodes.Status409Conflict,
        ApiErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
        ApiErrorKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        ApiErrorKind.Busy => StatusCodes.Status429TooManyRequests,
        ApiErrorKind.Internal => StatusCodes.Status500InternalServerError,
    };
#pragma warning restore CS8524

    /// <summary>An API error: status by kind, <c>Retry-After</c> when Busy, the chain as a JSON array.</summary>
    public static void WriteError(HttpResponse response, ApiError error, int retryAfterSeconds)
    {
        // 404 and 409 each stand for two kinds; clients such as ch-remote read the kind here.
        response.Headers[ErrorKindHeader] = KindNames[(int)error.Kind];
        if (error.Kind == ApiErrorKind.Busy)
        {
            response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        WriteChain(response, StatusOf(error.Kind), error.Chain);
    }

    /// <summary>A status with a JSON-array-of-strings body.</summary>
    public static void WriteChain(HttpResponse response, int status, IReadOnlyList<string> chain)
    {
        response.StatusCode = status;
        WriteBody(response, ChainJson(chain));
    }

    /// <summary>An error chain as upstream's body: a compact JSON array of strings.</summary>
    public static byte[] ChainJson(IReadOnlyList<string> chain)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, ChainWriterOptions))
        {
            writer.WriteStartArray();
            foreach (var item in chain)
            {
                writer.WriteStringValue(item);
            }

            writer.WriteEndArray();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>200 with a compact JSON body, no trailing newline (contract §1.1).</summary>
    public static void WriteJson(HttpResponse response, string json)
    {
        response.StatusCode = StatusCodes.Status200OK;
        var length = Encoding.UTF8.GetByteCount(json);
        response.ContentType = JsonContentType;
        response.ContentLength = length;
        var writer = response.BodyWriter;
        var span = writer.GetSpan(length);
        Encoding.UTF8.GetBytes(json, span);
        // Kestrel flushes when the request delegate returns.
        writer.Advance(length);
    }

    private static void WriteBody(HttpResponse response, ReadOnlySpan<byte> body)
    {
        response.ContentType = JsonContentType;
        response.ContentLength = body.Length;
        var writer = response.BodyWriter;
        body.CopyTo(writer.GetSpan(body.Length));
        writer.Advance(body.Length);
    }
}
