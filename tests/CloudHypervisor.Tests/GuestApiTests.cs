using System.Diagnostics;

namespace CloudHypervisor.Tests;

/// <summary>
/// The bundled guests on the real /dev/kvm, driven through the REST API of the real executable
/// with curl (issue 4): serial output read from <c>file=</c>, lifecycle actions, and the events
/// in the event file in order.
/// </summary>
public sealed class GuestApiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-guest-api-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");
    private string EventFile => Path.Combine(_dir, "events.json");
    private string Serial => Path.Combine(_dir, "serial.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Executable> StartAsync(params string[] extra)
    {
        var vmm = Executable.Start(["--api-socket", $"path={Socket}", "--event-monitor", $"path={EventFile}", .. extra]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        return vmm;
    }

    private async Task CreateAndBootAsync(string guest)
    {
        var config = $$$"""{"memory":{"size":33554432},"payload":{"kernel":"{{{Guests.Path(guest)}}}"},"serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Off"}}""";
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);
    }

    private string SerialText()
    {
        if (!File.Exists(Serial))
        {
            return "";
        }

        using var stream = new FileStream(Serial, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private async Task WaitForSerialAsync(Func<string, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (condition(SerialText()))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"the serial port never showed {what}; it has:\n{SerialText()}");
    }

    private static int Count(string text, string line) => text.Split('\n').Count(l => l.TrimEnd('\r') == line);

    private List<string> Events() =>
        [.. ApiSessionTests.ReadEvents(EventFile).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}")];

    [Fact]
    public async Task Pause_stops_the_tick_counter_and_resume_restarts_it()
    {
        using var vmm = await StartAsync();
        await CreateAndBootAsync("ticks");
        await WaitForSerialAsync(t => t.Contains("ticks: 2\r\n", StringComparison.Ordinal), "ticks: 2");

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.pause")).Status);
        var paused = SerialText();
        await Task.Delay(1500); // ticks prints four lines a second while it runs
        Assert.Equal(paused, SerialText());
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(Socket, "GET", "vm.info")).Body, StringComparison.Ordinal);

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.resume")).Status);
        await WaitForSerialAsync(t => t.Length > paused.Length, "new ticks after resume");

        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(
            ["vmm/starting", "vm/booting", "vm/booted", "vm/pausing", "vm/paused", "vm/resuming", "vm/resumed", "vm/shutdown", "vm/deleted", "vmm/shutdown"],
            Events());
    }

    [Fact]
    public async Task Reboot_restarts_the_banner()
    {
        const string banner = "banner: hello from the cloud-hypervisor test guest";
        using var vmm = await StartAsync();
        await CreateAndBootAsync("banner");
        await WaitForSerialAsync(t => Count(t, banner) == 1, "the banner");

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.reboot")).Status);
        await WaitForSerialAsync(t => Count(t, banner) == 2, "the banner a second time");
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(Socket, "GET", "vm.info")).Body, StringComparison.Ordinal);

        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(
            ["vmm/starting", "vm/booting", "vm/booted", "vm/rebooting", "vm/rebooted", "vm/shutdown", "vm/deleted", "vmm/shutdown"],
            Events());
    }

    [Fact]
    public async Task The_power_button_makes_the_guest_power_off_and_the_VMM_exit_0()
    {
        using var vmm = await StartAsync();
        await CreateAndBootAsync("powerbutton");
        await WaitForSerialAsync(t => t.Contains("powerbutton: waiting for the GED interrupt", StringComparison.Ordinal), "the guest waiting");

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.power-button")).Status);

        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("powerbutton: power button pressed, powering off", SerialText(), StringComparison.Ordinal);
        Assert.Equal(["vmm/starting", "vm/booting", "vm/booted", "vm/shutdown", "vm/deleted", "vmm/shutdown"], Events());
        Assert.False(File.Exists(Socket));
    }

    [Fact]
    public async Task A_guest_poweroff_with_no_shutdown_leaves_a_created_VM_that_boots_again()
    {
        using var vmm = await StartAsync("--no-shutdown");
        await CreateAndBootAsync("poweroff");
        await WaitForSerialAsync(t => t.Contains("poweroff: writing S5", StringComparison.Ordinal), "the S5 write");
        var clock = Stopwatch.StartNew();
        while (!(await Curl.SendAsync(Socket, "GET", "vm.info")).Body.Contains("\"state\":\"Created\"", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the VM never went back to Created");
            await Task.Delay(50);
        }

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);
        await WaitForSerialAsync(t => Count(t, "poweroff: hello") >= 1 && t.Split("poweroff: writing S5").Length >= 3, "a second run");
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var events = Events();
        Assert.Equal(["vmm/starting", "vm/booting", "vm/booted", "vm/shutdown", "vm/booting", "vm/booted"], events.Take(6));
        Assert.Equal("vmm/shutdown", events[^1]);
    }

    [Fact]
    public async Task A_triple_fault_reboots_the_VM_with_rebooting_and_rebooted_events()
    {
        const string line = "triplefault: loading an empty IDT and faulting";
        using var vmm = await StartAsync();
        await CreateAndBootAsync("triplefault");
        // The guest faults on every boot: each reset is a reboot, so its line comes again.
        await WaitForSerialAsync(t => Count(t, line) >= 2, "the guest starting again after its triple fault");

        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var events = Events();
        Assert.Equal(["vmm/starting", "vm/booting", "vm/booted", "vm/rebooting", "vm/rebooted"], events.Take(5));
        Assert.Equal("vmm/shutdown", events[^1]);
    }
}
