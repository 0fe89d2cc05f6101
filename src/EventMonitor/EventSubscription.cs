using System.Threading.Channels;

namespace CloudHypervisor.EventMonitor;

/// <summary>
/// A live reader of the event stream (GET /api/v1/events, ch-remote events --follow). It first
/// gets the buffered events from the requested seq on, then every new one. A reader that falls
/// more than its queue behind is cut off (<see cref="Overflowed"/>): it reconnects with
/// <c>since</c> set to the last seq it saw, and loses nothing still in the replay buffer.
/// </summary>
public sealed class EventSubscription : IDisposable
{
    private readonly Channel<EventRecord> _channel;
    private readonly Action<EventSubscription> _unsubscribe;
    private readonly CancellationTokenSource _cutOff = new();

    internal EventSubscription(int capacity, Action<EventSubscription> unsubscribe)
    {
        _channel = Channel.CreateBounded<EventRecord>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _unsubscribe = unsubscribe;
    }

    /// <summary>The events, in seq order.</summary>
    public ChannelReader<EventRecord> Reader => _channel.Reader;

    /// <summary>The seq of the first event this subscription delivers.</summary>
    public long FirstSeq { get; internal set; }

    /// <summary>How many requested events were already gone from the replay buffer.</summary>
    public long Missed { get; internal set; }

    /// <summary>True when the reader fell behind and the stream was ended.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>
    /// Cancelled when the reader fell behind (<see cref="Overflowed"/>). A reader that stopped
    /// reading is usually stuck writing what it already has to its client: this frees it.
    /// </summary>
    public CancellationToken CutOff => _cutOff.Token;

    internal void Offer(EventRecord record)
    {
        if (!_channel.Writer.TryWrite(record) && !Overflowed)
        {
            Overflowed = true;
            _channel.Writer.TryComplete();
            // Offer runs under the monitor's lock: the token's callbacks run elsewhere.
            ThreadPool.UnsafeQueueUserWorkItem(static cutOff =>
            {
                try
                {
                    cutOff.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The reader already went away.
                }
            }, _cutOff, preferLocal: false);
        }
    }

    internal void End() => _channel.Writer.TryComplete();

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _unsubscribe(this);
        _cutOff.Dispose();
    }
}
