using CloudHypervisor.EventMonitor;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using Xunit;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest.Tests;

// GET /api/v1/events[?since=N], read by a real `curl -N` as an NDJSON stream.
public sealed class EventStreamTests
{
    [Fact]
    public async Task A_subscriber_gets_each_event_caused_through_the_api_as_one_line_in_seq_order()
    {
        await using var events = new EventMonitorHub();
        events.Publish(Events.Vmm.Starting);
        await using var host = await RestHost.StartAsync(MiniVmm.Create(events), events);
        // since = the next seq: nothing published after this line can be missed, however late
        // curl's request reaches the server.
        using var stream = EventReader.Open(host.Socket, $"http://localhost/api/v1/events?since={events.NextSeq}");

        Assert.Equal(204, (await CurlCreateAsync(host)).Status);
        Assert.Equal(204, (await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.boot")).Status);
        Assert.Equal(204, (await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.pause")).Status);
        Assert.Equal(204, (await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.resume")).Status);

        var lines = await stream.ReadLinesAsync(3);
        Assert.Equal(["booted", "paused", "resumed"], lines.Select(l => l.GetProperty("event").GetString()));
        Assert.All(lines, l => Assert.Equal("vm", l.GetProperty("source").GetString()));
        Assert.Equal([1L, 2L, 3L], lines.Select(l => l.GetProperty("seq").GetInt64()));
        Assert.All(lines, l => Assert.True(l.GetProperty("timestamp").TryGetProperty("nanos", out _)));
    }

    [Fact]
    public async Task Since_replays_the_buffered_events_then_streams_new_ones()
    {
        await using var events = new EventMonitorHub();
        for (var i = 0; i < 5; i++)
        {
            events.Publish(Events.Vm.Resized);
        }

        await using var host = await RestHost.StartAsync(MiniVmm.Create(), events);
        using var stream = EventReader.Open(host.Socket, "http://localhost/api/v1/events?since=2");
        events.Publish(Events.Vm.Resumed);

        var lines = await stream.ReadLinesAsync(4);

        Assert.Equal([2L, 3L, 4L, 5L], lines.Select(l => l.GetProperty("seq").GetInt64()));
        Assert.Equal("resumed", lines[3].GetProperty("event").GetString());
    }

    [Fact]
    public async Task Follow_false_replays_the_buffered_events_and_ends_the_stream()
    {
        await using var events = new EventMonitorHub();
        for (var i = 0; i < 3; i++)
        {
            events.Publish(Events.Vm.Resized);
        }

        await using var host = await RestHost.StartAsync(MiniVmm.Create(), events);
        // curl exits 0 only when the server ends the chunked body: a stream left open would hang it.
        var response = await host.CurlAsync("http://localhost/api/v1/events?since=1&follow=false");
        Assert.Equal(200, response.Status);
        var lines = response.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([1L, 2L], lines.Select(l => l.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task The_head_arrives_before_any_event_and_the_stream_ends_cleanly_when_the_server_stops()
    {
        await using var events = new EventMonitorHub();
        var host = await RestHost.StartAsync(MiniVmm.Create(), events);
        // A raw client: curl holds back a chunked response's head until body bytes arrive.
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(host.Socket));
        await client.SendAsync("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());

        var head = await ReadUntilAsync(client, "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/x-ndjson\r\n", head, StringComparison.Ordinal);
        Assert.Contains("Transfer-Encoding: chunked\r\n", head, StringComparison.Ordinal);
        Assert.Contains("Server: Cloud Hypervisor API\r\n", head, StringComparison.Ordinal);

        events.Publish(Events.Vm.Booted);
        var chunk = await ReadUntilAsync(client, "\n\r\n");
        Assert.Contains("\"event\":\"booted\"", chunk, StringComparison.Ordinal);

        // A stream that held the stop until its timeout would be aborted, without the last chunk.
        await host.Server.StopAsync();
        var rest = await ReadToEndAsync(client);
        Assert.EndsWith("0\r\n\r\n", rest, StringComparison.Ordinal);
        await host.DisposeAsync();
    }

    [Fact]
    public async Task A_follower_that_stops_reading_is_disconnected_and_a_new_one_gets_later_events()
    {
        await using var events = new EventMonitorHub(replayCapacity: 64, queueCapacity: 64);
        await using var host = await RestHost.StartAsync(MiniVmm.Create(), events);
        using var lagging = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveBufferSize = 4096 };
        await lagging.ConnectAsync(new UnixDomainSocketEndPoint(host.Socket));
        await lagging.SendAsync("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await ReadUntilAsync(lagging, "\r\n\r\n"), StringComparison.Ordinal);

        // Far more than the socket buffers, the output pipe and the queue hold, while it reads nothing.
        for (var i = 0; i < 20000; i++)
        {
            events.Publish(Events.Vm.Resized);
        }

        // It was stuck writing to a client that reads nothing: once cut off, the server closes the
        // connection, so reading what arrived ends in EOF (before: no EOF, ever).
        var received = await ReadToEndAsync(lagging, TimeSpan.FromSeconds(30));
        Assert.Contains("\"event\":\"resized\"", received, StringComparison.Ordinal);
        Assert.DoesNotContain("0\r\n\r\n", received[^5..], StringComparison.Ordinal);

        using var fresh = EventReader.Open(host.Socket, $"http://localhost/api/v1/events?since={events.NextSeq}");
        events.Publish(Events.Vm.Resumed);
        var lines = await fresh.ReadLinesAsync(1);
        Assert.Equal("resumed", lines[0].GetProperty("event").GetString());
    }

    private static async Task<string> ReadUntilAsync(Socket socket, string marker)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var text = new System.Text.StringBuilder();
        var buffer = new byte[1];
        while (!text.ToString().EndsWith(marker, StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
            {
                throw new InvalidOperationException("connection closed after: " + text);
            }

            text.Append((char)buffer[0]);
        }

        return text.ToString();
    }

    private static async Task<string> ReadToEndAsync(Socket socket, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(5));
        var text = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    private static Task<CurlResponse> CurlCreateAsync(RestHost host) =>
        host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.create", "-d", """{"payload":{"kernel":"/k"}}""");

    /// <summary>A running <c>curl -N</c> on the event stream; reads NDJSON lines.</summary>
    private sealed class EventReader : IDisposable
    {
        private readonly Process _curl;

        private EventReader(Process curl) => _curl = curl;

        public static EventReader Open(string socket, string url) =>
            new(Curl.Start(["-sS", "-N", "--unix-socket", socket, url]));

        public async Task<List<JsonElement>> ReadLinesAsync(int count)
        {
            var lines = new List<JsonElement>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (lines.Count < count)
            {
                var line = await _curl.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new InvalidOperationException("the event stream ended early");
                Assert.DoesNotContain('\r', line);
                lines.Add(JsonDocument.Parse(line).RootElement.Clone());
            }

            return lines;
        }

        public void Dispose()
        {
            _curl.Kill();
            _curl.WaitForExit();
            _curl.Dispose();
        }
    }
}
