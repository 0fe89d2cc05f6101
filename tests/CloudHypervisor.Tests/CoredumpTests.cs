#if GUEST_DEBUG
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>
/// vm.coredump through the real executable (GUEST_DEBUG build) on /dev/kvm, read by the tools a
/// user reads a core with: binutils' readelf and Debian's gdb against the bundled guest's ELF.
/// The registers and RAM are checked against a snapshot of the same paused VM, an independent path.
/// </summary>
public sealed partial class CoredumpTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-core-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

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

    private static async Task<string> RunAsync(string tool, params string[] args)
    {
        var result = await Children.RunAsync(Children.StartInfo(tool, args), limit: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"{tool} {string.Join(' ', args)}: {result.Stderr}");
        return result.Stdout;
    }

    [GeneratedRegex(@"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex LoadLine();

    [GeneratedRegex(@"^rip\s+0x([0-9a-f]+)\s+0x[0-9a-f]+ <([A-Za-z_0-9]+)\+\d+>", RegexOptions.Multiline)]
    private static partial Regex GdbRip();

    private static ulong Hex(string text) => ulong.Parse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>The guest ELF's text symbol that holds <paramref name="address"/>, by nm.</summary>
    private static string SymbolOf(string nm, ulong address) =>
        nm.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .Where(f => f.Length == 3 && f[1] is "T" or "t")
            .Select(f => (Address: Hex(f[0]), Name: f[2]))
            .Where(s => s.Address <= address)
            .MaxBy(s => s.Address).Name;

    /// <summary>Each vCPU's RIP from a snapshot's state.json (kvm_regs: rip after 16 registers).</summary>
    private static ulong[] SnapshotRips(string snapshot)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(snapshot, "state.json")));
        var cpus = state.RootElement.GetProperty("snapshots").GetProperty("cpu-manager").GetProperty("snapshots");
        return [.. Enumerable.Range(0, cpus.EnumerateObject().Count()).Select(id =>
        {
            using var vcpu = JsonDocument.Parse(cpus.GetProperty(id.ToString(CultureInfo.InvariantCulture)).GetProperty("snapshot_data").GetProperty("state").GetString()!);
            var regs = Convert.FromBase64String(vcpu.RootElement.GetProperty("Kvm").GetProperty("regs").GetString()!);
            return BinaryPrimitives.ReadUInt64LittleEndian(regs.AsSpan(16 * 8));
        })];
    }

    private static void AssertSameBytes(string core, long coreOffset, string memory, long memoryOffset, long length, ulong gpa)
    {
        using var a = File.OpenHandle(core);
        using var b = File.OpenHandle(memory);
        var x = new byte[1 << 20];
        var y = new byte[1 << 20];
        for (long done = 0; done < length; done += x.Length)
        {
            var n = (int)Math.Min(x.Length, length - done);
            Assert.Equal(n, RandomAccess.Read(a, x.AsSpan(0, n), coreOffset + done));
            Assert.Equal(n, RandomAccess.Read(b, y.AsSpan(0, n), memoryOffset + done));
            if (!x.AsSpan(0, n).SequenceEqual(y.AsSpan(0, n)))
            {
                Assert.Fail($"the core's PT_LOAD for guest address 0x{gpa + (ulong)done:X} differs from the snapshot's memory-ranges");
            }
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_paused_two_vCPU_guest_dumps_a_note_pair_per_vCPU_and_a_PT_LOAD_per_RAM_range_that_gdb_reads_in_the_right_symbols()
    {
        // 3 GiB + 64 MiB: RAM below the 32-bit hole and above 4 GiB, two ranges.
        const ulong ram = (3UL << 30) + (64UL << 20);
        var serial = In("serial.log");
        var socket = In("a.sock");
        var core = In("guest.core");
        var snapshot = Directory.CreateDirectory(In("snapshot")).FullName;
        using var vmm = Executable.Start(["--api-socket", $"path={socket}", "--kernel", Guests.Path("smp"), "--cpus", "boot=2",
            "--memory", $"size={ram}", "--serial", $"file={serial}", "--console", "off"]);
        await Curl.WaitForApiAsync(socket, vmm, TimeSpan.FromSeconds(30));
        await WaitForAsync(serial, t => t.Contains("smp: 2 of 2 cpus up", StringComparison.Ordinal), "both CPUs up");
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.pause")).Status);

        var dumped = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"file://{{core}}"}""");
        Assert.True(dumped.Status == 204, dumped.Body);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{snapshot}}"}""")).Status);
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(core));

        var header = await RunAsync("readelf", "-h", core);
        Assert.Matches(@"Type:\s+CORE", header);
        Assert.Matches(@"Machine:\s+Advanced Micro Devices X86-64", header);
        var notes = await RunAsync("readelf", "-n", core);
        Assert.Equal(2, Regex.Count(notes, @"CORE\s+0x00000150\s+NT_PRSTATUS"));
        Assert.Equal(2, Regex.Count(notes, @"QEMU\s+0x000001b8\s+Unknown note type: \(0x00000000\)"));

        var loads = LoadLine().Matches(await RunAsync("readelf", "-lW", core))
            .Select(m => (Offset: Hex(m.Groups[1].Value), Vaddr: Hex(m.Groups[2].Value), Paddr: Hex(m.Groups[3].Value), FileSize: Hex(m.Groups[4].Value), MemSize: Hex(m.Groups[5].Value)))
            .ToList();
        Assert.Equal([(0UL, 0xC000_0000UL), (0x1_0000_0000UL, ram - 0xC000_0000UL)], loads.Select(l => (l.Paddr, l.FileSize)));
        Assert.All(loads, l => Assert.Equal((0UL, l.FileSize), (l.Vaddr, l.MemSize)));
        Assert.Equal((long)(loads[1].Offset + loads[1].FileSize), new FileInfo(core).Length);

        // Byte for byte: each PT_LOAD is the RAM the snapshot wrote (ranges packed in GPA order).
        var memory = Path.Combine(snapshot, "memory-ranges");
        long packed = 0;
        foreach (var load in loads)
        {
            AssertSameBytes(core, (long)load.Offset, memory, packed, (long)load.FileSize, load.Paddr);
            packed += (long)load.FileSize;
        }

        // gdb shows each vCPU's RIP, the one the snapshot saved, in the symbol nm finds for it:
        // the BSP idles (in idle_forever, or its timer interrupt), the AP halted in ap_start64.
        var guest = Guests.Path("smp");
        var nm = await RunAsync("nm", "-n", guest);
        var gdb = await RunAsync("/usr/bin/gdb", "-batch", "-nx", "-ex", "thread apply all info registers rip", guest, core);
        var shown = GdbRip().Matches(gdb).ToDictionary(m => Hex(m.Groups[1].Value), m => m.Groups[2].Value);
        var rips = SnapshotRips(snapshot);
        Assert.Equal(2, rips.Length);
        Assert.Equal(rips.Order(), shown.Keys.Order());
        foreach (var rip in rips)
        {
            Assert.Equal(SymbolOf(nm, rip), shown[rip]);
        }

        Assert.Contains(shown[rips[0]], new[] { "idle_forever", "timer_isr", "irq_default", "ignore_interrupt", "pic_eoi" });
        Assert.Equal("ap_start64", shown[rips[1]]);
    }

    [GeneratedRegex(@"^ticks: (\d+)\r?$", RegexOptions.Multiline)]
    private static partial Regex TickLine();

    private static List<long> Ticks(string text) =>
        [.. TickLine().Matches(text).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];

    [Fact]
    public async Task A_running_guest_is_dumped_and_counts_on_and_a_full_disk_answers_the_error_leaves_nothing_and_the_VM_stays_paused()
    {
        var serial = In("serial.log");
        var full = Directory.CreateDirectory(In("full")).FullName;
        var socket = In("a.sock");
        // A 32 KiB tmpfs in a mount namespace of the VMM's own: the guest's RAM does not fit.
        using var a = Executable.StartThroughShell(
            $"exec unshare -m --propagation private -- /bin/sh -c \"mount -t tmpfs -o size=32k tmpfs '{full}' && touch '{full}/marker' && exec '{Executable.Locate()}' --api-socket path={socket}\"");
        await Curl.WaitForApiAsync(socket, a, TimeSpan.FromSeconds(30));
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.create",
            $$$"""{"memory":{"size":33554432},"payload":{"kernel":"{{{Guests.Path("ticks")}}}"},"serial":{"mode":"File","file":"{{{serial}}}"},"console":{"mode":"Off"}}""")).Status);
        var notBooted = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"file://{{In("early.core")}}"}""");
        Assert.Equal(409, notBooted.Status);
        Assert.Contains("VM is not running", notBooted.Body, StringComparison.Ordinal);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.boot")).Status);
        await WaitForAsync(serial, t => Ticks(t).Count >= 2, "two ticks");

        // Running: paused for the dump, resumed after it, as upstream.
        var running = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"file://{{In("running.core")}}"}""");
        Assert.True(running.Status == 204, running.Body);
        Assert.Equal((long)ElfCoreSize(1, 32L << 20), new FileInfo(In("running.core")).Length);
        var afterDump = Ticks(Read(serial))[^1];
        await WaitForAsync(serial, t => Ticks(t)[^1] > afterDump, "a tick after the dump of the running VM");
        Assert.Contains("\"state\":\"Running\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);

        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.pause")).Status);
        var paused = Ticks(Read(serial))[^1];
        var answer = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"file://{{full}}/guest.core"}""");
        var again = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"file://{{In("running.core")}}"}""");
        var bad = await Curl.SendAsync(socket, "PUT", "vm.coredump", $$"""{"destination_url":"{{In("x.core")}}"}""");

        Assert.Equal(500, answer.Status);
        Assert.Contains($"No space left on device in {full} while writing the core dump {full}/guest.core", answer.Body, StringComparison.Ordinal);
        // What the VMM sees in its namespace: no core, not even a part of one.
        Assert.Equal(["marker"], Directory.GetFileSystemEntries($"/proc/{a.Pid}/root{full}").Select(Path.GetFileName));
        Assert.Equal(409, again.Status);
        Assert.Contains("File exists (os error 17)", again.Body, StringComparison.Ordinal);
        Assert.Equal(400, bad.Status);
        Assert.Contains($"Could not extract file from URL: {In("x.core")}", bad.Body, StringComparison.Ordinal);
        Assert.Contains("\"state\":\"Paused\"", (await Curl.SendAsync(socket, "GET", "vm.info")).Body, StringComparison.Ordinal);
        Assert.Equal(paused, Ticks(Read(serial))[^1]);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.resume")).Status);
        await WaitForAsync(serial, t => Ticks(t)[^1] > paused, "a tick after the resume");
        Assert.Equal([.. Enumerable.Range(1, Ticks(Read(serial)).Count).Select(i => (long)i)], Ticks(Read(serial)));
    }

    private static long ElfCoreSize(int cpus, long ram) => 64 + (56 * 2) + (cpus * (20 + 336 + 20 + 440)) + ram;
}
#endif
