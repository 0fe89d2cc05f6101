using CloudHypervisor.EventMonitor.Sinks;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace CloudHypervisor.EventMonitor.Tests;

public sealed class LogEventSinkTests
{
    [Fact]
    public async Task Each_event_is_one_info_line_in_upstream_wording()
    {
        var captured = new CapturingSink();
        using var logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(captured).CreateLogger();
        var sink = new LogEventSink(logger);

        await sink.WriteAsync(new EventRecord(0, TimeSpan.Zero, "vmm", "starting", null), default);
        await sink.WriteAsync(
            new EventRecord(1, TimeSpan.Zero, "vm", "device-removed", new Dictionary<string, string> { ["id"] = "_disk0", ["bdf"] = "0000:00:04.0" }),
            default);

        Assert.Equal(
            ["Event: source = vmm event = starting", "Event: source = vm event = device-removed id = _disk0, bdf = 0000:00:04.0"],
            captured.Events.Select(e => e.RenderMessage()));
        Assert.All(captured.Events, e => Assert.Equal(LogEventLevel.Information, e.Level));
    }

    [Fact]
    public async Task Only_the_first_drop_of_a_sink_is_a_warning()
    {
        var captured = new CapturingSink();
        using var logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(captured).CreateLogger();
        await using var monitor = new EventMonitor(queueCapacity: 1);
        using var dropLogger = new DroppedEventLogger(monitor, logger);
        using var gate = new SemaphoreSlim(0);
        monitor.AddSink(new BlockedSink(gate));

        for (var i = 0; i < 10; i++)
        {
            monitor.Publish(Events.Vm.Pausing);
        }

        gate.Release(100);
        Assert.Single(captured.Events, e => e.Level == LogEventLevel.Warning);
        Assert.Contains(captured.Events, e => e.Level == LogEventLevel.Debug);
        Assert.Contains("Event sink blocked is not keeping up", captured.Events[0].RenderMessage());
    }

    private sealed class BlockedSink(SemaphoreSlim gate) : IEventSink
    {
        public string Name => "blocked";

        public async ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken) =>
            await gate.WaitAsync(cancellationToken);
    }

    private sealed class CapturingSink : ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];

        public void Emit(LogEvent logEvent)
        {
            lock (Events)
            {
                Events.Add(logEvent);
            }
        }
    }
}
