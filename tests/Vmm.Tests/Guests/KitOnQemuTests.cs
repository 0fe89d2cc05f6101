using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>Skips, saying why, where qemu-system-x86_64 is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class QemuFactAttribute : FactAttribute
{
    public QemuFactAttribute()
    {
        if (Qemu.Path is null)
        {
            Skip = "qemu-system-x86_64 is not installed (Debian package qemu-system-x86): the guest kit is checked against QEMU's virtio";
        }
    }
}

/// <summary>Skips, saying why, where qemu-system-x86_64 is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class QemuTheoryAttribute : TheoryAttribute
{
    public QemuTheoryAttribute()
    {
        if (Qemu.Path is null)
        {
            Skip = "qemu-system-x86_64 is not installed (Debian package qemu-system-x86): the guest kit is checked against QEMU's virtio";
        }
    }
}

internal static class Qemu
{
    public static string? Path { get; } = Find();

    private static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':')
            .Select(dir => System.IO.Path.Combine(dir, "qemu-system-x86_64"))
            .FirstOrDefault(File.Exists);

    /// <summary>
    /// Boots a kit guest on QEMU's q35 under TCG (a real virtio-pci implementation, independent of
    /// ours) with COM1 in a file; kit.poweroff makes the guest end QEMU through ACPI S5.
    /// </summary>
    public static async Task<string> RunAsync(string guest, string serial, string cmdline, params string[] devices) =>
        await FinishAsync(Start(guest, serial, cmdline, devices), serial);

    public static Task<ToolResult> Start(string guest, string serial, string cmdline, params string[] devices)
    {
        string[] args =
        [
            "-M", "q35", "-accel", "tcg", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-serial", $"file:{serial}", "-kernel", guest, "-append", "kit.poweroff " + cmdline,
            .. devices,
        ];
        return Children.RunAsync(Children.StartInfo(Path!, args), limit: TimeSpan.FromSeconds(60));
    }

    public static async Task<string> FinishAsync(Task<ToolResult> running, string serial)
    {
        var run = await running;
        var output = File.Exists(serial) ? await File.ReadAllTextAsync(serial) : "";
        Assert.True(run.ExitCode == 0, $"qemu exited {run.ExitCode}: {run.Stderr}\nserial:\n{output}");
        Assert.Contains("kit: powering off", output, StringComparison.Ordinal);
        return output.Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}

/// <summary>QEMU's monitor protocol on a Unix socket: one command at a time, events skipped.</summary>
internal sealed class Qmp : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private StreamReader? _reader;
    private StreamWriter? _writer;

    public static async Task<Qmp> ConnectAsync(string path)
    {
        var qmp = new Qmp();
        await qmp._socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        var stream = new NetworkStream(qmp._socket, ownsSocket: false);
        qmp._reader = new StreamReader(stream);
        qmp._writer = new StreamWriter(stream) { AutoFlush = true };
        Assert.Contains("QMP", await qmp._reader.ReadLineAsync(), StringComparison.Ordinal);
        await qmp.CommandAsync("""{"execute":"qmp_capabilities"}""");
        return qmp;
    }

    public async Task<JsonElement> CommandAsync(string json)
    {
        await _writer!.WriteLineAsync(json);
        while (true)
        {
            var line = await _reader!.ReadLineAsync() ?? throw new IOException($"QMP closed before answering {json}");
            using var reply = JsonDocument.Parse(line);
            if (reply.RootElement.TryGetProperty("return", out var value))
            {
                return value.Clone();
            }

            Assert.False(reply.RootElement.TryGetProperty("error", out var error), $"QMP {json}: {error}");
        }
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _writer?.Dispose();
        _socket.Dispose();
    }
}

