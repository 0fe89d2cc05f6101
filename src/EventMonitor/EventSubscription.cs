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

    internal void Offer(EventRecord record)
    {
        if (!_channel.Writer.TryWrite(record))
        {
            Overflowed = true;
            _channel.Writer.TryComplete();
        }
    }

    internal void End() => _channel.Writer.TryComplete();

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _unsubscribe(this);
    }
}
