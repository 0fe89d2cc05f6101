using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using CloudHypervisor.ChRemote.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.ChRemote.Tests;

/// <summary>--timeout, wait-for and events: what upstream's ch-remote never had.</summary>
public sealed class StreamingTests : IAsyncLifetime
{
    private RunningVmm _vmm = null!;

    public static TheoryData<Via> Transports => new(RunningVmm.Transports);

    public async Task InitializeAsync() => _vmm = await RunningVmm.StartAsync();

    public async Task DisposeAsync() => await _vmm.DisposeAsync();

    [Fact]
    public async Task Timeout_ends_the_wait_for_a_server_that_does_not_answer()
    {
        var path = Path.Combine(_vmm.Dir, "silent.sock");
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Bind(new UnixDomainSocketEndPoint(path));
        silent.Listen(4);
        var clock = Stopwatch.StartNew();
        var run = await Processes.RunAsync(Processes.Info(Executables.ChRemote, ["--api-socket", path, "--timeout", "1", "ping"]));
        Assert.Equal(11, run.ExitCode);
        Assert.Contains("No answer from the VMM within 1 s", run.Stderr, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "ch-remote kept waiting past its --timeout");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Wait_for_returns_when_another_client_causes_the_event(Via transport)
    {
        Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.Rest, """{"payload":{"kernel":"/k"}}""", "create")).ExitCode);
        using var waiter = Process.Start(_vmm.ChRemoteInfo(transport, ["--timeout", "60", "wait-for", "vm/deleted"]))!;
        var stdout = waiter.StandardOutput.ReadToEndAsync();
        // The waiter subscribes asynchronously; cause the event until it has seen one.
        while (!waiter.HasExited)
        {
            Assert.Equal(0, (await _vmm.ChRemoteAsync(Via.Rest, "delete")).ExitCode);
            Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.Rest, """{"payload":{"kernel":"/k"}}""", "create")).ExitCode);
            await Task.WhenAny(waiter.WaitForExitAsync(), Task.Delay(300));
        }

        Assert.Equal(0, waiter.ExitCode);
        using var record = JsonDocument.Parse(await stdout);
        Assert.Equal("vm", record.RootElement.GetProperty("source").GetString());
        Assert.Equal("deleted", record.RootElement.GetProperty("event").GetString());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Wait_for_fails_at_the_timeout_when_the_event_never_comes(Via transport)
    {
        var run = await _vmm.ChRemoteAsync(transport, "--timeout", "1", "wait-for", "vm/booted");
        Assert.Equal(11, run.ExitCode);
        Assert.Contains("vm/booted did not arrive within 1 s", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Events_follow_prints_events_caused_by_another_client_as_json_lines(Via transport)
    {
        using var follower = Process.Start(_vmm.ChRemoteInfo(transport, ["events", "--follow"]))!;
        var lines = new List<JsonElement>();
        var reading = Task.Run(async () =>
        {
            while (await follower.StandardOutput.ReadLineAsync() is { } line)
            {
                using var doc = JsonDocument.Parse(line);
                lock (lines)
                {
                    lines.Add(doc.RootElement.Clone());
                }
            }
        });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !Seen(lines, "deleted"))
        {
            await _vmm.ChRemoteStdinAsync(Via.Rest, """{"payload":{"kernel":"/k"}}""", "create");
            await _vmm.ChRemoteAsync(Via.Rest, "delete");
            await Task.Delay(200);
        }

        follower.Kill();
        await reading;
        Assert.True(Seen(lines, "deleted"), "events --follow printed no vm/deleted record");
        lock (lines)
        {
            var seqs = lines.Select(l => l.GetProperty("seq").GetInt64()).ToList();
            Assert.Equal(seqs.Order(), seqs);
            Assert.Equal(seqs.Count, seqs.Distinct().Count());
        }
    }

    [Fact]
    public async Task Events_since_replays_the_buffered_events_over_REST_and_ends()
    {
        await _vmm.ChRemoteStdinAsync(Via.Rest, """{"payload":{"kernel":"/k"}}""", "create");
        await _vmm.ChRemoteAsync(Via.Rest, "delete");
        var run = await _vmm.ChRemoteAsync(Via.Rest, "--timeout", "20", "events", "--since", "0");
        Assert.Equal(0, run.ExitCode);
        var records = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal("starting", records[0].GetProperty("event").GetString());
        Assert.Equal(0, records[0].GetProperty("seq").GetInt64());
        Assert.Contains(records, r => r.GetProperty("event").GetString() == "deleted");
    }

    private static bool Seen(List<JsonElement> lines, string @event)
    {
        lock (lines)
        {
            return lines.Any(l => l.GetProperty("event").GetString() == @event);
        }
    }
}
