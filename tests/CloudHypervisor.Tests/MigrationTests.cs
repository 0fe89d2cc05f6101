using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using CloudHypervisor.TestSupport;
using Xunit.Abstractions;

namespace CloudHypervisor.Tests;

/// <summary>
/// Live migration between two processes of the real executable on /dev/kvm, with upstream's wire
/// protocol: the <c>ticks</c> guest goes on without a gap (every tick once, in order, the start line
/// once), the <c>memfill</c> guest's own check of its RAM passes after it, and a guest that keeps
/// rewriting its memory (fill.churn) converges or times out as configured. The serial port is the
/// VMM's stdout (mode Tty), so each process's output is its own. Failure paths use the test as the
/// peer, speaking the protocol over a real socket.
/// </summary>
public sealed partial class MigrationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-mig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private async Task<Executable> StartAsync(string name, params string[] extra)
    {
        var vmm = Executable.Start(["--api-socket", $"path={In(name + ".sock")}", "--event-monitor", $"path={In(name + ".events")}", .. extra]);
        await Curl.WaitForApiAsync(In(name + ".sock"), vmm, TimeSpan.FromSeconds(60));
        return vmm;
    }

    private static string Config(string guest, ulong memory, string cmdline = "", bool shared = false) =>
        $$$"""{"memory":{"size":{{{memory}}}{{{(shared ? ",\"shared\":true" : "")}}}},"payload":{"kernel":"{{{Guests.Path(guest)}}}","cmdline":"{{{cmdline}}}"},"serial":{"mode":"Tty"},"console":{"mode":"Off"}}""";

    [GeneratedRegex(@"^(?:ticks|memfill: tick) (\d+)\r?$", RegexOptions.Multiline)]
    private static partial Regex TickLine();

    private static List<long> Ticks(string text) =>
        [.. TickLine().Matches(text.Replace("ticks: ", "ticks ", StringComparison.Ordinal)).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    private List<string> Events(string name) =>
        [.. ApiSessionTests.ReadEvents(In(name + ".events")).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}")];

    private static async Task WaitForAsync(Func<bool> condition, string what, Func<string> shown)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"never saw {what}; have:\n{shown()}");
    }

    private Task WaitForEventAsync(string name, string kind) =>
        WaitForAsync(() => File.Exists(In(name + ".events")) && Events(name).Contains(kind), kind, () => string.Join(", ", Events(name)));

    /// <summary>Source "a" runs <paramref name="config"/> until <paramref name="ready"/>; "b" listens.</summary>
    private async Task<(Executable A, Executable B)> TwoVmmsAsync(string config, Func<string, bool> ready)
    {
        var a = await StartAsync("a");
        var b = await StartAsync("b");
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.boot")).Status);
        await WaitForAsync(() => ready(a.Stdout), "the guest ready", () => a.Stdout);
        return (a, b);
    }

    /// <summary>One run of the guest across both processes: every tick once, in order, the start line once.</summary>
    private static void AssertOneRun(string before, string after, string start)
    {
        var all = Ticks(before + after);
        Assert.True(Ticks(after).Count >= 1, $"the destination printed no tick: {after}");
        Assert.Equal(Enumerable.Range((int)all[0], all.Count).Select(i => (long)i), all);
        Assert.Equal(1, all[0]);
        Assert.DoesNotContain(start, after, StringComparison.Ordinal);
    }

    private async Task<CurlResponse> MigrateAsync(string url, string send = "")
    {
        var receive = Curl.SendAsync(In("b.sock"), "PUT", "vm.receive-migration", $$"""{"receiver_url":"{{url}}"}""");
        await WaitForEventAsync("b", "vm/migration-receive-ready");
        var sent = await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", $$"""{"destination_url":"{{url}}"{{send}}}""");
        Assert.True(sent.Status == 204, sent.Body);
        return await receive;
    }

    [Theory]
    [InlineData("unix", false)]
    [InlineData("tcp", false)]
    [InlineData("unix", true)]
    public async Task A_counting_guest_migrates_between_two_processes_without_a_gap(string transport, bool local)
    {
        var url = transport == "unix" ? $"unix:{In("mig.sock")}" : $"tcp:127.0.0.1:{FreePort()}";
        var (a, b) = await TwoVmmsAsync(Config("ticks", 64UL << 20, shared: local), t => Ticks(t).Count >= 3);
        using (a)
        using (b)
        {
            var received = await MigrateAsync(url, local ? ",\"local\":true" : "");
            Assert.True(received.Status == 204, received.Body);
            // The source ends as upstream's does: its VM goes, then the VMM.
            Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
            await WaitForAsync(() => Ticks(b.Stdout).Count >= 2, "two ticks on the destination", () => b.Stdout);
            AssertOneRun(a.Stdout, b.Stdout, "ticks: start");

            var source = Events("a");
            Assert.Equal(["vm/migration-started", "vm/pausing", "vm/paused", "vm/migration-finished", "vm/deleted", "vmm/shutdown"],
                source.SkipWhile(e => e != "vm/migration-started").Where(e => e != "vm/migration-memory-iteration"));
            Assert.Equal(!local, source.Contains("vm/migration-memory-iteration"));
            Assert.Equal(["vmm/starting", "vm/migration-receive-ready", "vm/migration-receive-started", "vm/restoring", "vm/restored", "vm/resuming", "vm/resumed", "vm/migration-receive-finished"], Events("b"));
            output.WriteLine($"{transport} local={local}: {a.Stderr.Split('\n').FirstOrDefault(l => l.Contains("Migration to", StringComparison.Ordinal))}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Local_migration_of_private_memory_is_refused_with_upstreams_message_and_the_VM_runs_on()
    {
        using var a = await StartAsync("a");
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.create", Config("ticks", 32UL << 20))).Status);
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.boot")).Status);
        var answer = await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", $$"""{"destination_url":"unix:{{In("none.sock")}}","local":true}""");
        Assert.Equal(400, answer.Status);
        Assert.Contains("Local migration requires shared memory or hugepages enabled", answer.Body, StringComparison.Ordinal);
        answer = await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", """{"destination_url":"tcp:127.0.0.1:1","local":true}""");
        Assert.Equal(400, answer.Status);
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("a.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"downtime_ms\":300", true)]
    [InlineData("\"downtime_ms\":1,\"timeout_s\":3,\"timeout_strategy\":\"Ignore\"", true)]
    public async Task A_guest_that_keeps_rewriting_its_memory_converges_or_times_out_as_configured_and_checks_its_memory_after(string send, bool migrates)
    {
        var (a, b) = await TwoVmmsAsync(Config("memfill", 64UL << 20, "fill.mib=16 fill.check=1 fill.churn=1"),
            t => t.Contains("memfill: check 1 ok", StringComparison.Ordinal));
        using (a)
        using (b)
        {
            var url = $"unix:{In("mig.sock")}";
            var receive = Curl.SendAsync(In("b.sock"), "PUT", "vm.receive-migration", $$"""{"receiver_url":"{{url}}"}""");
            await WaitForEventAsync("b", "vm/migration-receive-ready");
            Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", $$"""{"destination_url":"{{url}}",{{send}}}""")).Status);
            if (!migrates)
            {
                // Both sides answer reads during the migration (it lasts its timeout); the source refuses changes as Busy.
                Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("a.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
                Assert.Equal(404, (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Status);
                var busy = await Curl.SendAsync(In("a.sock"), "PUT", "vm.pause");
                Assert.True(busy.Status == 429 && busy.Body.Contains("vm.send-migration is in progress", StringComparison.Ordinal), busy.Body);
            }

            var received = await receive;
            if (migrates)
            {
                Assert.True(received.Status == 204, received.Body);
                Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
                await WaitForAsync(() => b.Stdout.Contains(" ok 16 MiB", StringComparison.Ordinal) || b.Stdout.Contains("FAIL", StringComparison.Ordinal),
                    "a check on the destination", () => b.Stdout);
                Assert.DoesNotContain("FAIL", b.Stdout, StringComparison.Ordinal);
                AssertOneRun(a.Stdout, b.Stdout, "memfill: start");
                Assert.Contains("vm/migration-memory-iteration", Events("a"));
            }
            else
            {
                Assert.Equal(500, received.Status);
                Assert.Contains("The migration stream ended", received.Body, StringComparison.Ordinal);
                await WaitForEventAsync("a", "vm/migration-failed");
                Assert.Contains("Precopy: Timeout reached: 3s: migration didn't converge in time", a.Stderr, StringComparison.Ordinal);
                Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("a.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
                var ticks = Ticks(a.Stdout)[^1];
                await WaitForAsync(() => Ticks(a.Stdout)[^1] > ticks + 1 && a.Stdout.Split('\n').Any(l => l.StartsWith("memfill: check " + (ticks + 1).ToString(CultureInfo.InvariantCulture) + " ok", StringComparison.Ordinal)),
                    "the source counting and checking on", () => a.Stdout);
                Assert.DoesNotContain("FAIL", a.Stdout, StringComparison.Ordinal);
                Assert.Equal(404, (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Status);
            }

            output.WriteLine(string.Join('\n', a.Stderr.Split('\n').Where(l => l.Contains("igration", StringComparison.Ordinal) || l.Contains("Pre-copy", StringComparison.Ordinal))));
        }
    }

    private static byte[] Request(ushort command, ulong length)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(header, command);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), length);
        return header;
    }

    private static async Task<ushort> ResponseAsync(Socket socket)
    {
        var response = new byte[16];
        await socket.ReceiveAsync(response.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        return BinaryPrimitives.ReadUInt16LittleEndian(response);
    }

    [Fact]
    public async Task A_bad_truncated_or_abandoned_stream_leaves_the_destination_up_with_no_VM()
    {
        using var b = await StartAsync("b");
        var url = In("mig.sock");
        var cases = new List<(string Name, Func<Socket, Task> Play, string Expected)>
        {
            ("abandon", async s =>
            {
                await s.SendAsync(Request(1, 0));
                Assert.Equal(1, await ResponseAsync(s));
                await s.SendAsync(Request(6, 0));
                Assert.Equal(1, await ResponseAsync(s));
            }, "Migration was aborted"),
            ("out of order", async s =>
            {
                await s.SendAsync(Request(3, 0));
                Assert.Equal(2, await ResponseAsync(s));
            }, "Can't handle command State in current receive state Established"),
            ("truncated config", async s =>
            {
                await s.SendAsync(Request(1, 0));
                Assert.Equal(1, await ResponseAsync(s));
                await s.SendAsync(Request(2, 1000));
                await s.SendAsync("{\"vm_con"u8.ToArray());
                s.Shutdown(SocketShutdown.Send);
            }, "The migration stream ended in the middle of Config"),
            ("garbage config", async s =>
            {
                await s.SendAsync(Request(1, 0));
                Assert.Equal(1, await ResponseAsync(s));
                await s.SendAsync(Request(2, 4));
                await s.SendAsync("nope"u8.ToArray());
            }, "Invalid migration config"),
        };
        foreach (var (name, play, expected) in cases)
        {
            var receive = Curl.SendAsync(In("b.sock"), "PUT", "vm.receive-migration", $$"""{"receiver_url":"unix:{{url}}"}""");
            await WaitForAsync(() => File.Exists(url), "the migration socket", () => name);
            using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(url));
                await play(socket);
                var answer = await receive;
                Assert.True(answer.Status is 500 or 400, $"{name}: {answer.Status} {answer.Body}");
                Assert.True(answer.Body.Contains(expected, StringComparison.Ordinal), $"{name}: {answer.Body}");
            }

            Assert.Equal(404, (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Status);
            Assert.Equal(200, (await Curl.SendAsync(In("b.sock"), "GET", "vmm.ping")).Status);
        }

        Assert.Equal(4, Events("b").Count(e => e == "vm/migration-receive-failed"));
    }

    [Fact]
    public async Task A_receiver_that_dies_mid_stream_leaves_the_source_running_and_vmm_shutdown_cancels_a_stalled_send()
    {
        using var a = await StartAsync("a");
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.create", Config("ticks", 32UL << 20))).Status);
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.boot")).Status);
        await WaitForAsync(() => Ticks(a.Stdout).Count >= 2, "two ticks", () => a.Stdout);
        var url = In("peer.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(url));
        listener.Listen(1);

        // A receiver that takes Start and the Config, then dies.
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", $$"""{"destination_url":"unix:{{url}}"}""")).Status);
        using (var peer = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(60)))
        {
            var header = new byte[16];
            await peer.ReceiveAsync(header.AsMemory());
            await peer.SendAsync(Response(1));
            await peer.ReceiveAsync(header.AsMemory());
            Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(header));
        }

        await WaitForEventAsync("a", "vm/migration-failed");
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("a.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
        var last = Ticks(a.Stdout)[^1];
        await WaitForAsync(() => Ticks(a.Stdout)[^1] > last, "a tick after the failed migration", () => a.Stdout);
        Assert.Equal(Enumerable.Range(1, Ticks(a.Stdout).Count).Select(i => (long)i), Ticks(a.Stdout));
        // A second attempt to a receiver that never answers Start: vmm.shutdown cancels it.
        Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.send-migration", $$"""{"destination_url":"unix:{{url}}"}""")).Status);
        using var silent = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(429, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.pause")).Status);
        Assert.Equal(200, (await Curl.SendAsync(In("a.sock"), "GET", "vm.info")).Status);
        Assert.Equal(200, (await Curl.SendAsync(In("a.sock"), "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(2, Events("a").Count(e => e == "vm/migration-failed"));
        Assert.Equal("vmm/shutdown", Events("a")[^1]);
    }

    private static byte[] Response(ushort status)
    {
        var response = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(response, status);
        return response;
    }

    [Fact]
    public async Task A_receive_waiting_for_its_sender_is_cancelled_by_vmm_shutdown()
    {
        using var b = await StartAsync("b");
        var receive = Curl.SendAsync(In("b.sock"), "PUT", "vm.receive-migration", $$"""{"receiver_url":"unix:{{In("mig.sock")}}"}""");
        await WaitForEventAsync("b", "vm/migration-receive-ready");
        Assert.Equal(404, (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Status);
        Assert.Equal(200, (await Curl.SendAsync(In("b.sock"), "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await b.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.NotEqual(204, (await receive).Status);
        Assert.Contains("vm/migration-receive-failed", Events("b"));
    }

    [Fact]
    public async Task Migration_through_ch_remote_over_tcp_continues_the_count()
    {
        var (a, b) = await TwoVmmsAsync(Config("ticks", 32UL << 20), t => Ticks(t).Count >= 3);
        using (a)
        using (b)
        {
            var url = $"tcp:127.0.0.1:{FreePort()}";
            using var receive = Executable.Start(Executables.ChRemote, ["--api-socket", In("b.sock"), "receive-migration", url], null);
            await WaitForEventAsync("b", "vm/migration-receive-ready");
            var sent = await Children.RunAsync(Children.StartInfo(Executables.ChRemote, ["--api-socket", In("a.sock"), "send-migration", $"destination_url={url}"]));
            Assert.True(sent.ExitCode == 0, sent.Stdout + sent.Stderr);
            Assert.Equal(0, await receive.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            await WaitForAsync(() => Ticks(b.Stdout).Count >= 2, "two ticks on the destination", () => b.Stdout);
            AssertOneRun(a.Stdout, b.Stdout, "ticks: start");
        }
    }

#if DBUS_API
    [Fact]
    public async Task Migration_through_DBus_with_busctl_continues_the_count()
    {
        await using var bus = await PrivateBus.StartAsync();
        var environment = new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = bus.Address };
        const string path = "/org/cloudhypervisor/MigTest";
        Task<ToolResult> Busctl(string name, string method, params string[] args) =>
            Children.RunAsync(Children.StartInfo("busctl", ["--address=" + bus.Address, "--timeout=60", "call", name, path, "org.cloudhypervisor.DBusApi1", method, .. args]));

        using var a = Executable.Start(["--api-socket", $"path={In("a.sock")}", "--event-monitor", $"path={In("a.events")}", "--dbus-service-name", "org.cloudhypervisor.MigA", "--dbus-object-path", path], environment);
        using var b = Executable.Start(["--api-socket", $"path={In("b.sock")}", "--event-monitor", $"path={In("b.events")}", "--dbus-service-name", "org.cloudhypervisor.MigB", "--dbus-object-path", path], environment);
        await Curl.WaitForApiAsync(In("a.sock"), a, TimeSpan.FromSeconds(60));
        await Curl.WaitForApiAsync(In("b.sock"), b, TimeSpan.FromSeconds(60));
        Assert.Equal(0, (await Busctl("org.cloudhypervisor.MigA", "VmCreate", "s", Config("ticks", 32UL << 20))).ExitCode);
        Assert.Equal(0, (await Busctl("org.cloudhypervisor.MigA", "VmBoot")).ExitCode);
        await WaitForAsync(() => Ticks(a.Stdout).Count >= 3, "three ticks", () => a.Stdout);
        var url = $"unix:{In("mig.sock")}";
        var receive = Busctl("org.cloudhypervisor.MigB", "VmReceiveMigration", "s", $$"""{"receiver_url":"{{url}}"}""");
        await WaitForEventAsync("b", "vm/migration-receive-ready");
        var sent = await Busctl("org.cloudhypervisor.MigA", "VmSendMigration", "s", $$"""{"destination_url":"{{url}}"}""");
        Assert.True(sent.ExitCode == 0, sent.Stderr);
        var received = await receive;
        Assert.True(received.ExitCode == 0, received.Stderr);
        Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await WaitForAsync(() => Ticks(b.Stdout).Count >= 2, "two ticks on the destination", () => b.Stdout);
        AssertOneRun(a.Stdout, b.Stdout, "ticks: start");
        Assert.Contains("\\\"state\\\":\\\"Running\\\"", (await Busctl("org.cloudhypervisor.MigB", "VmInfo")).Stdout, StringComparison.Ordinal);
    }
#endif
}
