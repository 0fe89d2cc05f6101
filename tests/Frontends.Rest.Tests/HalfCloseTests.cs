using CloudHypervisor.EventMonitor;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.InternalApi;
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

    // argv: socket, connections. Each sends a PUT with its body and the FIN in one go, as
    // `printf ... | nc -N` does, and prints the status line it got (or "none").
    private const string PutScript = """
        import socket, sys
        path, count = sys.argv[1], int(sys.argv[2])
        body = b'{"desired_vcpus":1}'
        request = b"PUT /api/v1/vm.resize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        for _ in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print(data.split(b"\r\n")[0].decode() or "none")
            s.close()
        """;

    private RestHost _host = null!;

    public async Task InitializeAsync()
    {
        var handler = MiniVmm.Create();
        handler["vm.resize"] = _ => ApiResult.Ok();
        _host = await RestHost.StartAsync(handler);
    }

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
    public async Task A_half_closed_request_with_a_body_gets_its_answer_every_time()
    {
        // Kestrel read the FIN that came with the body as a client gone: 197 of 200 such requests
        // got no answer before the transport held the end of input back.
        var run = await Children.RunAsync(Children.StartInfo("python3", ["-c", PutScript, _host.Socket, "50"]));

        Assert.True(run.ExitCode == 0, run.ToString());
        var statuses = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(50, statuses.Length);
        Assert.All(statuses, status => Assert.StartsWith("HTTP/1.1 204", status, StringComparison.Ordinal));
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
