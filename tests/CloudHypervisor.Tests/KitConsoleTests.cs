using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Tests;

/// <summary>
/// The kit's virtio-console guest (a line on hvc0 through the transmit queue, then one through
/// emerg_wr) on our VMM in every console mode: the bytes appear where the mode says, the default
/// (`--console tty`, no flag) builds the device, Off builds none, and vm.counters counts them.
/// </summary>
public sealed class KitConsoleTests : IDisposable
{
    private const string Hello = "virtio-console: hello on hvc0\n";
    private const string Emergency = "virtio-console: emergency write\n";
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-kit-console-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertBothLines(string hvc0)
    {
        Assert.Contains(Hello, hvc0.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains(Emergency, hvc0.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    private static void AssertKitPassed(string serial)
    {
        Assert.Contains("virtio-console: ok 00:01.0 wrote 30 bytes to hvc0", serial, StringComparison.Ordinal);
        Assert.Contains("virtio-console: ok 00:01.0 emergency write of 32 bytes", serial, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_no_console_flag_hvc0_is_the_VMMs_stdout()
    {
        using var vmm = Executable.Start(["--kernel", Guests.Path("virtio-console"), "--cmdline", "kit.poweroff", "--serial", $"file={Serial}"]);

        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        AssertKitPassed(KitGuestTests.ReadShared(Serial));
        AssertBothLines(vmm.Stdout);
        Assert.Equal("", vmm.Stderr);
    }

    [Fact]
    public async Task Console_file_gets_hvc0_output()
    {
        var hvc0 = Path.Combine(_dir, "hvc0.log");
        using var vmm = Executable.Start(
            ["--kernel", Guests.Path("virtio-console"), "--cmdline", "kit.poweroff", "--serial", "tty", "--console", $"file={hvc0}"]);

        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        AssertKitPassed(vmm.Stdout);
        Assert.Equal(Hello + Emergency, File.ReadAllText(hvc0));
    }

    [Fact]
    public async Task Console_null_has_the_device_and_discards_its_output_and_off_has_no_device()
    {
        using (var vmm = Executable.Start(
            ["--kernel", Guests.Path("virtio-console"), "--cmdline", "kit.poweroff", "--serial", "tty", "--console", "null"]))
        {
            Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            AssertKitPassed(vmm.Stdout);
            Assert.DoesNotContain("hello on hvc0", vmm.Stdout, StringComparison.Ordinal);
        }

        using var off = Executable.Start(
            ["--kernel", Guests.Path("virtio-console"), "--cmdline", "kit.poweroff", "--serial", "tty", "--console", "off"]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!off.Stdout.Contains("virtio-console: FAIL", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains("virtio-console: FAIL no virtio-console device among 2 PCI functions", off.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Console_pty_sends_hvc0_to_the_pty_named_in_vm_info()
    {
        using var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$$"""
            {"payload":{"kernel":"{{{Guests.Path("virtio-console")}}}"},
             "serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Pty"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        var pty = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body)
            .GetProperty("config").GetProperty("console").GetProperty("file").GetString()!;
        Assert.StartsWith("/dev/pts/", pty, StringComparison.Ordinal);
        using var reader = new FileStream(pty, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        var received = new StringBuilder();
        var reading = Task.Run(() =>
        {
            var buffer = new byte[256];
            while (!received.ToString().Contains("emergency write\n", StringComparison.Ordinal))
            {
                var n = reader.Read(buffer);
                if (n <= 0)
                {
                    return;
                }

                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        });

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);
        await reading.WaitAsync(TimeSpan.FromSeconds(60));

        AssertBothLines(received.ToString());
        await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "emergency write of 32 bytes", vmm);
        var counters = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body);
        Assert.Equal(62UL, counters.GetProperty("__console").GetProperty("tx_bytes").GetUInt64());
        var tree = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body).GetProperty("device_tree");
        Assert.Equal("0000:00:01.0", tree.GetProperty("_virtio-pci-__console").GetProperty("pci_bdf").GetString());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    [Fact]
    public async Task Console_socket_sends_hvc0_to_the_connected_client()
    {
        var hvc0 = Path.Combine(_dir, "hvc0.sock");
        using var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$$"""
            {"payload":{"kernel":"{{{Guests.Path("virtio-console")}}}"},
             "serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Socket","socket":"{{{hvc0}}}"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(hvc0));
        // The VMM accepts on its own thread: wait until it has this client before the guest writes.
        await Task.Delay(200);

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);
        var received = new StringBuilder();
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!received.ToString().Contains(Emergency, StringComparison.Ordinal))
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(n > 0, $"the console socket closed after \"{received}\"");
            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        Assert.Equal(Hello + Emergency, received.ToString());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }
}
