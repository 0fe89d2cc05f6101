using System.Text.Json;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.InternalApi;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// Scenarios through the real Vmm control loop (src/Vmm) with a hypervisor test double, driven
// by the real curl: what a user of the socket sees from the whole control plane.
public sealed class VmmLoopScenarioTests : IAsyncLifetime
{
    private ServedLoop _served = null!;

    private string Socket => _served.Socket;

    public async Task InitializeAsync() => _served = await ServedLoop.StartAsync();

    public async Task DisposeAsync() => await _served.DisposeAsync();

    private Task<CurlResponse> PutAsync(string action, string? body = null) => body is null
        ? Curl.RunAsync(Socket, "-X", "PUT", "http://localhost/api/v1/" + action)
        : Curl.RunAsync(Socket, "-X", "PUT", "http://localhost/api/v1/" + action, "-d", body);

    private Task<CurlResponse> GetAsync(string action) => Curl.RunAsync(Socket, "http://localhost/api/v1/" + action);

    private static string[] Chain(CurlResponse response) => JsonSerializer.Deserialize<string[]>(response.Body)!;

    private static string State(CurlResponse info) => JsonDocument.Parse(info.Body).RootElement.GetProperty("state").GetString()!;

    [Fact]
    public async Task A_lifecycle_through_the_real_loop_answers_with_upstreams_codes_and_our_error_kinds()
    {
        var ping = await GetAsync("vmm.ping");
        Assert.Equal(200, ping.Status);
        Assert.Equal("54.0.0", JsonDocument.Parse(ping.Body).RootElement.GetProperty("version").GetString());

        var noVm = await GetAsync("vm.info");
        Assert.Equal(404, noVm.Status);
        Assert.Equal(["Error from API", "The VM info is not available"], Chain(noVm)[..2]);

        Assert.Equal(204, (await PutAsync("vm.create", """{"payload":{"kernel":"/k"}}""")).Status);
        var again = await PutAsync("vm.create", """{"payload":{"kernel":"/k"}}""");
        Assert.Equal(409, again.Status);
        Assert.Equal(["Error from API", "The VM could not be created"], Chain(again)[..2]);
        Assert.Equal("Created", State(await GetAsync("vm.info")));

        var pauseCreated = await PutAsync("vm.pause");
        Assert.Equal(409, pauseCreated.Status);
        Assert.Equal(["Error from API", "The VM could not be paused"], Chain(pauseCreated)[..2]);

        Assert.Equal(204, (await PutAsync("vm.boot")).Status);
        Assert.Equal("Running", State(await GetAsync("vm.info")));
        Assert.Equal(204, (await PutAsync("vm.pause")).Status);
        Assert.Equal("Paused", State(await GetAsync("vm.info")));
        Assert.Equal(409, (await PutAsync("vm.pause")).Status);
        Assert.Equal(204, (await PutAsync("vm.resume")).Status);
        Assert.Equal(204, (await PutAsync("vm.shutdown")).Status);
        Assert.Equal(204, (await PutAsync("vm.delete")).Status);
        Assert.Equal(404, (await GetAsync("vm.info")).Status);
        Assert.Contains("boot", _served.Hypervisor.LastVm!.Calls);
        Assert.Contains("pause", _served.Hypervisor.LastVm!.Calls);
    }

    [Fact]
    public async Task During_a_slow_boot_reads_answer_at_once_and_a_conflict_is_429_with_Retry_After()
    {
        using var gate = new SemaphoreSlim(0);
        _served.Hypervisor.BootGate = gate;
        Assert.Equal(204, (await PutAsync("vm.create", """{"payload":{"kernel":"/k"}}""")).Status);

        var boot = PutAsync("vm.boot");
        await Task.Delay(300);
        Assert.False(boot.IsCompleted);
        Assert.Equal(200, (await GetAsync("vmm.ping")).Status);
        Assert.Equal(200, (await GetAsync("vm.info")).Status);
        var pause = await PutAsync("vm.pause");
        Assert.Equal(429, pause.Status);
        Assert.NotNull(pause.Header("Retry-After"));
        Assert.Equal(["Error from API", "The VM could not be paused"], Chain(pause)[..2]);

        gate.Release();
        Assert.Equal(204, (await boot).Status);
        Assert.Equal("Running", State(await GetAsync("vm.info")));
    }

    [Fact]
    public async Task Vmm_shutdown_through_the_loop_reaches_curl_and_the_loop_exits_0()
    {
        var shutdown = await PutAsync("vmm.shutdown");

        Assert.Equal(200, shutdown.Status);
        Assert.Equal("0", shutdown.Header("Content-Length"));
        Assert.Equal(0, await _served.Loop.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task The_event_stream_shows_the_loops_lifecycle_events_in_seq_order()
    {
        var since = _served.Events.NextSeq;
        Assert.Equal(204, (await PutAsync("vm.create", """{"payload":{"kernel":"/k"}}""")).Status);
        Assert.Equal(204, (await PutAsync("vm.boot")).Status);
        Assert.Equal(204, (await PutAsync("vm.pause")).Status);

        // --max-time ends curl's read of the open stream; everything up to then is kept.
        var (_, stdout, _) = await Curl.RunRawAsync(["-sS", "-N", "--unix-socket", Socket, $"http://localhost/api/v1/events?since={since}"], maxTimeSeconds: 2);
        var records = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

        var seqs = records.Select(r => r.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range((int)since, seqs.Count).Select(i => (long)i), seqs);
        var names = records.Select(r => r.GetProperty("source").GetString() + "/" + r.GetProperty("event").GetString()).ToList();
        Assert.Contains("vm/booted", names);
        Assert.Contains("vm/paused", names);
        Assert.True(names.IndexOf("vm/booted") < names.IndexOf("vm/paused"));
    }
}
