using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CloudHypervisor.Tests;

/// <summary>
/// virtio-pmem and virtio-balloon through the real binary on /dev/kvm, driven by the guest kit's
/// drivers (guests/kit/virtio-pmem.c, virtio-balloon.c, first checked against QEMU in
/// KitOnQemuTests): the bytes the test put in the pmem file are what the guest reads, the
/// guest's flushed writes are in the file afterwards (and are not with discard_writes), and the
/// host's resident memory of guest RAM drops when the guest inflates its balloon to the size
/// vm.resize asked for, and memory_actual_size follows.
/// </summary>
public sealed partial class KitPmemBalloonTests : IDisposable
{
    private const string Head = "KIT-PMEM-REGION0";
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-pmem-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    private string EventFile => Path.Combine(_dir, "events.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PmemFile(int size)
    {
        var path = Path.Combine(_dir, "pmem.img");
        var bytes = new byte[size];
        System.Text.Encoding.ASCII.GetBytes(Head).CopyTo(bytes, 0);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private Task<string> WaitForLineAsync(string line, Executable vmm) =>
        KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), line, vmm);

    [GeneratedRegex(@"virtio-pmem: (00:0.\.0) region 0x([0-9a-f]+) size 0x([0-9a-f]+)")]
    private static partial Regex RegionLine();

