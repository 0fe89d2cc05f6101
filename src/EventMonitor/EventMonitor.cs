using System.Diagnostics;
using System.Threading.Channels;

namespace CloudHypervisor.EventMonitor;

/// <summary>
/// The event monitor. Threading model: <see cref="Publish"/> may be called from any thread
/// (control loop, vCPU and device threads); under one short lock it assigns the next seq and the
/// timestamp, keeps the record in a bounded replay buffer, and offers it without waiting to each
/// sink's bounded queue and each live subscription. Each sink has one pump task that writes in seq
/// order. Nothing here ever blocks the caller: a full sink queue drops the event and counts it.
/// </summary>
public sealed class EventMonitor : IEventPublisher, IAsyncDisposable
{
    /// <summary>Default number of events kept for replay with <c>?since=</c>.</summary>
    public const int DefaultReplayCapacity = 4096;

    /// <summary>Default queue length of one sink or subscription.</summary>
    public const int DefaultQueueCapacity = 1024;

    private readonly Lock _lock = new();
    private readonly long _startTimestamp;
    private readonly EventRecord?[] _ring;
    private readonly int _queueCapacity;
    private readonly List<SinkPump> _sinks = [];
    private readonly List<EventSubscription> _subscriptions = [];
    private long _nextSeq;
    private long _dropped;

    public EventMonitor(int replayCapacity = DefaultReplayCapacity, int queueCapacity = DefaultQueueCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replayCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        _startTimestamp = Stopwatch.GetTimestamp();
        _ring = new EventRecord?[replayCapacity];
        _queueCapacity = queueCapacity;
    }

    /// <summary>Raised (from the publishing thread) when a sink's queue was full and an event was dropped.</summary>
    public event Action<string, EventRecord>? EventDropped;

    /// <summary>Events dropped by all sinks since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The seq the next event will get.</summary>
    public long NextSeq
    {
        get
        {
            lock (_lock)
            {
                return _nextSeq;
            }
        }
    }

    public EventRecord Publish(EventKind kind, IReadOnlyDictionary<string, string>? properties = null)
    {
        ArgumentNullException.ThrowIfNull(kind);
        List<(string, EventRecord)>? dropped = null;
        EventRecord record;
        lock (_lock)
        {
            record = new EventRecord(_nextSeq++, Stopwatch.GetElapsedTime(_startTimestamp), kind.Source, kind.Name, properties);
            _ring[record.Seq % _ring.Length] = record;
            foreach (var sink in _sinks)
            {
                if (!sink.TryEnqueue(record))
                {
                    Interlocked.Increment(ref _dropped);
                    (dropped ??= []).Add((sink.Sink.Name, record));
                }
            }

            foreach (var subscription in _subscriptions)
            {
                subscription.Offer(record);
            }
        }

        if (dropped is not null)
        {
            foreach (var (name, r) in dropped)
            {
                EventDropped?.Invoke(name, r);
            }
        }

        return record;
    }

    /// <summary>Adds a sink; it receives every event published from now on.</summary>
    public void AddSink(IEventSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var pump = new SinkPump(sink, _queueCapacity);
        lock (_lock)
        {
            _sinks.Add(pump);
        }
    }

    /// <summary>
    /// Adds a sink that first receives the buffered events (for example <c>vmm/starting</c>,
    /// published before the D-Bus connection existed), then every new one.
    /// </summary>
    public void AddSinkWithReplay(IEventSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var pump = new SinkPump(sink, _queueCapacity + _ring.Length);
        lock (_lock)
        {
            foreach (var record in BufferedFrom(0, out _))
            {
                pump.TryEnqueue(record);
            }

            _sinks.Add(pump);
        }
    }

    /// <summary>
    /// A live stream of events from seq <paramref name="since"/> on (null: only new events).
    /// Events no longer buffered are counted in <see cref="EventSubscription.Missed"/>.
    /// </summary>
    public EventSubscription Subscribe(long? since = null)
    {
        var subscription = new EventSubscription(_queueCapacity + _ring.Length, Unsubscribe);
        lock (_lock)
        {
            if (since is { } from)
            {
                var buffered = BufferedFrom(Math.Max(0, from), out var missed);
                subscription.Missed = missed;
                subscription.FirstSeq = buffered.Count > 0 ? buffered[0].Seq : _nextSeq;
                foreach (var record in buffered)
                {
                    subscription.Offer(record);
                }
            }
            else
            {
                subscription.FirstSeq = _nextSeq;
            }

            _subscriptions.Add(subscription);
        }

        return subscription;
    }

    /// <summary>
    /// Waits until every sink has written everything published so far, or the timeout passes
    /// (a stuck sink must not keep the VMM from exiting).
    /// </summary>
    public async Task FlushAsync(TimeSpan timeout)
    {
        SinkPump[] sinks;
        lock (_lock)
        {
            sinks = [.. _sinks];
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        foreach (var sink in sinks)
        {
            while (sink.Pending > 0 && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(2);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        SinkPump[] sinks;
        lock (_lock)
        {
            sinks = [.. _sinks];
            _sinks.Clear();
            foreach (var subscription in _subscriptions)
            {
                subscription.End();
            }

            _subscriptions.Clear();
        }

        foreach (var sink in sinks)
        {
            await sink.StopAsync();
            sink.Dispose();
        }
    }

    private List<EventRecord> BufferedFrom(long from, out long missed)
    {
        var oldest = Math.Max(0, _nextSeq - _ring.Length);
        missed = Math.Max(0, Math.Min(oldest, _nextSeq) - from);
        var result = new List<EventRecord>();
        for (var seq = Math.Max(from, oldest); seq < _nextSeq; seq++)
        {
            if (_ring[seq % _ring.Length] is { } record && record.Seq == seq)
            {
                result.Add(record);
            }
        }

        return result;
    }

    private void Unsubscribe(EventSubscription subscription)
    {
        lock (_lock)
        {
            _subscriptions.Remove(subscription);
        }
    }

    private sealed class SinkPump : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _task;
        private readonly Channel<EventRecord> _queue;

        // Records queued and not yet written. It grows before a record becomes readable and shrinks
        // after its write, so zero means this sink has written everything it was given.
        private long _pending;

        public SinkPump(IEventSink sink, int capacity)
        {
            Sink = sink;
            _queue = Channel.CreateBounded<EventRecord>(new BoundedChannelOptions(capacity)
            {
                SingleReader = true,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.Wait,
            });
            _task = Task.Run(RunAsync);
        }

        public IEventSink Sink { get; }
        public long Pending => Interlocked.Read(ref _pending);

        public bool TryEnqueue(EventRecord record)
        {
            Interlocked.Increment(ref _pending);
            if (_queue.Writer.TryWrite(record))
            {
                return true;
            }

            Interlocked.Decrement(ref _pending);
            return false;
        }

        public void Dispose() => _stop.Dispose();

        public async Task StopAsync()
        {
            _queue.Writer.TryComplete();
            try
            {
                await _task.WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (TimeoutException)
            {
                await _stop.CancelAsync();
            }
        }

        private async Task RunAsync()
        {
            await foreach (var record in _queue.Reader.ReadAllAsync(_stop.Token))
            {
                try
                {
                    await Sink.WriteAsync(record, _stop.Token);
                }
#pragma warning disable CA1031 // A failing sink must not end the pump; the record counts as written.
                catch (Exception) when (!_stop.IsCancellationRequested)
                {
                }
#pragma warning restore CA1031
                finally
                {
                    Interlocked.Decrement(ref _pending);
                }
            }
        }
    }
}