/// <summary>
/// The guest kit (guests/kit) driving QEMU's virtio-pci devices: proof that the kit's PCI
/// enumerator and virtio drivers are right before they are pointed at our VMM. Each run takes
/// well under a second.
/// </summary>
[Trait("Category", "Qemu")]
public sealed class KitOnQemuTests(BuiltGuests built) : IClassFixture<BuiltGuests>, IDisposable
{
    private const int Sector = 512;
    private readonly string _dir = Directory.CreateTempSubdirectory("kit-qemu-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Guest(string name)
    {
        Assert.True(built.ExitCode == 0, built.Output);
        return System.IO.Path.Combine(built.Directory, name);
    }

    private string File_(string name) => System.IO.Path.Combine(_dir, name);

    /// <summary>guests/kit/virtio-blk.c: the byte at disk offset o.</summary>
    private static byte Pattern(long offset, int seed) => (byte)((offset / Sector * 131) + (offset % Sector * 7) + seed);

    [QemuTheory]
    [InlineData("")]
    [InlineData("kit.user kit.noindirect kit.noeventidx")]
    public async Task Virtio_blk_writes_the_pattern_into_the_host_image_reads_it_back_and_a_read_only_disk_answers_IOERR(string mode)
    {
        var marker = "KIT-QEMU-SECTOR0"u8.ToArray();
        var disk = File_("disk.img");
        var readOnly = File_("ro.img");
        foreach (var image in new[] { disk, readOnly })
        {
            var bytes = new byte[1 << 20];
            marker.CopyTo(bytes, 0);
            await File.WriteAllBytesAsync(image, bytes);
        }

        const int seed = 77, start = 3, sectors = 40;
        var output = await Qemu.RunAsync(Guest("virtio-blk"), File_("serial.log"), $"{mode} blk.seed={seed} blk.start={start} blk.sectors={sectors}",
            "-drive", $"if=none,id=d0,file={disk},format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,serial=kit-disk-0",
            "-drive", $"if=none,id=d1,file={readOnly},format=raw,readonly=on", "-device", "virtio-blk-pci,drive=d1,disable-legacy=on");

        var level = mode.Contains("kit.user", StringComparison.Ordinal) ? "cpl3" : "cpl0";
        var rings = mode.Contains("kit.noindirect", StringComparison.Ordinal) ? "direct" : "indirect, event_idx";
        Assert.Contains("capacity 2048 sectors serial \"kit-disk-0\" read-only no", output, StringComparison.Ordinal);
        Assert.Contains("capacity 2048 sectors serial \"\" read-only yes", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n').Count(l => l == "virtio-blk: sector 0 begins " + Convert.ToHexStringLower(marker)));
        Assert.Matches($@"virtio-blk: ok 00:0.\.0 wrote {sectors} sectors at {start}, flushed, read back equal \({level}, {rings},", output);
        Assert.Matches($@"virtio-blk: ok 00:0.\.0 read-only: write answered IOERR \({level}\)", output);
        Assert.Contains("virtio-blk: done, 2 of 2 devices passed", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);

        var written = await File.ReadAllBytesAsync(disk);
        Assert.Equal(marker, written[..marker.Length]);
        for (long o = start * Sector; o < (start + sectors) * Sector; o++)
        {
            Assert.True(written[o] == Pattern(o, seed), $"host image byte {o} is 0x{written[o]:x2}, the guest wrote 0x{Pattern(o, seed):x2}");
        }

        Assert.All(written[((start + sectors) * Sector)..], b => Assert.Equal(0, b));
        Assert.All(written[Sector..(start * Sector)], b => Assert.Equal(0, b));
        var untouched = await File.ReadAllBytesAsync(readOnly);
        Assert.Equal(marker, untouched[..marker.Length]);
        Assert.All(untouched[marker.Length..], b => Assert.Equal(0, b));
    }

    [QemuFact]
    public async Task Virtio_blk_bench_writes_its_bytes_at_CPL3_and_reports_throughput_and_latency()
    {
        var disk = File_("bench.img");
        await File.WriteAllBytesAsync(disk, new byte[4 << 20]);
        var output = await Qemu.RunAsync(Guest("virtio-blk"), File_("serial.log"), "blk.bench=2 blk.depth=4",
            "-drive", $"if=none,id=d0,file={disk},format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on");

        foreach (var pass in new[] { "write", "read" })
        {
            Assert.Matches($@"virtio-blk: bench 00:0.\.0 {pass} 2 MiB in 64 KiB requests, depth 4: \d+ ms, \d+ MiB/s, latency avg \d+ us max \d+ us \(cpl3\)", output);
        }

        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
        var written = await File.ReadAllBytesAsync(disk);
        Assert.All(written[Sector..(Sector + (2 << 20))], b => Assert.Equal(0xbe, b));
        Assert.All(written[(Sector + (2 << 20))..], b => Assert.Equal(0, b));
    }

    [QemuFact]
    public async Task Virtio_pmem_writes_land_in_the_backing_file_above_4_GiB_and_flush_answers_0()
    {
        var file = File_("pmem.img");
        var bytes = new byte[4 << 20];
        "KIT-PMEM-REGION0"u8.CopyTo(bytes);
        await File.WriteAllBytesAsync(file, bytes);
        var output = await Qemu.RunAsync(Guest("virtio-pmem"), File_("serial.log"), "pmem.offset=8192 pmem.bytes=5000 pmem.seed=3",
            "-m", "128M,slots=2,maxmem=1G", "-object", $"memory-backend-file,id=m1,share=on,mem-path={file},size=4M",
            "-device", "virtio-pmem-pci,memdev=m1");

        // QEMU puts the region in the device memory area above RAM: 4 GiB on q35 with 128 MiB.
        Assert.Matches(@"virtio-pmem: 00:0.\.0 region 0x1[0-9a-f]{8} size 0x400000", output);
        Assert.Contains("virtio-pmem: region begins " + Convert.ToHexStringLower("KIT-PMEM-REGION0"u8), output, StringComparison.Ordinal);
        Assert.Matches(@"virtio-pmem: ok 00:0.\.0 wrote 5000 bytes at 8192, read back equal, flushed", output);
        var written = await File.ReadAllBytesAsync(file);
        for (var i = 8192; i < 8192 + 5000; i++)
        {
            Assert.True(written[i] == (byte)((i * 7) + 3), $"file byte {i} is 0x{written[i]:x2}");
        }

        Assert.All(written[16..8192], b => Assert.Equal(0, b));
        Assert.All(written[(8192 + 5000)..], b => Assert.Equal(0, b));
    }

    [QemuFact]
    public async Task Virtio_balloon_inflates_and_deflates_to_the_targets_QMP_sets_and_QEMU_sees_the_actual_size()
    {
        var serial = File_("serial.log");
        var qmpPath = File_("qmp.sock");
        var qemu = Qemu.Start(Guest("virtio-balloon"), serial, "balloon.changes=3",
            "-qmp", $"unix:{qmpPath},server=on,wait=off", "-device", "virtio-balloon-pci,disable-legacy=on");
        Assert.True(await Tools.EventuallyAsync(() => Task.FromResult(File.Exists(serial) && File.ReadAllText(serial).Contains("ready", StringComparison.Ordinal)), TimeSpan.FromSeconds(30)),
            "the balloon guest did not get ready");
        using var qmp = await Qmp.ConnectAsync(qmpPath);

        async Task<long> ActualWhen(string line)
        {
            Assert.True(await Tools.EventuallyAsync(() => Task.FromResult(File.ReadAllText(serial).Contains(line, StringComparison.Ordinal)), TimeSpan.FromSeconds(30)),
                $"no \"{line}\" on the serial port: {File.ReadAllText(serial)}");
            return (await qmp.CommandAsync("""{"execute":"query-balloon"}""")).GetProperty("actual").GetInt64();
        }

        // QEMU's target is the memory left to the guest: 96 MiB of 128 asks for 8192 pages.
        await qmp.CommandAsync("""{"execute":"balloon","arguments":{"value":100663296}}""");
        Assert.Equal(96L << 20, await ActualWhen("inflated to 8192 pages (32 MiB)"));
        await qmp.CommandAsync("""{"execute":"balloon","arguments":{"value":117440512}}""");
        Assert.Equal(112L << 20, await ActualWhen("deflated to 4096 pages (16 MiB)"));
        // The last target ends the guest (balloon.changes=3), so only its line is checked.
        await qmp.CommandAsync("""{"execute":"balloon","arguments":{"value":134217728}}""");

        var output = await Qemu.FinishAsync(qemu, serial);
        Assert.Contains("virtio-balloon: 00:01.0 deflated to 0 pages (0 MiB)\n", output, StringComparison.Ordinal);
        Assert.Matches(@"virtio-balloon: ok 00:0.\.0 followed 3 targets, 0 pages in the balloon now", output);
    }

    [QemuFact]
    public async Task Pci_hotplug_finds_a_disk_added_behind_a_root_port_places_its_BARs_in_the_bridge_window_and_reads_it()
    {
        var disk = File_("disk.img");
        var bytes = new byte[1 << 20];
        "KIT-HOTPLUG-SEC0"u8.CopyTo(bytes);
        await File.WriteAllBytesAsync(disk, bytes);
        var serial = File_("serial.log");
        var qmpPath = File_("qmp.sock");
        var qemu = Qemu.Start(Guest("pci-hotplug"), serial, "hp.adds=1 hp.timeout=50",
            "-qmp", $"unix:{qmpPath},server=on,wait=off", "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
            "-drive", $"if=none,id=d0,file={disk},format=raw");
        Assert.True(await Tools.EventuallyAsync(() => Task.FromResult(File.Exists(serial) && File.ReadAllText(serial).Contains("waiting for", StringComparison.Ordinal)), TimeSpan.FromSeconds(30)),
            "the hotplug guest did not start waiting");
        using (var qmp = await Qmp.ConnectAsync(qmpPath))
        {
            await qmp.CommandAsync("""{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","drive":"d0","bus":"rp1","id":"hd1","disable-legacy":"on"}}""");
        }

        var output = await Qemu.FinishAsync(qemu, serial);
        Assert.Contains("pci-hotplug: added 01:00.0 1af4:1042\n", output, StringComparison.Ordinal);
        Assert.Contains("pci-hotplug: ok 01:00.0 capacity 2048 sectors, sector 0 begins " + Convert.ToHexStringLower("KIT-HOTPLUG-SEC0"u8), output, StringComparison.Ordinal);
        Assert.Contains("pci-hotplug: ok 1 additions and 0 removals", output, StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task Virtio_rng_delivers_the_bytes_asked_for()
    {
        var output = await Qemu.RunAsync(Guest("virtio-rng"), File_("serial.log"), "rng.bytes=8192",
            "-device", "virtio-rng-pci,disable-legacy=on");

        Assert.Matches(@"virtio-rng: 00:0.\.0 read 8192 bytes in \d+ requests, 2\d\d distinct byte values", output);
        Assert.Matches("virtio-rng: sample [0-9a-f]{32}\n", output);
        Assert.Contains("virtio-rng: ok 8192 bytes", output, StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task Virtio_console_writes_its_line_to_hvc0()
    {
        var hvc0 = File_("hvc0.log");
        var output = await Qemu.RunAsync(Guest("virtio-console"), File_("serial.log"), "",
            "-device", "virtio-serial-pci,disable-legacy=on", "-chardev", $"file,id=c0,path={hvc0}", "-device", "virtconsole,chardev=c0");

        Assert.Matches(@"virtio-console: ok 00:0.\.0 wrote 30 bytes to hvc0", output);
        Assert.Equal("virtio-console: hello on hvc0\nvirtio-console: emergency write\n", await File.ReadAllTextAsync(hvc0, Encoding.ASCII));
    }

    [QemuFact]
    public async Task Pci_list_shows_each_virtio_function_with_its_bars_and_capabilities()
    {
        await File.WriteAllBytesAsync(File_("small.img"), new byte[64 << 10]);
        var output = await Qemu.RunAsync(Guest("pci-list"), File_("serial.log"), "",
            "-drive", $"if=none,id=d0,file={File_("small.img")},format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,addr=05.0",
            "-device", "virtio-rng-pci,disable-legacy=on,addr=06.0");

        Assert.Contains("pci-list: 00:00.0 8086:29c0 class 060000", output, StringComparison.Ordinal);
        Assert.Contains("pci-list: 00:05.0 1af4:1042 class 010000", output, StringComparison.Ordinal);
        Assert.Contains("pci-list: 00:06.0 1af4:1044 class 00ff00", output, StringComparison.Ordinal);
        Assert.Matches(@"pci-list: 00:05.0   BAR4 mem64 0x[0-9a-f]+ size 0x4000 prefetchable", output);
        Assert.Matches("pci-list: 00:05.0   caps 11@..:msix( 09@..:vendor/cfg.)+", output);
        Assert.Matches(@"pci-list: ok \d+ functions", output);
    }

    [QemuFact]
    public async Task Virtio_net_announces_itself_and_answers_ARP_and_ICMP_echo_from_the_link()
    {
        // QEMU's dgram netdev carries whole Ethernet frames over Unix datagram sockets: the test
        // is the other host on the link, without any host network.
        var guestSide = File_("qemu.sock");
        var testSide = File_("test.sock");
        using var link = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        link.Bind(new UnixDomainSocketEndPoint(testSide));
        byte[] guestMac = [0x52, 0x54, 0x00, 0x6b, 0x69, 0x01], hostMac = [0x02, 0, 0, 0, 0, 1];
        byte[] guestIp = [192, 0, 2, 2], hostIp = [192, 0, 2, 1];
        var serial = File_("serial.log");
        var qemu = Qemu.Start(Guest("virtio-net"), serial, "net.ip=192.0.2.2 net.echoes=3 net.timeout=50",
            "-netdev", $"dgram,id=n0,local.type=unix,local.path={guestSide},remote.type=unix,remote.path={testSide}",
            "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,mac=52:54:00:6b:69:01");

        var announce = await ReceiveAsync(link, qemu, serial);
        Assert.Equal(Convert.ToHexString([.. Enumerable.Repeat((byte)0xff, 6), .. guestMac, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, .. guestMac, .. guestIp, 0, 0, 0, 0, 0, 0, .. guestIp]),
            Convert.ToHexString(announce[..42]));

        byte[] request = [.. Enumerable.Repeat((byte)0xff, 6), .. hostMac, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, .. hostMac, .. hostIp, 0, 0, 0, 0, 0, 0, .. guestIp, .. new byte[18]];
        await link.SendToAsync(request, new UnixDomainSocketEndPoint(guestSide));
        var reply = await ReceiveAsync(link, qemu, serial);
        Assert.Equal(Convert.ToHexString([.. hostMac, .. guestMac, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2, .. guestMac, .. guestIp, .. hostMac, .. hostIp]),
            Convert.ToHexString(reply[..42]));

        for (ushort seq = 0; seq < 3; seq++)
        {
            var payload = Encoding.ASCII.GetBytes($"kit echo {seq} " + new string('x', 50 * seq));
            await link.SendToAsync(EchoRequest(hostMac, guestMac, hostIp, guestIp, 0x4b49, seq, payload), new UnixDomainSocketEndPoint(guestSide));
            var echo = await ReceiveAsync(link, qemu, serial);
            Assert.Equal(hostMac, echo[..6]);
            Assert.Equal(guestMac, echo[6..12]);
            var ip = echo.AsSpan(14);
            var total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
            Assert.Equal(0, Checksum(ip[..20]));
            Assert.Equal(guestIp, ip[12..16].ToArray());
            Assert.Equal(hostIp, ip[16..20].ToArray());
            var icmp = ip[20..total];
            Assert.Equal(0, Checksum(icmp));
            Assert.Equal(0, icmp[0]); // echo reply
            Assert.Equal(0x4b49, BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]));
            Assert.Equal(seq, BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
            Assert.Equal(payload, icmp[8..].ToArray());
        }

        var output = await Qemu.FinishAsync(qemu, serial);
        Assert.Matches(@"virtio-net: 00:0.\.0 mac 52:54:00:6b:69:01 link up ip 192.0.2.2", output);
        Assert.Contains("virtio-net: ARP reply to 192.0.2.1\n", output, StringComparison.Ordinal);
        Assert.Contains("virtio-net: echo reply to 192.0.2.1 id 19273 seq 2 (111 bytes)\n", output, StringComparison.Ordinal);
        Assert.Matches(@"virtio-net: ok 00:0.\.0 answered 1 ARP requests and 3 echo requests", output);
    }

    [QemuFact]
    public async Task Virtio_hostile_finds_every_malformed_ring_refused_or_answered_and_each_device_working_after_a_reset()
    {
        await File.WriteAllBytesAsync(File_("disk.img"), new byte[1 << 20]);
        var output = await Qemu.RunAsync(Guest("virtio-hostile"), File_("serial.log"), "",
            "-drive", $"if=none,id=d0,file={File_("disk.img")},format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on",
            "-device", "virtio-rng-pci,disable-legacy=on");

        string[] cases =
        [
            "address-outside-ram", "descriptor-loop", "next-out-of-range", "zero-length", "huge-length", "read-only-buffers",
            "head-out-of-range", "avail-idx-beyond-size", "indirect-outside-ram", "indirect-nested", "chain-longer-than-queue",
        ];
        foreach (var device in new[] { "virtio-blk", "virtio-rng" })
        {
            foreach (var name in cases)
            {
                Assert.Matches($@"virtio-hostile: {device} 00:0.\.0 {name}: (NEEDS_RESET|answered \(used id 0 len \d+\)|dropped \(no answer in 1 s\))\n", output);
            }

            Assert.Matches($@"virtio-hostile: ok {device} 00:0.\.0 still works", output);
        }

        // QEMU marks most of them NEEDS_RESET (virtio_error), as the spec asks of a device.
        Assert.Contains("virtio-blk 00:01.0 descriptor-loop: NEEDS_RESET", output, StringComparison.Ordinal);
        Assert.Contains("virtio-hostile: ok 22 cases on 2 devices, each device works after its reset", output, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
    }

    private static async Task<byte[]> ReceiveAsync(Socket link, Task<ToolResult> qemu, string serial)
    {
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var receive = link.ReceiveAsync(buffer, SocketFlags.None, cts.Token).AsTask();
        if (await Task.WhenAny(receive, qemu) == qemu)
        {
            Assert.Fail($"qemu ended before sending a frame: {await qemu}\nserial:\n{(File.Exists(serial) ? await File.ReadAllTextAsync(serial) : "")}");
        }

        return buffer[..await receive];
    }

    private static byte[] EchoRequest(byte[] srcMac, byte[] dstMac, byte[] srcIp, byte[] dstIp, ushort id, ushort seq, byte[] payload)
    {
        var icmp = new byte[8 + payload.Length];
        icmp[0] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), seq);
        payload.CopyTo(icmp, 8);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), Checksum(icmp));
        var ip = new byte[20];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)(20 + icmp.Length));
        ip[8] = 64;
        ip[9] = 1;
        srcIp.CopyTo(ip, 12);
        dstIp.CopyTo(ip, 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(10), Checksum(ip));
        return [.. dstMac, .. srcMac, 0x08, 0x00, .. ip, .. icmp];
    }

    /// <summary>The Internet checksum (RFC 1071); 0 over a region that carries a correct one.</summary>
    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if ((data.Length & 1) != 0)
        {
            sum += (uint)data[^1] << 8;
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
