using System.IO.Pipelines;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// The input pipe as Kestrel reads it. Kestrel takes a completed input for a client that is gone:
/// its body reader fails a request whose body has fully arrived when the same read also reports
/// the end ("Unexpected end of request content"), and it closes without an answer. A client that
/// shut down its sending side right after its request (socat, nc -N, a script) is not gone, and
/// its request and FIN usually arrive together. So the end of input is reported only once Kestrel
/// has examined every byte before it: until then a read hands out the bytes as not completed,
/// and Kestrel's next read, with nothing new to examine, sees the end and ends the connection
/// after answering. A reader that examined everything sees exactly what the pipe says.
/// </summary>
internal sealed class HalfClosedInput(PipeReader inner) : PipeReader
{
    private System.Buffers.ReadOnlySequence<byte> _lastBuffer;

    // Bytes after the consumed position that the last AdvanceTo marked as examined.
    private long _examinedAhead;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var pending = inner.ReadAsync(cancellationToken);
        return pending.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Filter(pending.Result)) : AwaitAsync(pending);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out var read))
        {
            result = default;
            return false;
        }

        result = Filter(read);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _examinedAhead = _lastBuffer.Slice(consumed, examined).Length;
        _lastBuffer = default;
        inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    private async ValueTask<ReadResult> AwaitAsync(ValueTask<ReadResult> pending) => Filter(await pending.ConfigureAwait(false));

    private ReadResult Filter(ReadResult read)
    {
        _lastBuffer = read.Buffer;
        return read.IsCompleted && read.Buffer.Length > _examinedAhead
            ? new ReadResult(read.Buffer, read.IsCanceled, isCompleted: false)
            : read;
    }
}
