using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace CloudHypervisor.Tests;

/// <summary>
/// Issue 14 item 10 with the echo guest on real KVM and a serial socket (repro serial_loss.py):
/// a burst typed faster than the guest reads is held back instead of dropped, and output waits in
/// a buffer for a client that reads late or connects late.
/// </summary>
public sealed class SerialSocketTests : IDisposable
{
    private const int Lines = 100;
    private const int LineLength = 100;

    private readonly string _dir = Directory.CreateTempSubdirectory("ch-serial-socket-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string SerialSocket => Path.Combine(_dir, "serial.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Executable> StartAsync(string guest)
    {
        var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$$"""{"memory":{"size":33554432},"payload":{"kernel":"{{{Guests.Path(guest)}}}"},"serial":{"mode":"Socket","socket":"{{{SerialSocket}}}"},"console":{"mode":"Off"}}""";
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);
        return vmm;
    }

    private async Task<JsonElement> SerialCounters() =>
        JsonDocument.Parse((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body).RootElement.GetProperty("__serial");

    private async Task WaitForCounterAsync(string name, long atLeast)
    {
        var clock = Stopwatch.StartNew();
        while ((await SerialCounters()).GetProperty(name).GetInt64() < atLeast && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100);
        }
    }

    private static byte[] Burst() =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, Lines).Select(i => $"L{i:D5}" + new string('y', LineLength - 6) + "\r")));

    private static async Task<string> ReadUntilAsync(Socket client, Func<string, bool> done)
    {
        var received = new StringBuilder();
        var buffer = new byte[65536];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (!done(received.ToString()))
        {
            int n;
            try
            {
                n = await client.ReceiveAsync(buffer, SocketFlags.None, limit.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (n == 0)
            {
                break;
            }

            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return received.ToString();
    }

    private static int EchoLines(string text) =>
        text.Split("\r\n").Count(l => l.StartsWith("echo: L", StringComparison.Ordinal) && l.Length == 6 + LineLength);

    private async Task<Socket> ConnectAsync()
    {
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(SerialSocket));
        return client;
    }

    [Fact]
    public async Task A_burst_faster_than_the_guest_reads_reaches_it_whole()
    {
        // Before: of 10,100 bytes sent at once, 4,117 reached the guest (the FIFO overflowed).
        using var vmm = await StartAsync("echo");
        using var client = await ConnectAsync();
        await ReadUntilAsync(client, t => t.Contains("echo: ready", StringComparison.Ordinal));

        var burst = Burst();
        var reading = ReadUntilAsync(client, t => EchoLines(t) == Lines);
        await client.SendAsync(burst, SocketFlags.None);
        var text = await reading;

        Assert.Equal(Lines, EchoLines(text));
        Assert.Equal(burst.Length, (await SerialCounters()).GetProperty("rx_bytes").GetInt64());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_client_that_reads_only_after_the_guest_wrote_everything_gets_all_of_it()
    {
        // Before: a client that read late got 278 of 21,013 bytes.
        using var vmm = await StartAsync("echo");
        using var client = await ConnectAsync();
        await ReadUntilAsync(client, t => t.Contains("echo: ready", StringComparison.Ordinal));
        var before = (await SerialCounters()).GetProperty("tx_bytes").GetInt64();

        await client.SendAsync(Burst(), SocketFlags.None);
        // Each line comes back twice (typed echo and "echo: " line) with CR LF: over 2 x 10,100 bytes.
        await WaitForCounterAsync("tx_bytes", before + (2 * Lines * LineLength));
        await WaitForCounterAsync("rx_bytes", Lines * (LineLength + 1));
        var text = await ReadUntilAsync(client, t => EchoLines(t) == Lines);

        Assert.Equal(Lines, EchoLines(text));
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_client_that_connects_after_the_guest_wrote_gets_that_output_replayed()
    {
        const string banner = "banner: hello from the cloud-hypervisor test guest";
        using var vmm = await StartAsync("banner");
        await WaitForCounterAsync("tx_bytes", banner.Length);

        using var client = await ConnectAsync();
        var text = await ReadUntilAsync(client, t => t.Contains(banner, StringComparison.Ordinal));

        Assert.Contains(banner, text, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }
}
