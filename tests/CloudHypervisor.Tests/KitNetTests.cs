using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>
/// The kit's virtio-net guest (a host on the link answering ARP and ICMP echo) on our VMM with
/// a tap, always inside a private network namespace of the test's own (the VMM runs in it with
/// `ip netns exec`), so no test touches the machine's network. The host side pings the guest
/// through the tap with the real ping; frames cross both ways.
/// </summary>
public sealed class KitNetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-kit-net-").FullName;
    private readonly string _netns = $"ch-kit-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    public KitNetTests()
    {
        var add = Run("ip", "netns", "add", _netns);
        Assert.True(add.ExitCode == 0, $"ip netns add failed (needs root and iproute2): {add}");
        Assert.Equal(0, Run("ip", "netns", "exec", _netns, "ip", "link", "set", "lo", "up").ExitCode);
    }

    private string Socket => Path.Combine(_dir, "api.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    public void Dispose()
    {
        Run("ip", "netns", "del", _netns);
        Directory.Delete(_dir, recursive: true);
    }

    private static ToolResult Run(string tool, params string[] args) =>
        Children.RunAsync(Children.StartInfo(Tools.Require(tool), args), limit: TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();

    private ToolResult InNamespace(params string[] command) => Run("ip", ["netns", "exec", _netns, .. command]);

    private async Task PingAndCheckAsync(Executable vmm)
    {
        await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "virtio-net: sent a gratuitous ARP for 192.168.249.2", vmm);

        var ping = InNamespace(Tools.Require("ping"), "-c", "3", "-W", "10", "192.168.249.2");

        Assert.True(ping.ExitCode == 0, $"ping through the tap failed: {ping}\nguest: {KitGuestTests.ReadShared(Serial)}");
        Assert.Contains("3 packets transmitted, 3 received", ping.Stdout, StringComparison.Ordinal);
        var output = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "virtio-net: ok", vmm);
        Assert.Contains("virtio-net: echo reply to 192.168.249.1", output, StringComparison.Ordinal);
        Assert.Contains(" ARP requests and 3 echo requests", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_guest_answers_ping_through_a_tap_the_VMM_creates_and_configures()
    {
        using var vmm = Executable.StartThroughShell(
            $"exec ip netns exec {_netns} '{Executable.Locate()}' --api-socket 'path={Socket}' --kernel '{Guests.Path("virtio-net")}' " +
            "--cmdline 'net.echoes=3 net.timeout=60' --memory size=64M --console off " +
            $"--serial 'file={Serial}' --net tap=chkit0,ip=192.168.249.1,mask=255.255.255.0,mac=52:54:00:6b:69:01,host_mac=52:54:00:6b:69:fe,mtu=1400");
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));

        await PingAndCheckAsync(vmm);

        var guest = KitGuestTests.ReadShared(Serial);
        Assert.Contains("virtio-net: 00:01.0 mac 52:54:00:6b:69:01 link up ip 192.168.249.2", guest, StringComparison.Ordinal);
        var link = InNamespace("ip", "-o", "link", "show", "chkit0").Stdout;
        Assert.Contains("mtu 1400", link, StringComparison.Ordinal);
        Assert.Contains("link/ether 52:54:00:6b:69:fe", link, StringComparison.Ordinal);
        Assert.Contains(",UP", link, StringComparison.Ordinal);
        Assert.Contains("inet 192.168.249.1/24", InNamespace("ip", "-o", "-4", "addr", "show", "chkit0").Stdout, StringComparison.Ordinal);
        var counters = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body).GetProperty("_net0");
        Assert.True(counters.GetProperty("rx_frames").GetUInt64() >= 4, $"rx_frames {counters}");
        Assert.True(counters.GetProperty("tx_frames").GetUInt64() >= 5, $"tx_frames {counters}");
        var tree = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body).GetProperty("device_tree");
        Assert.Equal("0000:00:01.0", tree.GetProperty("_virtio-pci-_net0").GetProperty("pci_bdf").GetString());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        // The tap the VMM created goes with it.
        Assert.NotEqual(0, InNamespace("ip", "link", "show", "chkit0").ExitCode);
    }

    [Fact]
    public async Task A_tap_passed_as_fd_carries_the_frames()
    {
        // The caller makes and configures the tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and hands
        // it over as descriptor 3, as a management stack does; the VMM only adopts it.
        var script = $$"""
            import fcntl, os, struct, subprocess
            fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"chfd0", 0x0002 | 0x1000 | 0x4000))
            subprocess.run(["ip", "addr", "add", "192.168.249.1/24", "dev", "chfd0"], check=True)
            subprocess.run(["ip", "link", "set", "chfd0", "up"], check=True)
            os.dup2(fd, 3)
            os.set_inheritable(3, True)
            os.execv("{{Executable.Locate()}}", ["cloud-hypervisor", "--api-socket", "path={{Socket}}",
                "--kernel", "{{Guests.Path("virtio-net")}}", "--cmdline", "net.echoes=3 net.timeout=60",
                "--memory", "size=64M", "--console", "off", "--serial", "file={{Serial}}", "--net", "fd=3,mac=52:54:00:6b:69:02"])
            """;
        var file = Path.Combine(_dir, "passfd.py");
        await File.WriteAllTextAsync(file, script);
        using var vmm = Executable.StartThroughShell($"exec ip netns exec {_netns} python3 '{file}'");
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));

        await PingAndCheckAsync(vmm);

        Assert.Contains("mac 52:54:00:6b:69:02 link up", KitGuestTests.ReadShared(Serial), StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    [Fact]
    public async Task An_fd_that_is_not_a_tap_fails_the_boot_naming_the_device()
    {
        using var vmm = Executable.StartThroughShell(
            $"exec 3</dev/null; exec '{Executable.Locate()}' --kernel '{Guests.Path("virtio-net")}' --console off --serial off --net fd=3");

        Assert.Equal(1, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Cannot create virtio-net device _net0", vmm.Stderr, StringComparison.Ordinal);
        Assert.Contains("File descriptor 3 is not a tap", vmm.Stderr, StringComparison.Ordinal);
    }
}