    [Fact]
    public async Task A_pmem_from_vm_create_shows_the_file_to_the_guest_and_its_flushed_writes_land_in_the_file()
    {
        var file = PmemFile(4 << 20);
        using var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$$"""
            {"memory":{"size":67108864},
             "payload":{"kernel":"{{{Guests.Path("virtio-pmem")}}}","cmdline":"pmem.offset=8192 pmem.bytes=5000 pmem.seed=3"},
             "pmem":[{"file":"{{{file}}}"}],
             "serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Off"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);

        var output = await WaitForLineAsync("virtio-pmem: ok", vmm);

        var region = RegionLine().Match(output);
        Assert.True(region.Success, output);
        var start = ulong.Parse(region.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Assert.Equal(4UL << 20, ulong.Parse(region.Groups[3].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        // As upstream: 2 MiB aligned, in the segment's 64-bit window (above 4 GiB here).
        Assert.Equal(0UL, start % (2UL << 20));
        Assert.True(start >= 1UL << 32, $"region at 0x{start:x}");
        Assert.Contains("virtio-pmem: region begins " + Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes(Head)), output, StringComparison.Ordinal);
        Assert.Contains($"virtio-pmem: ok {region.Groups[1].Value} wrote 5000 bytes at 8192, read back equal, flushed", output, StringComparison.Ordinal);
        var bytes = File.ReadAllBytes(file);
        for (var i = 8192; i < 8192 + 5000; i++)
        {
            Assert.True(bytes[i] == (byte)((i * 7) + 3), $"byte {i} of the pmem file is {bytes[i]}, not the guest's {(byte)((i * 7) + 3)}");
        }

        Assert.All(bytes.AsSpan(8192 + 5000, 4096).ToArray(), b => Assert.Equal(0, b));

        var info = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body);
        Assert.Equal("_pmem0", info.GetProperty("config").GetProperty("pmem")[0].GetProperty("id").GetString());
        var node = info.GetProperty("device_tree").GetProperty("_pmem0");
        Assert.Equal("_virtio-pci-_pmem0", node.GetProperty("parent").GetString());
        var range = node.GetProperty("resources")[0].GetProperty("MmioAddressRange");
        Assert.Equal(start, range.GetProperty("base").GetUInt64());
        Assert.Equal(4UL << 20, range.GetProperty("size").GetUInt64());
        var counters = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body);
        Assert.Equal(1UL, counters.GetProperty("_pmem0").GetProperty("flushes").GetUInt64());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task With_discard_writes_the_guest_reads_the_file_but_its_writes_never_reach_it()
    {
        var file = PmemFile(2 << 20);
        var before = File.ReadAllBytes(file);
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--kernel", Guests.Path("virtio-pmem"), "--cmdline", "pmem.offset=8192 pmem.bytes=16",
            "--memory", "size=64M", "--pmem", $"file={file},discard_writes=on", "--console", "off", "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));

        // The store is dropped, so the read back finds the file's byte, not the guest's (8192 * 7 & 0xff = 0).
        var output = await WaitForLineAsync("virtio-pmem: FAIL", vmm);

        Assert.Contains("virtio-pmem: region begins " + Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes(Head)), output, StringComparison.Ordinal);
        Assert.Matches(@"virtio-pmem: FAIL 00:0.\.0 byte 8193 reads 0x00 after writing 0x07", output);
        Assert.Equal(before, File.ReadAllBytes(file));
        var counters = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body);
        Assert.True(counters.GetProperty("_pmem0").GetProperty("discarded_write_bytes").GetUInt64() >= 16);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    [Fact]
    public async Task A_pmem_size_that_is_not_whole_2_MiB_is_refused_at_boot_naming_the_device()
    {
        var file = PmemFile(3 << 20);
        using var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$$"""
            {"memory":{"size":67108864},"payload":{"kernel":"{{{Guests.Path("virtio-pmem")}}}"},
             "pmem":[{"file":"{{{file}}}","id":"odd"}],"serial":{"mode":"Null"},"console":{"mode":"Off"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);

        var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");

        Assert.Equal(400, boot.Status);
        Assert.Contains("Cannot create virtio-pmem device odd", boot.Body, StringComparison.Ordinal);
        Assert.Contains("the pmem size 3145728 is not a non-zero multiple of 2 MiB", boot.Body, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    /// <summary>The resident size in KiB of the one mapping of exactly <paramref name="sizeKib"/> KiB in the process (guest RAM).</summary>
    private static long GuestRamRssKib(int pid, long sizeKib)
    {
        var found = new List<long>();
        long? size = null;
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && parts[0] == "Size:")
            {
                size = long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else if (parts.Length == 3 && parts[0] == "Rss:" && size == sizeKib)
            {
                found.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
            }
        }

        Assert.True(found.Count == 1, $"{found.Count} mappings of {sizeKib} KiB in the VMM");
        return found[0];
    }

    private async Task<ulong> MemoryActualSizeAsync() =>
        KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body).GetProperty("memory_actual_size").GetUInt64();

    [Fact]
    public async Task The_balloon_inflates_to_what_vm_resize_asks_the_host_gets_the_pages_back_and_it_deflates_again()
    {
        const long ram = 160L << 20;
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--event-monitor", $"path={EventFile}", "--kernel", Guests.Path("virtio-balloon"),
            "--cmdline", "balloon.max=64 balloon.changes=2", "--memory", "size=160M,prefault=on", "--balloon", "size=0,deflate_on_oom=on",
            "--console", "off", "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var ready = await WaitForLineAsync("virtio-balloon: 00:0", vmm);
        Assert.Matches(@"virtio-balloon: 00:0.\.0 ready, pool 16384 pages at 0x[0-9a-f]+", ready);
        var full = GuestRamRssKib(vmm.Pid, ram >> 10);
        Assert.True(full >= (ram >> 10) * 9 / 10, $"prefaulted guest RAM is only {full} KiB resident");
        Assert.Equal((ulong)ram, await MemoryActualSizeAsync());

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.resize", """{"desired_vcpus":null,"desired_ram":null,"desired_balloon":67108864}""")).Status);

        await WaitForLineAsync("inflated to 16384 pages (64 MiB)", vmm);
        var inflated = GuestRamRssKib(vmm.Pid, ram >> 10);
        Assert.True(full - inflated >= 60 << 10, $"guest RAM resident: {full} KiB before inflating 64 MiB, {inflated} KiB after");
        Assert.Equal((ulong)(ram - (64L << 20)), await MemoryActualSizeAsync());
        var info = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body);
        Assert.Equal(64UL << 20, info.GetProperty("config").GetProperty("balloon").GetProperty("size").GetUInt64());
        Assert.True(info.GetProperty("device_tree").TryGetProperty("_virtio-pci-__balloon", out _));

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.resize", """{"desired_balloon":0}""")).Status);

        var done = await WaitForLineAsync("virtio-balloon: ok", vmm);
        Assert.Contains("deflated to 0 pages (0 MiB)", done, StringComparison.Ordinal);
        Assert.Matches(@"virtio-balloon: ok 00:0.\.0 followed 2 targets, 0 pages in the balloon now", done);
        Assert.Equal((ulong)ram, await MemoryActualSizeAsync());
        var counters = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body).GetProperty("__balloon");
        Assert.Equal(16384UL, counters.GetProperty("inflated_pages").GetUInt64());
        Assert.Equal(16384UL, counters.GetProperty("deflated_pages").GetUInt64());
        var events = ApiSessionTests.ReadEvents(EventFile).Select(r => r.GetProperty("event").GetString()).ToList();
        Assert.Equal(2, events.Count(e => e == "resizing"));
        Assert.Equal(2, events.Count(e => e == "resized"));
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    [Fact]
    public async Task Resizing_the_balloon_of_a_booted_VM_without_one_is_a_typed_error()
    {
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--kernel", Guests.Path("virtio-balloon"), "--cmdline", "balloon.timeout=5",
            "--memory", "size=64M", "--console", "off", "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        await WaitForLineAsync("virtio-balloon: FAIL no virtio-balloon device", vmm);

        var resize = await Curl.SendAsync(Socket, "PUT", "vm.resize", """{"desired_balloon":1048576}""");

        Assert.Equal(400, resize.Status);
        Assert.Equal("""["Error from API","The VM could not be resized","Cannot resize the balloon","the VM has no virtio-balloon device (--balloon)"]""", resize.Body);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

#if DBUS_API
    [Fact]
    public async Task A_pmem_hot_added_and_removed_over_dbus_is_seen_and_ejected_by_the_guest()
    {
        await using var bus = await TestSupport.PrivateBus.StartAsync();
        const string name = "org.cloudhypervisor.PmemTest";
        const string path = "/org/cloudhypervisor/PmemTest";
        var file = PmemFile(2 << 20);
        using var vmm = Executable.Start(
            [
                "--dbus-service-name", name, "--dbus-object-path", path, "--event-monitor", $"path={EventFile}",
                "--kernel", Guests.Path("pci-hotplug"), "--cmdline", "hp.adds=1 hp.removes=1 hp.timeout=60",
                "--memory", "size=64M", "--console", "off", "--serial", $"file={Serial}",
            ],
            new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = bus.Address });
        await WaitForLineAsync("waiting for 1 additions and 1 removals", vmm);

        var added = await BusctlAsync(bus, "call", name, path, "org.cloudhypervisor.DBusApi1", "VmAddPmem", "s", $$"""{"file":"{{file}}"}""");

        Assert.Equal(0, added.Code);
        Assert.Contains("""s "{\"id\":\"_pmem0\",\"bdf\":\"0000:00:02.0\"}""", added.Output, StringComparison.Ordinal);
        await WaitForLineAsync("pci-hotplug: added 00:02.0 1af4:105b", vmm);
        var removed = await BusctlAsync(bus, "call", name, path, "org.cloudhypervisor.DBusApi1", "VmRemoveDevice", "s", """{"id":"_pmem0"}""");
        Assert.Equal(0, removed.Code);
        var done = await WaitForLineAsync("pci-hotplug: ok 1 additions and 1 removals", vmm);
        Assert.Contains("pci-hotplug: ejected slot 2", done, StringComparison.Ordinal);
        JsonElement? gone = null;
        for (var clock = Stopwatch.StartNew(); gone is null && clock.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(50))
        {
            gone = ApiSessionTests.ReadEvents(EventFile).Cast<JsonElement?>().FirstOrDefault(r => r!.Value.GetProperty("event").GetString() == "device-removed");
        }

        Assert.Equal("_pmem0", gone?.GetProperty("properties").GetProperty("id").GetString());
        // The file is closed and unmapped: nothing of the VMM holds it any more.
        Assert.DoesNotContain(File.ReadLines($"/proc/{vmm.Pid}/maps"), l => l.EndsWith(file, StringComparison.Ordinal));
        Assert.Equal(0, (await BusctlAsync(bus, "call", name, path, "org.cloudhypervisor.DBusApi1", "VmmShutdown")).Code);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    private static async Task<(int Code, string Output)> BusctlAsync(TestSupport.PrivateBus bus, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("busctl", [$"--address={bus.Address}", .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }
#endif
}
