namespace CloudHypervisor.EventMonitor.Tests;

public sealed class EventMonitorTests
{
    [Fact]
    public async Task Events_published_from_many_threads_get_consecutive_seqs_in_order()
    {
        await using var monitor = new EventMonitor();
        using var subscription = monitor.Subscribe(0);
        var threads = Enumerable.Range(0, 4)
            .Select(t => Task.Run(() =>
            {
                for (var i = 0; i < 200; i++)
                {
                    monitor.Publish(Events.Vm.Resized);
                }
            }))
            .ToArray();
        await Task.WhenAll(threads);

        var seqs = new List<long>();
        while (subscription.Reader.TryRead(out var record))
        {
            seqs.Add(record.Seq);
        }

        Assert.Equal(Enumerable.Range(0, 800).Select(i => (long)i), seqs);
        Assert.Equal(800, monitor.NextSeq);
    }

    [Fact]
    public async Task Timestamps_are_monotonic_time_since_the_monitor_was_set_up()
    {
        await using var monitor = new EventMonitor();
        var first = monitor.Publish(Events.Vmm.Starting);
        await Task.Delay(20);
        var second = monitor.Publish(Events.Vmm.Shutdown);

        Assert.True(first.Timestamp < TimeSpan.FromSeconds(1));
        Assert.True(second.Timestamp - first.Timestamp >= TimeSpan.FromMilliseconds(15));
    }

    [Fact]
    public async Task Subscribing_since_a_seq_replays_the_buffer_then_streams_new_events()
    {
        await using var monitor = new EventMonitor(replayCapacity: 8);
        for (var i = 0; i < 5; i++)
        {
            monitor.Publish(Events.Vm.Resized, Mark($"e{i}"));
        }

        using var subscription = monitor.Subscribe(since: 3);
        monitor.Publish(Events.Vm.Resized, Mark("live"));

        var names = Drain(subscription).Select(r => r.Properties!["n"]);
        Assert.Equal(["e3", "e4", "live"], names);
        Assert.Equal(3, subscription.FirstSeq);
        Assert.Equal(0, subscription.Missed);
    }

    [Fact]
    public async Task Subscribing_since_a_seq_no_longer_buffered_reports_how_many_were_missed()
    {
        await using var monitor = new EventMonitor(replayCapacity: 4);
        for (var i = 0; i < 10; i++)
        {
            monitor.Publish(Events.Vm.Resized, Mark($"e{i}"));
        }

        using var subscription = monitor.Subscribe(since: 0);

        Assert.Equal(6, subscription.Missed);
        Assert.Equal(6, subscription.FirstSeq);
        Assert.Equal(["e6", "e7", "e8", "e9"], Drain(subscription).Select(r => r.Properties!["n"]));
    }

    [Fact]
    public async Task A_subscriber_that_falls_behind_is_cut_off_without_blocking_publish()
    {
        await using var monitor = new EventMonitor(replayCapacity: 2, queueCapacity: 2);
        using var subscription = monitor.Subscribe();
        for (var i = 0; i < 100; i++)
        {
            monitor.Publish(Events.Vm.Resized, Mark($"e{i}"));
        }

        Assert.True(subscription.Overflowed);
        var delivered = Drain(subscription);
        Assert.Equal(Enumerable.Range(0, delivered.Count).Select(i => (long)i), delivered.Select(r => r.Seq));
        Assert.True(subscription.Reader.Completion.IsCompleted);
    }

    [Fact]
    public async Task A_sink_added_with_replay_first_gets_the_events_published_before_it()
    {
        await using var monitor = new EventMonitor();
        monitor.Publish(Events.Vmm.Starting);
        var sink = new RecordingSink();
        monitor.AddSinkWithReplay(sink);
        monitor.Publish(Events.Vm.Booting);
        await monitor.FlushAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(["starting", "booting"], sink.Records.Select(r => r.Event));
    }

    [Fact]
    public async Task Flush_waits_until_a_slow_sink_has_written_everything()
    {
        await using var monitor = new EventMonitor();
        var sink = new RecordingSink(TimeSpan.FromMilliseconds(20));
        monitor.AddSink(sink);
        for (var i = 0; i < 10; i++)
        {
            monitor.Publish(Events.Vm.Resized, Mark($"e{i}"));
        }

        await monitor.FlushAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(10, sink.Records.Count);
    }

    [Fact]
    public async Task Flush_returns_only_after_the_write_of_a_record_the_pump_has_just_taken()
    {
        // The pump takes a record off its queue before writing it: a flush in between must still wait.
        for (var i = 0; i < 200; i++)
        {
            await using var monitor = new EventMonitor();
            var sink = new RecordingSink(TimeSpan.FromMilliseconds(i % 2));
            monitor.AddSink(sink);
            monitor.Publish(Events.Vm.Booting);

            await monitor.FlushAsync(TimeSpan.FromSeconds(10));

            Assert.Single(sink.Records);
        }
    }

    private static List<EventRecord> Drain(EventSubscription subscription)
    {
        var records = new List<EventRecord>();
        while (subscription.Reader.TryRead(out var record))
        {
            records.Add(record);
        }

        return records;
    }

    private sealed class RecordingSink(TimeSpan delay = default) : IEventSink
    {
        private readonly List<EventRecord> _records = [];

        public string Name => "recording";

        public List<EventRecord> Records
        {
            get
            {
                lock (_records)
                {
                    return [.. _records];
                }
            }
        }

        public async ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken)
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellationToken);
            }

            lock (_records)
            {
                _records.Add(record);
            }
        }
    }

    /// <summary>Marks an event so a test can tell which one arrived.</summary>
    private static Dictionary<string, string> Mark(string n) => new() { ["n"] = n };
}
