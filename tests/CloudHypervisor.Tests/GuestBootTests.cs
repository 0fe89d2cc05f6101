namespace CloudHypervisor.Tests;

/// <summary>The CLI's own VM (contract §6.3 step 5) on real KVM, with the bundled guests.</summary>
public sealed class GuestBootTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-boot-").FullName;

    private string EventFile => Path.Combine(_dir, "events.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<string> Names(string eventFile) =>
        [.. ApiSessionTests.ReadEvents(eventFile).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}")];

    [Fact]
    public async Task A_guest_booted_from_the_command_line_that_powers_off_ends_the_vmm_with_exit_0()
    {
        using var ch = Executable.Start(
            ["--kernel", Guests.Path("poweroff"), "--serial", "tty", "--console", "off", "--event-monitor", $"path={EventFile}"]);

        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("poweroff: hello\n", ch.Stdout);
        Assert.DoesNotContain("still running", ch.Stdout);
        Assert.Equal(
            ["vmm/starting", "vm/booting", "vm/booted", "vm/shutdown", "vm/deleted", "vmm/shutdown"],
            Names(EventFile));
        Assert.Equal("", ch.Stderr);
    }

    [Fact]
    public async Task With_no_shutdown_a_guest_poweroff_leaves_the_vmm_serving_the_api()
    {
        var socket = Path.Combine(_dir, "api.sock");
        using var ch = Executable.Start(
        [
            "--kernel", Guests.Path("poweroff"), "--serial", "tty", "--console", "off", "--no-shutdown",
            "--api-socket", socket, "--event-monitor", $"path={EventFile}",
        ]);
        await Curl.WaitForApiAsync(socket, ch, TimeSpan.FromSeconds(20));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.ReadAllText(EventFile).Contains("\"event\": \"shutdown\"") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var info = await Curl.SendAsync(socket, "GET", "vm.info");
        Assert.Equal(200, info.Status);
        Assert.Contains("\"state\":\"Created\"", info.Body);
        Assert.Equal(200, (await Curl.SendAsync(socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(["vmm/starting", "vm/booting", "vm/booted", "vm/shutdown"], Names(EventFile)[..4]);
        Assert.Equal("vmm/shutdown", Names(EventFile)[^1]);
    }

    [Fact]
    public async Task A_boot_failure_from_the_command_line_exits_1_with_the_error_chain()
    {
        var notAKernel = Path.Combine(_dir, "zeros");
        await File.WriteAllBytesAsync(notAKernel, new byte[4096]);

        var (code, stdout, stderr) = await Executable.RunAsync("--kernel", notAKernel, "--console", "off");

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("Error: Cloud Hypervisor exited with the following chain of errors:\n  0: The VM could not boot\n", stderr);
    }

    [Fact]
    public async Task A_bad_vm_flag_exits_1_with_upstreams_parse_chain()
    {
        var (code, _, stderr) = await Executable.RunAsync("--kernel", "/nonexistent", "--disk", "foo=bar");

        Assert.Equal(1, code);
        Assert.EndsWith(
            "Error: Cloud Hypervisor exited with the following chain of errors:\n"
            + "  0: Error parsing config\n  1: Error parsing --disk\n  2: Failed to parse disk configuration\n  3: Unknown option: foo\n",
            stderr);
    }
}
