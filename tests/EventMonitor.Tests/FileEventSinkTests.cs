using System.Text.Json;
using CloudHypervisor.EventMonitor.Sinks;

namespace CloudHypervisor.EventMonitor.Tests;

public sealed class FileEventSinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-ev-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Path_sink_truncates_the_file_and_writes_pretty_records_separated_by_blank_lines()
    {
        var path = Path.Combine(_dir, "events.json");
        await File.WriteAllTextAsync(path, new string('x', 10_000));
        await using (var monitor = new EventMonitor())
        {
            using var sink = FileEventSink.OpenPath(path);
            monitor.AddSink(sink);
            monitor.Publish(Events.Vmm.Starting);
            monitor.Publish(Events.VirtioDevice.Activated, new Dictionary<string, string> { ["id"] = "_disk0" });
            monitor.Publish(Events.Vmm.Shutdown);
            await monitor.FlushAsync(TimeSpan.FromSeconds(5));
        }

        var text = await File.ReadAllTextAsync(path);
        Assert.EndsWith("}\n\n", text);
        // Upstream's tests read the file this way.
        var records = text.Trim().Split("\n\n").Select(r => JsonDocument.Parse(r).RootElement).ToList();
        Assert.Equal(["starting", "activated", "shutdown"], records.Select(r => r.GetProperty("event").GetString()));
        Assert.Equal([0L, 1L, 2L], records.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal("_disk0", records[1].GetProperty("properties").GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Null, records[0].GetProperty("properties").ValueKind);
    }

    [Fact]
    public void Path_sink_on_a_missing_directory_fails_with_an_io_error()
    {
        Assert.ThrowsAny<IOException>(() => FileEventSink.OpenPath(Path.Combine(_dir, "no", "such", "file")));
    }

    [Fact]
    public void Fd_sink_on_a_closed_descriptor_fails()
    {
        Assert.Throws<IOException>(() => FileEventSink.FromFd(987));
    }

    [Fact]
    public async Task Fd_sink_writes_to_an_inherited_pipe()
    {
        using var pipe = Pipe.Create();
        await using (var monitor = new EventMonitor())
        {
            using var sink = FileEventSink.FromFd(pipe.WriteFd);
            monitor.AddSink(sink);
            monitor.Publish(Events.Vmm.Starting);
            monitor.Publish(Events.Vm.Booting);
            await monitor.FlushAsync(TimeSpan.FromSeconds(5));
        }

        var records = pipe.ReadToEnd().Trim().Split("\n\n");
        Assert.Equal(2, records.Length);
        Assert.Contains("\"event\": \"booting\"", records[1]);
    }

    [Fact]
    public async Task A_pipe_nobody_reads_never_blocks_publish_and_drops_are_counted()
    {
        using var pipe = Pipe.Create();
        var monitor = new EventMonitor(queueCapacity: 64);
        using var sink = FileEventSink.FromFd(pipe.WriteFd);
        monitor.AddSink(sink);
        var dropped = 0;
        monitor.EventDropped += (_, _) => Interlocked.Increment(ref dropped);

        // 64 KiB of pipe buffer holds a few hundred records; 20 000 cannot fit. Blocked on the
        // pipe, publishing, a flush with its own timeout, and dispose would each wait forever.
        var publishing = Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                monitor.Publish(Events.Vm.Resizing, new Dictionary<string, string> { ["n"] = i.ToString() });
            }
        });
        await publishing.WaitAsync(TimeSpan.FromSeconds(60));
        await monitor.FlushAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(TimeSpan.FromSeconds(60));
        await monitor.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(monitor.Dropped > 10_000, $"dropped {monitor.Dropped}");
        Assert.Equal(monitor.Dropped, dropped);
    }
}
