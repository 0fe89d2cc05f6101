using System.Diagnostics;
using System.Text.Json;

namespace CloudHypervisor.Tests;

/// <summary>
/// The guest kit's own virtio drivers (guests/kit) against our devices on the real /dev/kvm,
/// through the real executable: a VM made by REST vm.create or by the CLI flags, the guest's
/// serial lines, the bytes it left in the host image, and vm.info / vm.counters read with curl.
/// </summary>
public sealed class KitGuestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-kit-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The kit's virtio-blk pattern: the byte at disk offset o is (o / 512 * 131 + o % 512 * 7 + seed) &amp; 0xff.</summary>
    private static byte Pattern(long offset, int seed) => (byte)(((offset / 512 * 131) + (offset % 512 * 7) + seed) & 0xff);

    private string Image(string name, string sector0)
    {
        var path = Path.Combine(_dir, name);
        var bytes = new byte[1 << 20];
        System.Text.Encoding.ASCII.GetBytes(sector0).CopyTo(bytes, 0);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertPattern(string image, int startSector, int sectors, int seed)
    {
        var bytes = File.ReadAllBytes(image);
        for (long o = startSector * 512L; o < (startSector + sectors) * 512L; o++)
        {
            Assert.True(bytes[o] == Pattern(o, seed), $"byte {o} of {image} is {bytes[o]}, not the guest's {Pattern(o, seed)}");
        }

        Assert.All(bytes.AsSpan((startSector + sectors) * 512).ToArray().Take(4096), b => Assert.Equal(0, b));
    }

    internal static string ReadShared(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Waits until the guest printed a whole line containing <paramref name="line"/>; returns everything printed.</summary>
    internal static async Task<string> WaitForLineAsync(Func<string> read, string line, Executable vmm)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            // The whole line, up to its newline: the guest may be half way through printing it.
            var text = read();
            var at = text.IndexOf(line, StringComparison.Ordinal);
            if (at >= 0 && text.IndexOf('\n', at) >= 0)
            {
                return text;
            }

            Assert.False(vmm.HasExited, $"the VMM exited before the guest printed \"{line}\"; stderr: {vmm.Stderr}; guest: {text}");
            await Task.Delay(50);
        }

        Assert.Fail($"the guest never printed \"{line}\"; it printed:\n{read()}\nVMM stderr: {vmm.Stderr}");
        return "";
    }

    private async Task<Executable> StartApiAsync()
    {
        var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        return vmm;
    }

    internal static JsonElement Json(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task A_disk_from_vm_create_gets_the_guest_pattern_in_the_host_file_and_shows_in_info_and_counters()
    {
        var disk = Image("disk.img", "KIT-REST-SECTOR0");
        var readOnly = Image("ro.img", "KIT-REST-READONL");
        using var vmm = await StartApiAsync();
        var config = $$$"""
            {"memory":{"size":67108864},
             "payload":{"kernel":"{{{Guests.Path("virtio-blk")}}}","cmdline":"blk.seed=77 blk.start=3 blk.sectors=40"},
             "disks":[{"path":"{{{disk}}}","serial":"kit-disk-0"},{"path":"{{{readOnly}}}","readonly":true}],
             "rng":{"src":"/dev/urandom"},
             "serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Off"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);

        var output = await WaitForLineAsync(() => ReadShared(Serial), "virtio-blk: done,", vmm);

        Assert.Contains("virtio-blk: 00:01.0 capacity 2048 sectors serial \"kit-disk-0\" read-only no", output, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: sector 0 begins 4b49542d524553542d534543544f5230", output, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: ok 00:01.0 wrote 40 sectors at 3, flushed, read back equal", output, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: ok 00:02.0 read-only: write answered IOERR", output, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: done, 2 of 2 devices passed", output, StringComparison.Ordinal);
        AssertPattern(disk, 3, 40, 77);
        Assert.Equal(File.ReadAllBytes(Image("expected-ro.img", "KIT-REST-READONL")), File.ReadAllBytes(readOnly));

        var info = Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body);
        var tree = info.GetProperty("device_tree");
        Assert.Equal("0000:00:01.0", tree.GetProperty("_virtio-pci-_disk0").GetProperty("pci_bdf").GetString());
        Assert.Equal("0000:00:02.0", tree.GetProperty("_virtio-pci-_disk1").GetProperty("pci_bdf").GetString());
        Assert.Equal("_virtio-pci-_disk0", tree.GetProperty("_disk0").GetProperty("parent").GetString());
        Assert.True(tree.TryGetProperty("_virtio-pci-__rng", out _));
        var counters = Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body);
        Assert.Equal(40UL * 512, counters.GetProperty("_disk0").GetProperty("write_bytes").GetUInt64());
        Assert.True(counters.GetProperty("_disk0").GetProperty("read_bytes").GetUInt64() >= 40UL * 512);
        Assert.Equal(0UL, counters.GetProperty("_disk1").GetProperty("write_bytes").GetUInt64());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Rng_bytes_from_vm_create_reach_the_guest_and_the_counter()
    {
        using var vmm = await StartApiAsync();
        var config = $$$"""
            {"memory":{"size":67108864},
             "payload":{"kernel":"{{{Guests.Path("virtio-rng")}}}","cmdline":"rng.bytes=8192"},
             "rng":{"src":"/dev/urandom"},
             "serial":{"mode":"File","file":"{{{Serial}}}"},"console":{"mode":"Off"}}
            """;
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.boot")).Status);

        var output = await WaitForLineAsync(() => ReadShared(Serial), "virtio-rng: ok", vmm);

        Assert.Contains("virtio-rng: ok 8192 bytes", output, StringComparison.Ordinal);
        var distinct = output.Split('\n').Single(l => l.Contains("distinct byte values", StringComparison.Ordinal));
        Assert.Contains("read 8192 bytes", distinct, StringComparison.Ordinal);
        var counters = Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body);
        Assert.Equal(8192UL, counters.GetProperty("__rng").GetProperty("bytes").GetUInt64());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Disks_and_rng_from_the_CLI_flags_serve_the_kit_and_the_guest_powers_off()
    {
        var disk = Image("disk.img", "KIT-CLI--SECTOR0");
        var readOnly = Image("ro.img", "KIT-CLI--READONL");
        using var vmm = Executable.Start(
        [
            "--kernel", Guests.Path("virtio-blk"), "--cmdline", "kit.poweroff blk.seed=5 blk.start=9 blk.sectors=24",
            "--memory", "size=64M", "--disk", $"path={disk},serial=cli-disk", $"path={readOnly},readonly=on",
            "--rng", "src=/dev/urandom", "--serial", "tty", "--console", "off",
        ]);

        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("serial \"cli-disk\" read-only no", vmm.Stdout, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: ok 00:01.0 wrote 24 sectors at 9, flushed, read back equal", vmm.Stdout, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: ok 00:02.0 read-only: write answered IOERR", vmm.Stdout, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: done, 2 of 2 devices passed", vmm.Stdout, StringComparison.Ordinal);
        AssertPattern(disk, 9, 24, 5);
        Assert.Equal("", vmm.Stderr);
    }

    [Fact]
    public async Task A_hostile_guest_breaks_blk_and_rng_rings_and_the_VMM_and_its_API_carry_on()
    {
        var disk = Image("disk.img", "KIT-HOSTILE-SEC0");
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--kernel", Guests.Path("virtio-hostile"), "--memory", "size=64M",
            "--disk", $"path={disk}", "--serial", $"file={Serial}", "--console", "off",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));

        var output = await WaitForLineAsync(() => ReadShared(Serial), "virtio-hostile: ok 22 cases on 2 devices", vmm);

        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
        Assert.Contains("virtio-hostile: virtio-blk 00:01.0 descriptor-loop: NEEDS_RESET", output, StringComparison.Ordinal);
        Assert.Contains("virtio-hostile: virtio-rng 00:02.0 address-outside-ram: NEEDS_RESET", output, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "GET", "vmm.ping")).Status);
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(Socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "GET", "vm.counters")).Status);
        // One log line per device, however many times its driver broke and reset it.
        var warnings = vmm.Stderr.Split('\n').Where(l => l.Contains("needs a reset", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings, l => l.Contains("virtio device _disk0:", StringComparison.Ordinal));
        Assert.Single(warnings, l => l.Contains("virtio device __rng:", StringComparison.Ordinal));
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }
}
