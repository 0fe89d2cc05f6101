namespace CloudHypervisor.Tests;

/// <summary>What the executable writes to stderr and --log-file at each verbosity.</summary>
public sealed class LoggingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Executable> StartAndShutDown(params string[] extra)
    {
        var socket = Path.Combine(_dir, "api.sock");
        var ch = Executable.Start(["--api-socket", socket, .. extra]);
        await Curl.WaitForApiAsync(socket, ch, TimeSpan.FromSeconds(20));
        Assert.Equal(200, (await Curl.SendAsync(socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        return ch;
    }

    [Fact]
    public async Task At_the_default_level_nothing_is_printed_on_stdout_or_stderr()
    {
        using var ch = await StartAndShutDown();

        Assert.Equal("", ch.Stdout);
        Assert.Equal("", ch.Stderr);
    }

    [Fact]
    public async Task With_v_stderr_has_upstream_format_lines_and_events_are_logged_without_an_event_file()
    {
        using var ch = await StartAndShutDown("-v");

        Assert.Equal("", ch.Stdout);
        Assert.Matches(@"(?m)^cloud-hypervisor: \d+\.\d{6}s: <[^>]+> INFO:vmm -- v54\.0\.0 starting$", ch.Stderr);
        Assert.Matches(@"(?m)INFO:event_monitor -- Event: source = vmm event = starting$", ch.Stderr);
        Assert.Matches(@"(?m)INFO:event_monitor -- Event: source = vmm event = shutdown$", ch.Stderr);
        Assert.DoesNotContain("DEBUG:", ch.Stderr);
    }

    [Fact]
    public async Task With_vv_debug_lines_appear()
    {
        using var ch = await StartAndShutDown("-vv");

        Assert.Contains("DEBUG:", ch.Stderr);
    }

    [Fact]
    public async Task Log_file_receives_the_lines_instead_of_stderr_and_is_truncated()
    {
        var logFile = Path.Combine(_dir, "ch.log");
        await File.WriteAllTextAsync(logFile, "old content\n");

        using var ch = await StartAndShutDown("-v", "--log-file", logFile);

        Assert.Equal("", ch.Stderr);
        var log = await File.ReadAllTextAsync(logFile);
        Assert.DoesNotContain("old content", log);
        Assert.Contains("INFO:vmm -- v54.0.0 starting", log);
    }

    [Fact]
    public async Task An_inherited_event_monitor_fd_receives_the_records()
    {
        var socket = Path.Combine(_dir, "api.sock");
        var events = Path.Combine(_dir, "events.json");
        // bash opens fd 3 and execs the VMM, as a supervisor passing a descriptor would.
        using var ch = Executable.StartThroughShell(
            $"exec 3>'{events}'; exec '{Executable.Locate()}' --api-socket '{socket}' --event-monitor fd=3");
        await Curl.WaitForApiAsync(socket, ch, TimeSpan.FromSeconds(20));
        Assert.Equal(200, (await Curl.SendAsync(socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));

        Assert.Equal(
            ["starting", "shutdown"],
            ApiSessionTests.ReadEvents(events).Select(r => r.GetProperty("event").GetString()));
    }
}
