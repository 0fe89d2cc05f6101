using System.Diagnostics.CodeAnalysis;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// The outcome of parsing an option string: a value or an <see cref="OptionError"/>, never an
/// exception for bad user input. Values and errors convert implicitly, so a parser can
/// <c>return config;</c> or <c>return error;</c>.
/// </summary>
public sealed class OptionResult<T>
{
    private readonly T? _value;

    internal OptionResult(T? value, OptionError? error)
    {
        _value = value;
        Error = error;
    }

    /// <summary>The error, or null on success.</summary>
    public OptionError? Error { get; }

    /// <summary>True when parsing succeeded.</summary>
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsOk => Error is null;

    /// <summary>The parsed value. Reading it from a failed result is a programming error and throws.</summary>
    public T Value => Error is null
        ? _value!
        : throw new InvalidOperationException($"No value: {Error}");

    /// <summary>Deconstructs into the value (on success) or the error (on failure).</summary>
    public bool TryGet([MaybeNullWhen(false)] out T value, [NotNullWhen(false)] out OptionError? error)
    {
        value = _value;
        error = Error;
        return Error is null;
    }

    /// <summary>Maps a successful value; a failure passes through unchanged.</summary>
    public OptionResult<TOut> Map<TOut>(Func<T, TOut> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        return Error is null ? OptionResult.Ok(map(_value!)) : OptionResult.Fail<TOut>(Error);
    }

    /// <summary>Wraps a failure's chain in outer messages; a success passes through unchanged.</summary>
    public OptionResult<T> Within(params string[] outer) => Error is null ? this : OptionResult.Fail<T>(Error.Within(outer));

#pragma warning disable CA2225 // Ok/Fail are the named alternatives.
    /// <summary>A successful result holding <paramref name="value"/>.</summary>
    public static implicit operator OptionResult<T>(T value) => OptionResult.Ok(value);

    /// <summary>A failed result holding <paramref name="error"/>.</summary>
    public static implicit operator OptionResult<T>(OptionError error) => OptionResult.Fail<T>(error);
#pragma warning restore CA2225

    /// <inheritdoc/>
    public override string ToString() => Error is null ? $"Ok({_value})" : $"Error({Error})";
}

/// <summary>Factories for <see cref="OptionResult{T}"/>.</summary>
public static class OptionResult
{
    /// <summary>A successful result.</summary>
    public static OptionResult<T> Ok<T>(T value) => new(value, null);

    /// <summary>A failed result.</summary>
    public static OptionResult<T> Fail<T>(OptionError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new OptionResult<T>(default, error);
    }
}
