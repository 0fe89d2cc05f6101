using System.IO.Pipelines;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// The output pipe as Kestrel writes it: a pass-through that watches each flush. Kestrel writes
/// each response and flushes it, and one of its own answers (<see cref="KestrelAnswers"/>) is a
/// flush of its own. When a flush is such an answer, the bytes stay in the pipe (a pipe cannot
/// take back what was advanced) and a <see cref="Substitution"/> tells the send loop to send the
/// dressed answer in their place; it is recorded before the flush makes the bytes readable.
/// </summary>
internal sealed class ResponseOutput(PipeWriter inner, Func<string?> takeReason) : PipeWriter
{
    private readonly List<ReadOnlyMemory<byte>> _unflushed = [];
    private Memory<byte> _memory;
    private long _unflushedLength;
    private long _written;
    private Substitution? _substitution;

    /// <summary>Bytes at <see cref="Offset"/> (counted from the connection's first output byte) to send as <see cref="Bytes"/>.</summary>
    internal sealed record Substitution(long Offset, long Length, byte[] Bytes);

    /// <summary>The pending substitution, if any; read by the send loop.</summary>
    public Substitution? Pending => Volatile.Read(ref _substitution);

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    /// <summary>The send loop has sent <paramref name="done"/> in place of its bytes.</summary>
    public void Substituted(Substitution done) => Interlocked.CompareExchange(ref _substitution, null, done);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _memory = inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        // Only a short flush can be one of Kestrel's answers: keep no more than that in view.
        if (_unflushedLength + bytes <= KestrelAnswers.MaxLength)
        {
            _unflushed.Add(_memory[..bytes]);
        }

        _unflushedLength += bytes;
        // Kestrel may go on writing into the rest of the same memory before its next Advance.
        _memory = _memory[bytes..];
        inner.Advance(bytes);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_unflushedLength is > 0 and <= KestrelAnswers.MaxLength && KestrelAnswers.MayBeOne(_unflushed[0].Span))
        {
            Span<byte> flushed = stackalloc byte[(int)_unflushedLength];
            var at = 0;
            foreach (var part in _unflushed)
            {
                part.Span.CopyTo(flushed[at..]);
                at += part.Length;
            }

            if (KestrelAnswers.Dress(flushed, atStart: _written == 0, takeReason) is { } dressed)
            {
                Volatile.Write(ref _substitution, new Substitution(_written, _unflushedLength, dressed));
            }
        }

        _written += _unflushedLength;
        _unflushedLength = 0;
        _unflushed.Clear();
        return inner.FlushAsync(cancellationToken);
    }

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
