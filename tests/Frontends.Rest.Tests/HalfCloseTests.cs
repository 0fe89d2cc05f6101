using CloudHypervisor.EventMonitor;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// A client that sends its request and then shuts down its sending side (socat, nc -N, a script
// piping into the socket) still reads: it gets its answer, as upstream's server gives it. Only a
// client that is gone ends the connection's work. python3 is the client: it can half-close.
public sealed class HalfCloseTests : IAsyncLifetime
{
    // argv: socket, request target, lines to read after the head ("0": read to the end).
    private const string Script = """
        import socket, sys
        path, target, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                print("EOF")
                break
            data += chunk
            sys.stdout.write(chunk.decode())
            sys.stdout.flush()
            if lines and data.count(b'"seq"') >= lines:
                break
        """;

    private RestHost _host = null!;

    public async Task InitializeAsync() => _host = await RestHost.StartAsync(MiniVmm.Create());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private Task<ToolResult> HalfClosedGetAsync(string target, int lines) =>
        Children.RunAsync(Children.StartInfo("python3", ["-c", Script, _host.Socket, target, lines.ToString(System.Globalization.CultureInfo.InvariantCulture)]));

    [Fact]
    public async Task A_half_closed_client_gets_its_answer_and_then_the_server_closes()
    {
        var run = await HalfClosedGetAsync("/api/v1/vmm.ping", 0);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("HTTP/1.1 200", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"version\":\"54.0.0\"", run.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("EOF\n", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_half_closed_event_follower_keeps_receiving_events()
    {
        var follower = HalfClosedGetAsync("/api/v1/events", 2);
        // The follower subscribes, then events are published: both must reach it.
        await Tools.EventuallyAsync(async () =>
        {
            _host.Events.Publish(Events.Guest.Panic, new Dictionary<string, string> { ["event"] = "ping-test" });
            await Task.Delay(100);
            return follower.IsCompleted;
        }, TimeSpan.FromSeconds(30));

        var run = await follower;
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("\"ping-test\"", run.Stdout, StringComparison.Ordinal);
    }
}
