using System.Text.Json;

namespace CloudHypervisor.Tests;

/// <summary>The built executable driven with real curl over --api-socket, as a user would.</summary>
public sealed class ApiSessionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-cli-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string EventFile => Path.Combine(_dir, "events.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_whole_api_session_ends_with_exit_0_the_socket_removed_and_every_event_in_order()
    {
        var kernel = Path.Combine(_dir, "vmlinux");
        await File.WriteAllBytesAsync(kernel, new byte[4096]);
        using var ch = Executable.Start(["--api-socket", Socket, "--event-monitor", $"path={EventFile}"]);
        await Curl.WaitForApiAsync(Socket, ch, TimeSpan.FromSeconds(20));

        var ping = await Curl.SendAsync(Socket, "GET", "vmm.ping");
        Assert.Equal(200, ping.Status);
        Assert.Equal(BuildInfo.Version, JsonDocument.Parse(ping.Body).RootElement.GetProperty("build_version").GetString());

        var create = await Curl.SendAsync(Socket, "PUT", "vm.create", $"{{\"payload\":{{\"kernel\":\"{kernel}\"}}}}");
        Assert.Equal(204, create.Status);

        var info = await Curl.SendAsync(Socket, "GET", "vm.info");
        Assert.Equal(200, info.Status);
        Assert.Equal("Created", JsonDocument.Parse(info.Body).RootElement.GetProperty("state").GetString());

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.delete")).Status);
        Assert.Equal(404, (await Curl.SendAsync(Socket, "GET", "vm.info")).Status);

        var shutdown = await Curl.SendAsync(Socket, "PUT", "vmm.shutdown");
        Assert.Equal(200, shutdown.Status);
        Assert.Equal("", shutdown.Body);

        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(File.Exists(Socket), "the API socket is removed on a clean exit");
        Assert.Equal("", ch.Stdout);

        var records = ReadEvents(EventFile);
        Assert.Equal(
            ["vmm/starting", "vm/deleted", "vmm/shutdown"],
            records.Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}"));
        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task A_second_instance_on_the_same_socket_exits_1_naming_the_socket()
    {
        using var first = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, first, TimeSpan.FromSeconds(20));

        var (code, stdout, stderr) = await Executable.RunAsync("--api-socket", $"path={Socket}");

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains(
            $"Error: Cloud Hypervisor exited with the following error:\n  API socket \"{Socket}\" is already in use by another running instance\n",
            stderr);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "GET", "vmm.ping")).Status);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_file_at_the_socket_path_is_kept_and_start_exits_1_with_upstreams_chain()
    {
        File.WriteAllText(Socket, "precious");

        var (code, stdout, stderr) = await Executable.RunAsync("--api-socket", $"path={Socket}");

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains(
            "Error: Cloud Hypervisor exited with the following chain of errors:\n  0: Failed to start the VMM thread\n  1: Error creation API server's socket\n  2: Address already in use (os error 98)\n",
            stderr);
        Assert.Equal("precious", File.ReadAllText(Socket));
    }

    [Theory]
    [InlineData(Executable.SIGTERM)]
    [InlineData(Executable.SIGINT)]
    public async Task A_signal_shuts_the_vmm_down_like_vmm_shutdown_and_exits_0(int signal)
    {
        var kernel = Path.Combine(_dir, "vmlinux");
        await File.WriteAllBytesAsync(kernel, new byte[4096]);
        using var ch = Executable.Start(["--api-socket", Socket, "--event-monitor", $"path={EventFile}"]);
        await Curl.WaitForApiAsync(Socket, ch, TimeSpan.FromSeconds(20));
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", $"{{\"payload\":{{\"kernel\":\"{kernel}\"}}}}")).Status);

        ch.Signal(signal);

        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(File.Exists(Socket));
        var events = ReadEvents(EventFile).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}").ToList();
        Assert.Equal("vmm/starting", events[0]);
        Assert.Contains("vm/deleted", events);
        Assert.Equal("vmm/shutdown", events[^1]);
    }

    [Fact]
    public async Task SIGINT_shuts_the_vmm_down_also_when_it_was_started_with_SIGINT_ignored()
    {
        // A script's `cloud-hypervisor … &` starts it so: a non-interactive shell ignores SIGINT in
        // background jobs, and `trap '' INT` does the same here. The runtime keeps an inherited
        // ignore unless the VMM undoes it first; upstream shuts down either way.
        using var ch = Executable.StartThroughShell($"trap '' INT; exec '{Executable.Locate()}' --api-socket '{Socket}' --event-monitor 'path={EventFile}'");
        await Curl.WaitForApiAsync(Socket, ch, TimeSpan.FromSeconds(20));

        ch.Signal(Executable.SIGINT);

        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(File.Exists(Socket));
        Assert.Equal("vmm/shutdown", ReadEvents(EventFile).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}").Last());
    }

    [Fact]
    public async Task Booting_a_kernel_that_cannot_load_answers_an_error_and_the_vmm_keeps_running()
    {
        var kernel = Path.Combine(_dir, "vmlinux");
        await File.WriteAllBytesAsync(kernel, new byte[4096]);
        using var ch = Executable.Start(["--api-socket", Socket]);
        await Curl.WaitForApiAsync(Socket, ch, TimeSpan.FromSeconds(20));
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", $"{{\"payload\":{{\"kernel\":\"{kernel}\"}}}}")).Status);

        var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");

        Assert.NotEqual(204, boot.Status);
        var chain = JsonSerializer.Deserialize<string[]>(boot.Body)!;
        Assert.Equal("Error from API", chain[0]);
        Assert.Equal("The VM could not boot", chain[1]);

        Assert.Equal(200, (await Curl.SendAsync(Socket, "GET", "vmm.ping")).Status);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    internal static List<JsonElement> ReadEvents(string path)
    {
        var text = File.ReadAllText(path);
        Assert.EndsWith("}\n\n", text);
        // Upstream's integration tests split the file this way.
        return [.. text.Trim().Split("\n\n").Select(r => JsonDocument.Parse(r).RootElement.Clone())];
    }
}
