using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Tests;

/// <summary>
/// The kit's virtio-vsock guest on our VMM with upstream's hybrid vsock: a stream the host opens
/// (CONNECT &lt;port&gt; on the device's Unix socket, answered OK &lt;port&gt;) and one the guest opens
/// (the VMM connects to &lt;socket&gt;_&lt;port&gt;); bytes cross both ways on each.
/// </summary>
public sealed class KitVsockTests : IDisposable
{
    private const string Greeting = "hello from the kit over vsock\n";
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-kit-vsock-").FullName;

    private string Api => Path.Combine(_dir, "api.sock");

    private string Vsock => Path.Combine(_dir, "vsock.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Executable Start(string cmdline) => Executable.Start(
    [
        "--api-socket", $"path={Api}", "--kernel", Guests.Path("virtio-vsock"), "--cmdline", cmdline, "--memory", "size=64M",
        "--console", "off", "--serial", $"file={Serial}", "--vsock", $"cid=3,socket={Vsock}",
    ]);

    /// <summary>Reads until <paramref name="text"/> holds <paramref name="expected"/> or the peer closes.</summary>
    private static async Task<string> ReadUntilAsync(Socket socket, StringBuilder text, string expected)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!text.ToString().Contains(expected, StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString();
    }

    private static async Task<bool> ClosedAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await socket.ReceiveAsync(new byte[64], SocketFlags.None, timeout.Token) == 0;
    }

    [Fact]
    public async Task A_host_initiated_stream_gets_OK_then_the_greeting_and_its_echo()
    {
        using var vmm = Start("vsock.listen=1234 vsock.echoes=1 vsock.timeout=60");
        await Curl.WaitForApiAsync(Api, vmm, TimeSpan.FromSeconds(30));
        await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "virtio-vsock: listening on port 1234", vmm);

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(Vsock));
        await client.SendAsync(Encoding.ASCII.GetBytes("CONNECT 1234\n"));
        var received = new StringBuilder();
        var text = await ReadUntilAsync(client, received, Greeting);

        Assert.Matches(@"^OK \d+\n" + Greeting + "$", text);
        var hostPort = text[3..text.IndexOf('\n', StringComparison.Ordinal)];
        await client.SendAsync(Encoding.ASCII.GetBytes("ping from the host\n"));
        Assert.EndsWith("ping from the host\n", await ReadUntilAsync(client, received, "ping from the host\n"), StringComparison.Ordinal);
        Assert.True(await ClosedAsync(client), "the guest's shutdown should close the host stream");
        var serial = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "virtio-vsock: ok", vmm);
        Assert.Contains("virtio-vsock: 00:02.0 guest cid 3", serial, StringComparison.Ordinal);
        Assert.Contains($"virtio-vsock: accepted a connection from cid 2 port {hostPort}", serial, StringComparison.Ordinal);
        Assert.Contains("virtio-vsock: received 19 bytes: \"ping from the host.\"", serial, StringComparison.Ordinal);
        Assert.Contains("echoed 1 payloads (19 bytes)", serial, StringComparison.Ordinal);
        var counters = KitGuestTests.Json((await Curl.SendAsync(Api, "GET", "vm.counters")).Body).GetProperty("_vsock0");
        // As for net: tx is what the guest sent (greeting and echo), rx what it received.
        Assert.Equal((ulong)(Greeting.Length + 19), counters.GetProperty("tx_bytes").GetUInt64());
        Assert.Equal(19UL, counters.GetProperty("rx_bytes").GetUInt64());
        // After __rng (00:01.0), as upstream orders the devices.
        var tree = KitGuestTests.Json((await Curl.SendAsync(Api, "GET", "vm.info")).Body).GetProperty("device_tree");
        Assert.Equal("0000:00:02.0", tree.GetProperty("_virtio-pci-_vsock0").GetProperty("pci_bdf").GetString());
        Assert.Equal(200, (await Curl.SendAsync(Api, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(Vsock));
    }

    [Fact]
    public async Task A_guest_initiated_stream_reaches_the_socket_named_after_its_port()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint($"{Vsock}_5000"));
        listener.Listen(1);
        using var vmm = Start("vsock.connect=5000 vsock.echoes=1 vsock.timeout=60");

        using var accepted = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var received = new StringBuilder();
        Assert.Equal(Greeting, await ReadUntilAsync(accepted, received, Greeting));
        await accepted.SendAsync(Encoding.ASCII.GetBytes("answer\n"));
        Assert.EndsWith("answer\n", await ReadUntilAsync(accepted, received, "answer\n"), StringComparison.Ordinal);
        Assert.True(await ClosedAsync(accepted), "the guest's shutdown should close the host stream");

        var serial = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "virtio-vsock: ok", vmm);
        Assert.Contains("virtio-vsock: connected to cid 2 port 5000", serial, StringComparison.Ordinal);
        Assert.Contains("virtio-vsock: received 7 bytes: \"answer.\"", serial, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Api, "PUT", "vmm.shutdown")).Status);
    }
}
