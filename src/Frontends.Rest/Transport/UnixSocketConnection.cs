using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CloudHypervisor.Interop;
using CloudHypervisor.InternalApi;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// One accepted API connection as Kestrel sees it: two pipes and two loops. The receive loop
/// waits for data with a zero-byte receive, then reads with recvmsg, keeping any SCM_RIGHTS
/// descriptors for <see cref="IPassedFdsFeature"/>; the send loop writes what Kestrel puts in the
/// output pipe. End of input completes the input pipe. When the client is gone (POLLHUP) or the
/// read failed it also fires <c>ConnectionClosed</c>, which is how Kestrel learns a client went
/// away (its request is aborted, an event stream ends); a client that only shut down its sending
/// side (socat, nc -N) still reads, so it gets its answer, as upstream's server gives it; Kestrel
/// sees that end of input only after the bytes before it (<see cref="HalfClosedInput"/>).
/// Kestrel completing the output closes the socket.
/// </summary>
internal sealed class UnixSocketConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IPassedFdsFeature
{
    private const int MinimumReadSize = 4096;

    // Kestrel's defaults for a connection's pipes: back-pressure at 1 MiB, resume at half.
    private static readonly PipeOptions InputOptions = new(
        readerScheduler: PipeScheduler.ThreadPool, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);

    private static readonly PipeOptions OutputOptions = new(
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);

    private readonly Socket _socket;
    private readonly Serilog.ILogger _log;
    private readonly RejectionNotes _rejections;
    private readonly ResponseOutput _responses;
    private readonly Pipe _input = new(InputOptions);
    private readonly Pipe _output = new(OutputOptions);
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _fdLock = new();
    private readonly FeatureCollection _features = new();
    private List<int> _passedFds = [];
    private readonly List<int> _received = []; // Receive loop only.
    private readonly RequestHeads _heads = new(); // Receive loop only.
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _closedFired;
    private long _sent; // Send loop only.

    public UnixSocketConnection(Socket socket, EndPoint localEndPoint, string id, RejectionNotes rejections, Serilog.ILogger log)
    {
        _socket = socket;
        _log = log;
        _rejections = rejections;
        ConnectionId = id;
        LocalEndPoint = localEndPoint;
        _responses = new ResponseOutput(_output.Writer, () => _rejections.Take(ConnectionId));
        Transport = new DuplexPipe(new HalfClosedInput(_input.Reader), _responses);
        ConnectionClosed = _closed.Token;
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IPassedFdsFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public void Start()
    {
        _receiving = Task.Run(ReceiveLoopAsync);
        _sending = Task.Run(SendLoopAsync);
    }

    public PassedFds Take()
    {
        List<int> taken;
        lock (_fdLock)
        {
            if (_passedFds.Count == 0)
            {
                return PassedFds.None;
            }

            taken = _passedFds;
            _passedFds = [];
        }

        return PassedFds.Adopt(taken);
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _output.Reader.CancelPendingRead();
        CloseSocket();
    }

    public override async ValueTask DisposeAsync()
    {
        Transport.Input.Complete();
        Transport.Output.Complete();
        await _sending;
        await _receiving;
        Take().Dispose();
        _rejections.Take(ConnectionId);
        _closed.Dispose();
        await base.DisposeAsync();
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var halfClosed = false;
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for data without holding a buffer, then read what is there with recvmsg.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                var memory = writer.GetMemory(MinimumReadSize);
                var received = Receive(memory.Span);
                if (received < 0)
                {
                    continue; // Nothing after all (EAGAIN) or a signal (EINTR): wait again.
                }

                if (received == 0)
                {
                    // End of input. A client that only shut down its sending side (socat, nc -N)
                    // still reads, so the request it sent gets its answer; one that is gone does not.
                    halfClosed = !PeerHungUp();
                    _heads.Release(writer);
                    break;
                }

                _heads.Pass(memory[..received], writer);
                var flushed = await writer.FlushAsync();
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted)
        {
            error = new ConnectionAbortedException("The API connection was closed", e);
        }
        catch (SocketException e)
        {
            error = new ConnectionResetException(e.Message, e);
        }
        catch (ObjectDisposedException e)
        {
            error = new ConnectionAbortedException("The API connection was closed", e);
        }
        finally
        {
            await writer.CompleteAsync(error);
            if (!halfClosed)
            {
                FireConnectionClosed();
            }
        }
    }

    /// <summary>
    /// After end of input: true when the client is gone (POLLHUP: both directions are shut),
    /// false when it only finished sending and still reads.
    /// </summary>
    private bool PeerHungUp()
    {
        var revents = Libc.PollNow(_socket.SafeHandle, Libc.POLLHUP);
        return revents < 0 || (revents & Libc.POLLHUP) != 0;
    }

    /// <summary>
    /// One non-blocking recvmsg into <paramref name="buffer"/> (a plain recv would make the kernel
    /// close passed descriptors): the byte count, 0 at end of input, -1 when there was nothing to
    /// read after all. Descriptors that came along are kept for <see cref="Take"/>.
    /// </summary>
    private int Receive(Span<byte> buffer)
    {
        var fds = _received;
        fds.Clear();
        var received = ScmRights.Receive(_socket.SafeHandle, buffer, fds, ScmRights.MSG_DONTWAIT | ScmRights.MSG_CMSG_CLOEXEC, out var truncated);
        if (received < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is Libc.EAGAIN or Libc.EINTR ? -1 : throw new SocketException(errno);
        }

        if (fds.Count > 0)
        {
            lock (_fdLock)
            {
                _passedFds.AddRange(fds);
            }
        }

        if (truncated)
        {
            _log.Warning("API connection {Connection}: more file descriptors were passed than one message can carry ({Max}); the kernel closed the rest",
                ConnectionId, ScmRights.MaxFds);
        }

        return (int)received;
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync();
                if (read.IsCanceled)
                {
                    break;
                }

                var buffer = read.Buffer;
                if (_responses.Pending is { } swap && swap.Offset < _sent + buffer.Length)
                {
                    // One of Kestrel's own answers, dressed (ResponseOutput): its flush is all in this buffer.
                    var before = swap.Offset - _sent;
                    await SendAsync(buffer.Slice(0, before));
                    await SendAsync(new ReadOnlySequence<byte>(swap.Bytes));
                    await SendAsync(buffer.Slice(before + swap.Length));
                    _responses.Substituted(swap);
                }
                else
                {
                    await SendAsync(buffer);
                }

                _sent += buffer.Length;
                reader.AdvanceTo(buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = e;
        }
        finally
        {
            await reader.CompleteAsync(error);
            // Kestrel is done with this connection (or it broke): the receive loop ends too.
            CloseSocket();
        }
    }

    private async ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        foreach (var segment in buffer)
        {
            var remaining = segment;
            while (!remaining.IsEmpty)
            {
                var sent = await _socket.SendAsync(remaining, SocketFlags.None);
                remaining = remaining[sent..];
            }
        }
    }

    private void CloseSocket()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed by the client or by us.
        }

        _socket.Dispose();
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedFired, 1) == 0)
        {
            // Kestrel's callbacks on this token may take locks: not on this loop's stack.
            ThreadPool.UnsafeQueueUserWorkItem(static source =>
            {
                try
                {
                    source.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // Kestrel already disposed the connection: nobody is left to tell.
                }
            }, _closed, preferLocal: false);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
