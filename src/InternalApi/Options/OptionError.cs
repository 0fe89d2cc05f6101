namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// A failed option string as a value: upstream's error chain, outermost message first, root cause
/// last, e.g. <c>["Error parsing --disk", "Failed to parse disk configuration", "Unknown option: x"]</c>.
/// The CLI prints it as upstream's "chain of errors"; ch-remote prepends its own top message.
/// </summary>
public sealed class OptionError : IEquatable<OptionError>
{
    private OptionError(IReadOnlyList<string> chain)
    {
        Chain = chain;
    }

    /// <summary>The messages, outermost first. Never empty.</summary>
    public IReadOnlyList<string> Chain { get; }

    /// <summary>The outermost message.</summary>
    public string Message => Chain[0];

    /// <summary>An error with the given chain (outermost first).</summary>
    public static OptionError Of(params string[] chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Length == 0)
        {
            throw new ArgumentException("An error chain needs at least one message.", nameof(chain));
        }

        return new OptionError([.. chain]);
    }

    /// <summary>This error wrapped in outer messages: <c>Within("a", "b")</c> gives <c>[a, b, ..Chain]</c>.</summary>
    public OptionError Within(params string[] outer)
    {
        ArgumentNullException.ThrowIfNull(outer);
        return new OptionError([.. outer, .. Chain]);
    }

    /// <summary>
    /// The same chain as a frontend-level InvalidArgument <see cref="ApiError"/> (no "Error from API"
    /// prefix), for callers that report through the API error types.
    /// </summary>
    public ApiError ToApiError() => ApiError.Request(ApiErrorKind.InvalidArgument, Chain[0], [.. Chain.Skip(1)]);

    /// <inheritdoc/>
    public bool Equals(OptionError? other) => other is not null && Chain.SequenceEqual(other.Chain, StringComparer.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as OptionError);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var message in Chain)
        {
            hash.Add(message, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }

    /// <summary>The chain joined with ": ", as upstream's Display of a one-line error.</summary>
    public override string ToString() => string.Join(": ", Chain);
}
