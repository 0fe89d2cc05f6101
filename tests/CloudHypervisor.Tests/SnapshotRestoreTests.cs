using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CloudHypervisor.TestSupport;
using Xunit.Abstractions;

namespace CloudHypervisor.Tests;

/// <summary>
/// vm.snapshot and vm.restore of the bundled <c>ticks</c> guest (it counts PIT ticks on COM1) on
/// the real /dev/kvm through the real executable: paused at N, snapshotted, restored in another
/// process, it goes on at N+1 and never starts over. Through curl, the command line and busctl.
/// </summary>
public sealed partial class SnapshotRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-snap-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private async Task<Executable> StartAsync(string name, params string[] extra)
    {
        var vmm = Executable.Start(["--api-socket", $"path={In(name + ".sock")}", "--event-monitor", $"path={In(name + ".events")}", .. extra]);
        await Curl.WaitForApiAsync(In(name + ".sock"), vmm, TimeSpan.FromSeconds(30));
        return vmm;
    }

    private static string TicksConfig(string serial, ulong memory) =>
        $$$"""{"memory":{"size":{{{memory}}}},"payload":{"kernel":"{{{Guests.Path("ticks")}}}"},"serial":{"mode":"File","file":"{{{serial}}}"},"console":{"mode":"Off"}}""";

    private static string Read(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^ticks: (\d+)\r?$", RegexOptions.Multiline)]
    private static partial Regex TickLine();

    private static List<long> Ticks(string text) =>
        [.. TickLine().Matches(text).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    private static async Task WaitForAsync(string serial, Func<string, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (condition(Read(serial)))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"the serial port never showed {what}; it has:\n{Read(serial)}");
    }

    /// <summary>
    /// The output before the snapshot and after the restore, put together, is one run of the
    /// guest: every tick once, in order, from 1 (so a pause in the middle of a line is fine),
    /// the start line once, and the restored VM printed ticks of its own.
    /// </summary>
    private static void AssertOneRun(string before, string after, Func<string, List<long>> ticks, string start)
    {
        var all = ticks(before + after);
        Assert.True(ticks(after).Count >= 1, $"the restored guest printed no tick: {after}");
        Assert.Equal(Enumerable.Range(1, all.Count).Select(i => (long)i), all);
        Assert.DoesNotContain(start, after, StringComparison.Ordinal);
        Assert.True(all[^1] > ticks(before)[^1], "no tick after the restore");
    }

    private List<string> Events(string name) =>
        [.. ApiSessionTests.ReadEvents(In(name + ".events")).Select(r => $"{r.GetProperty("source").GetString()}/{r.GetProperty("event").GetString()}")];

    /// <summary>Boots ticks in VMM "a", pauses it after a few ticks, snapshots it into a new directory and ends VMM "a".</summary>
    private async Task<(string Directory, string Before, string Serial, long SnapshotMs)> SnapshotTicksAsync(ulong memory = 32UL << 20)
    {
        var serial = In("serial.log");
        var snapshot = Directory.CreateDirectory(In("snapshot")).FullName;
        using var a = await StartAsync("a");
        var socket = In("a.sock");
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.create", TicksConfig(serial, memory))).Status);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.boot")).Status);
        await WaitForAsync(serial, t => Ticks(t).Count >= 3, "three ticks");
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.pause")).Status);
        var before = Read(serial);
        var clock = Stopwatch.StartNew();
        var answer = await Curl.SendAsync(socket, "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{snapshot}}"}""");
        var snapshotMs = clock.ElapsedMilliseconds;
        Assert.True(answer.Status == 204, answer.Body);
        Assert.Equal(before, Read(serial));
        Assert.Equal(200, (await Curl.SendAsync(socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(["vm/pausing", "vm/paused", "vm/snapshotting", "vm/snapshotted"],
            Events("a").SkipWhile(e => e != "vm/pausing").TakeWhile(e => e != "vm/shutdown"));
        return (snapshot, before, serial, snapshotMs);
    }

    private static async Task<long> StatBlocksAsync(string path)
    {
        var result = await Children.RunAsync(Children.StartInfo("stat", ["-c", "%b", path]));
        Assert.Equal(0, result.ExitCode);
        return long.Parse(result.Stdout.Trim(), CultureInfo.InvariantCulture) * 512;
    }

    [Theory]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    [InlineData(32)]
    [InlineData(512)]
    public async Task Ticks_snapshotted_at_N_continue_at_N_plus_1_in_another_process(int mebibytes)
    {
        var (snapshot, before, serial, snapshotMs) = await SnapshotTicksAsync((ulong)mebibytes << 20);

        Assert.Equal(["config.json", "memory-ranges", "state.json"], Directory.GetFiles(snapshot).Select(Path.GetFileName).Order());
        foreach (var file in Directory.GetFiles(snapshot))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        var memory = Path.Combine(snapshot, "memory-ranges");
        Assert.Equal((long)mebibytes << 20, new FileInfo(memory).Length);
        var allocated = await StatBlocksAsync(memory);
        Assert.True(allocated < (1L << 20), $"memory-ranges has {allocated} bytes allocated: the guest's zero pages were written");
        using (var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot, "state.json"))))
        {
            var nodes = state.RootElement.GetProperty("snapshots");
            Assert.StartsWith("{\"Kvm\":{", nodes.GetProperty("cpu-manager").GetProperty("snapshots").GetProperty("0").GetProperty("snapshot_data").GetProperty("state").GetString());
            var devices = nodes.GetProperty("device-manager").GetProperty("snapshots");
            foreach (var id in new[] { "__serial", "__ioapic", "__cmos", "__ged", "_virtio-pci-__rng", "__rng" })
            {
                Assert.True(devices.TryGetProperty(id, out _), $"device-manager has no {id}");
            }
        }

        using var b = await StartAsync("b");
        var socket = In("b.sock");
        var clock = Stopwatch.StartNew();
        var restored = await Curl.SendAsync(socket, "PUT", "vm.restore", $$"""{"source_url":"file://{{snapshot}}"}""");
        var restoreMs = clock.ElapsedMilliseconds;
        Assert.True(restored.Status == 204, restored.Body);
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.resume")).Status);
        await WaitForAsync(serial, t => Ticks(t).Count >= 2, "two ticks after the restore");

        AssertOneRun(before, Read(serial), Ticks, "ticks: start");
        Assert.Equal(["vmm/starting", "vm/restoring", "vm/restored", "vm/resuming", "vm/resumed"], Events("b"));
        output.WriteLine($"ticks guest with {mebibytes} MiB: snapshot {snapshotMs} ms, restore {restoreMs} ms (curl round trips included)");
    }

    [Fact]
    public async Task Restore_on_the_command_line_with_resume_true_continues_counting()
    {
        var (snapshot, before, serial, _) = await SnapshotTicksAsync();
        // The restore runs after the API is up: only a file it created is its output.
        File.Delete(serial);

        using var b = await StartAsync("b", "--restore", $"source_url=file://{snapshot},resume=true");
        await WaitForAsync(serial, t => Ticks(t).Count >= 2, "two ticks after --restore");

        AssertOneRun(before, Read(serial), Ticks, "ticks: start");
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(In("b.sock"), "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(["vmm/starting", "vm/restoring", "vm/restored", "vm/resuming", "vm/resumed"], Events("b"));
    }

    private static string Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        return to;
    }

    private static void EditVcpu(string directory, Action<JsonObject> edit)
    {
        var path = Path.Combine(directory, "state.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        var data = root["snapshots"]!["cpu-manager"]!["snapshots"]!["0"]!["snapshot_data"]!;
        var vcpu = JsonNode.Parse(data["state"]!.GetValue<string>())!.AsObject();
        edit(vcpu["Kvm"]!.AsObject());
        data["state"] = vcpu.ToJsonString();
        File.WriteAllText(path, root.ToJsonString());
    }

    [Fact]
    public async Task A_truncated_corrupt_or_foreign_snapshot_is_refused_naming_the_file_and_field_and_the_VMM_stays_up()
    {
        var (snapshot, _, _, _) = await SnapshotTicksAsync();
        var cases = new List<(string Name, Action<string> Break, string Expected)>
        {
            ("truncated memory", d => { using var f = File.OpenWrite(Path.Combine(d, "memory-ranges")); f.SetLength(f.Length - 4096); },
                "memory-ranges: is 33550336 bytes, but memory_ranges in state.json names 33554432 (truncated or from another snapshot)"),
            ("cut state.json", d => File.WriteAllText(Path.Combine(d, "state.json"), File.ReadAllText(Path.Combine(d, "state.json"))[..1000]),
                "state.json: "),
            ("short registers", d => EditVcpu(d, kvm => kvm["regs"] = Convert.ToBase64String(new byte[3])),
                "state.json: cpu-manager/0/Kvm/regs: is 3 bytes, expected 144"),
            ("unknown field", d => EditVcpu(d, kvm => kvm["hyperv_synic"] = 1),
                "state.json: cpu-manager/0/Kvm"),
            ("other RAM size", d => File.WriteAllText(Path.Combine(d, "config.json"), File.ReadAllText(Path.Combine(d, "config.json")).Replace("\"size\":33554432", "\"size\":67108864", StringComparison.Ordinal)),
                "state.json: memory-manager/memory_ranges: are 0x0+0x2000000, but the 67108864 bytes of RAM in config.json are laid out as 0x0+0x4000000"),
            ("no config", d => File.Delete(Path.Combine(d, "config.json")), "config.json: cannot be read: "),
        };

        using var b = await StartAsync("b");
        var socket = In("b.sock");
        foreach (var (name, breakIt, expected) in cases)
        {
            var broken = Copy(snapshot, In("broken-" + name.Replace(' ', '-')));
            breakIt(broken);
            var answer = await Curl.SendAsync(socket, "PUT", "vm.restore", $$"""{"source_url":"file://{{broken}}"}""");
            Assert.True(answer.Status == 400, $"{name}: {answer.Status} {answer.Body}");
            var chain = JsonDocument.Parse(answer.Body).RootElement.EnumerateArray().Select(e => e.GetString()!).ToList();
            Assert.Equal(["Error from API", "The VM could not be restored", "Cannot restore VM"], chain.Take(3));
            Assert.True(chain[3].StartsWith(expected, StringComparison.Ordinal), $"{name}: {chain[3]}");
            if (name == "unknown field")
            {
                Assert.Contains("unknown field `hyperv_synic`", chain[3], StringComparison.Ordinal);
            }

            Assert.Equal(404, (await Curl.SendAsync(socket, "GET", "vm.info")).Status);
        }

        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.restore", $$"""{"source_url":"file://{{snapshot}}"}""")).Status);
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshot_onto_a_full_disk_answers_the_error_leaves_nothing_and_the_VM_stays_paused_and_intact()
    {
        var serial = In("serial.log");
        var full = Directory.CreateDirectory(In("full")).FullName;
        var socket = In("a.sock");
        // A 32 KiB tmpfs in a mount namespace of the VMM's own: the guest's RAM does not fit.
        using var a = Executable.StartThroughShell(
            $"exec unshare -m --propagation private -- /bin/sh -c \"mount -t tmpfs -o size=32k tmpfs '{full}' && touch '{full}/marker' && exec '{Executable.Locate()}' --api-socket path={socket} --event-monitor path={In("a.events")}\"");
        await Curl.WaitForApiAsync(socket, a, TimeSpan.FromSeconds(30));
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.create", TicksConfig(serial, 32UL << 20))).Status);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.boot")).Status);
        await WaitForAsync(serial, t => Ticks(t).Count >= 2, "two ticks");
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.pause")).Status);
        var paused = Ticks(Read(serial))[^1];

        var answer = await Curl.SendAsync(socket, "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{full}}"}""");

        Assert.Equal(500, answer.Status);
        Assert.Contains($"No space left on device in {full} while writing memory-ranges", answer.Body, StringComparison.Ordinal);
        // What the VMM sees in its namespace: nothing that could pass for a snapshot, not even a part.
        // (The marker shows this is the VMM's 32 KiB file system, not the empty directory beneath it.)
        Assert.Equal(["marker"], Directory.GetFileSystemEntries($"/proc/{a.Pid}/root{full}").Select(Path.GetFileName));
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(["vm/snapshotting"], Events("a").SkipWhile(e => e != "vm/paused").Skip(1));
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.resume")).Status);
        await WaitForAsync(serial, t => Ticks(t)[^1] > paused, "a tick after the resume");
        Assert.Equal([.. Enumerable.Range(1, Ticks(Read(serial)).Count).Select(i => (long)i)], Ticks(Read(serial)));
    }

    [Fact]
    public async Task A_virtio_blk_guest_snapshotted_during_its_write_bench_finishes_it_after_the_restore_with_every_byte_on_disk()
    {
        var serial = In("blk.serial");
        var disk = In("disk.img");
        const long bench = 256L << 20;
        using (var image = File.Create(disk))
        {
            image.SetLength(bench + (1 << 20));
        }

        var snapshot = Directory.CreateDirectory(In("snapshot")).FullName;
        bool midBench;
        using (var a = await StartAsync("a", "--kernel", Guests.Path("virtio-blk"), "--cmdline", "kit.poweroff blk.bench=256", "--memory", "size=64M",
            "--disk", $"path={disk}", "--serial", $"file={serial}", "--console", "off"))
        {
            await WaitForAsync(serial, t => t.Contains("virtio-blk: ok 00:01.0", StringComparison.Ordinal), "the functional pass");
            Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.pause")).Status);
            midBench = !Read(serial).Contains("bench 00:01.0 write", StringComparison.Ordinal);
            var answer = await Curl.SendAsync(In("a.sock"), "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{snapshot}}"}""");
            Assert.True(answer.Status == 204, answer.Body);
            Assert.Equal(200, (await Curl.SendAsync(In("a.sock"), "PUT", "vmm.shutdown")).Status);
            Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        File.Delete(serial);
        using var b = await StartAsync("b");
        var restored = await Curl.SendAsync(In("b.sock"), "PUT", "vm.restore", $$"""{"source_url":"file://{{snapshot}}","resume":true}""");
        Assert.True(restored.Status == 204, restored.Body);
        // The guest finishes its bench, checks nothing failed and powers off, which ends VMM "b".
        Assert.Equal(0, await b.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        var text = Read(serial);
        Assert.Contains("virtio-blk: bench 00:01.0 read 256 MiB", text, StringComparison.Ordinal);
        Assert.Contains("virtio-blk: done, 1 of 1 devices passed", text, StringComparison.Ordinal);
        Assert.DoesNotContain("FAIL", text, StringComparison.Ordinal);
        Assert.DoesNotContain("virtio-blk: start", text, StringComparison.Ordinal);
        using var written = File.OpenRead(disk);
        var buffer = new byte[1 << 20];
        for (long at = 512; at < 512 + bench; at += 16L << 20)
        {
            written.Position = at;
            written.ReadExactly(buffer);
            Assert.True(buffer.All(x => x == 0xbe), $"the bench's bytes are not on disk at {at}");
        }

        output.WriteLine(midBench ? "paused during the write bench" : "the write bench had finished before the pause");
    }

    [GeneratedRegex(@"memfill: filled (\d+) MiB at 0x([0-9a-f]+) seed 0x([0-9a-f]+)")]
    private static partial Regex Filled();

    [Theory]
    [InlineData("\"prefault\":true")]
    [InlineData("\"memory_restore_mode\":\"OnDemand\"")]
    public async Task A_guest_pattern_over_its_RAM_is_in_memory_ranges_byte_for_byte_and_checks_out_after_the_restore(string mode)
    {
        var serial = In("memfill.serial");
        var snapshot = Directory.CreateDirectory(In("snapshot")).FullName;
        string before;
        using (var a = await StartAsync("a", "--kernel", Guests.Path("memfill"), "--cmdline", "fill.mib=24 fill.check=2", "--memory", "size=32M",
            "--serial", $"file={serial}", "--console", "off"))
        {
            await WaitForAsync(serial, t => t.Contains("memfill: check 2 ok", StringComparison.Ordinal), "the first check");
            Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.pause")).Status);
            before = Read(serial);
            Assert.Equal(204, (await Curl.SendAsync(In("a.sock"), "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{snapshot}}"}""")).Status);
        }

        var filled = Filled().Match(before);
        Assert.True(filled.Success, before);
        var bytes = long.Parse(filled.Groups[1].Value, CultureInfo.InvariantCulture) << 20;
        var at = long.Parse(filled.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var seed = ulong.Parse(filled.Groups[3].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        // RAM below the 32-bit hole is the start of memory-ranges: guest address = file offset.
        using (var memory = File.OpenRead(Path.Combine(snapshot, "memory-ranges")))
        {
            memory.Position = at;
            var buffer = new byte[1 << 20];
            for (long done = 0; done < bytes; done += buffer.Length)
            {
                memory.ReadExactly(buffer);
                for (var i = 0; i < buffer.Length; i += 8)
                {
                    var address = (ulong)(at + done + i);
                    var expected = unchecked(address * 0x9E3779B97F4A7C15UL) ^ seed;
                    if (BitConverter.ToUInt64(buffer, i) != expected)
                    {
                        Assert.Fail($"memory-ranges at guest address 0x{address:X} holds 0x{BitConverter.ToUInt64(buffer, i):X}, the guest wrote 0x{expected:X}");
                    }
                }
            }
        }

        File.Delete(serial);
        using var b = await StartAsync("b");
        Assert.Equal(204, (await Curl.SendAsync(In("b.sock"), "PUT", "vm.restore", $$"""{"source_url":"file://{{snapshot}}","resume":true,{{mode}}}""")).Status);
        await WaitForAsync(serial, t => t.Contains(" ok 24 MiB", StringComparison.Ordinal), "a check after the restore");
        var text = Read(serial);
        Assert.DoesNotContain("FAIL", text, StringComparison.Ordinal);
        AssertOneRun(before, text, MemfillTicks, "memfill: start");
    }

    [GeneratedRegex(@"^memfill: tick (\d+)\r?$", RegexOptions.Multiline)]
    private static partial Regex MemfillTick();

    private static List<long> MemfillTicks(string text) =>
        [.. MemfillTick().Matches(text).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

#if DBUS_API
    [Fact]
    public async Task Snapshot_and_restore_through_DBus_with_busctl_continue_the_count()
    {
        await using var bus = await PrivateBus.StartAsync();
        var environment = new Dictionary<string, string?> { ["DBUS_SESSION_BUS_ADDRESS"] = bus.Address };
        const string path = "/org/cloudhypervisor/SnapTest";
        async Task<ToolResult> Busctl(string name, string method, params string[] args)
        {
            var result = await Children.RunAsync(Children.StartInfo("busctl", ["--address=" + bus.Address, "call", name, path, "org.cloudhypervisor.DBusApi1", method, .. args]));
            Assert.True(result.ExitCode == 0, $"busctl {method}: {result.Stderr}");
            return result;
        }

        var serial = In("serial.log");
        var snapshot = Directory.CreateDirectory(In("snapshot")).FullName;
        string before;
        using (var a = Executable.Start(["--api-socket", $"path={In("a.sock")}", "--dbus-service-name", "org.cloudhypervisor.SnapA", "--dbus-object-path", path], environment))
        {
            await Curl.WaitForApiAsync(In("a.sock"), a, TimeSpan.FromSeconds(30));
            await Busctl("org.cloudhypervisor.SnapA", "VmCreate", "s", TicksConfig(serial, 32UL << 20));
            await Busctl("org.cloudhypervisor.SnapA", "VmBoot");
            await WaitForAsync(serial, t => Ticks(t).Count >= 2, "two ticks");
            await Busctl("org.cloudhypervisor.SnapA", "VmPause");
            before = Read(serial);
            await Busctl("org.cloudhypervisor.SnapA", "VmSnapshot", "s", $$"""{"destination_url":"file://{{snapshot}}"}""");
            await Busctl("org.cloudhypervisor.SnapA", "VmmShutdown");
            Assert.Equal(0, await a.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        using var b = Executable.Start(["--api-socket", $"path={In("b.sock")}", "--dbus-service-name", "org.cloudhypervisor.SnapB", "--dbus-object-path", path], environment);
        await Curl.WaitForApiAsync(In("b.sock"), b, TimeSpan.FromSeconds(30));
        await Busctl("org.cloudhypervisor.SnapB", "VmRestore", "s", $$"""{"source_url":"file://{{snapshot}}","resume":true}""");
        await WaitForAsync(serial, t => Ticks(t).Count >= 1, "a tick after the restore");
        AssertOneRun(before, Read(serial), Ticks, "ticks: start");
        Assert.Contains("\\\"state\\\":\\\"Running\\\"", (await Busctl("org.cloudhypervisor.SnapB", "VmInfo")).Stdout, StringComparison.Ordinal);
    }
#endif
}
