using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Bench;

/// <summary>
/// Measures, in one run and on one machine, the API's cost against the floor: a bare Unix-socket
/// round trip between two processes. Every figure is printed beside its ratio to that floor, so
/// machine noise cancels out (NOTES.md: compare within one run). The VMM under test is the real
/// executable, started as a child process: REST and D-Bus (on a private dbus-daemon) on one VMM
/// with no VM, then guests on /dev/kvm (boot to first serial byte beside QEMU, pause/resume, RSS).
///   ch-bench --binary out/cloud-hypervisor --rtt PATH [--baseline OTHER-BUILD] [--kestrel kestrel-minimal] [--iterations 20000]
///            [--boot-runs 5] [--pause-resume 50] [--guests DIR] [-- extra VMM arguments]
/// With --baseline, every VMM row is measured for both builds in this one run (before/after).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var options = BenchOptions.Parse(args);
        if (options.Binary is null || !File.Exists(options.Binary) || options.Rtt is null || !File.Exists(options.Rtt))
        {
            await Console.Error.WriteLineAsync("usage: ch-bench --binary PATH-TO-cloud-hypervisor --rtt PATH-TO-rtt [--baseline PATH]");
            return 2;
        }

        var report = new Report();
        var dir = Directory.CreateTempSubdirectory("ch-bench-");
        try
        {
            var rtt = new NativeClient(options.Rtt);
            var floor = await rtt.FloorAsync(options.Iterations);
            report.Add("bare unix-socket round trip, C client (floor)", floor, floor);
            var builds = new List<(string Label, string Binary)> { (BuildLabel(options.Binary), options.Binary) };
            if (options.Baseline is { } baseline)
            {
                builds.Add((BuildLabel(baseline), baseline));
            }

            foreach (var (label, binary) in builds)
            {
                await ControlPlaneAsync(options, binary, label, rtt, dir.FullName, floor, report);
            }

            if (options.Kestrel is { } kestrel)
            {
                await KestrelMinimalAsync(options, kestrel, rtt, dir.FullName, floor, report);
            }

            await GuestAsync(options, builds, dir.FullName, floor, report);
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        report.Print();
        return 0;
    }

    /// <summary>What scripts/publish.sh built (its .stamp beside the binary): aot, r2r or il.</summary>
    private static string BuildLabel(string binary)
    {
        var stamp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(binary))!, ".stamp");
        var kind = File.Exists(stamp)
            ? File.ReadAllText(stamp).Split(' ').FirstOrDefault(f => f.StartsWith("kind=", StringComparison.Ordinal))?[5..].Trim()
            : null;
        return $"[{kind ?? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(binary)))}]";
    }

    /// <summary>One VMM with both front ends (REST and D-Bus on a private dbus-daemon), no VM booted.</summary>
    private static async Task ControlPlaneAsync(
        BenchOptions options, string binary, string label, NativeClient rtt, string dir, Stats floor, Report report)
    {
        using var bus = await DBusDaemon.StartAsync(dir);
        await using var vmm = await VmmProcess.StartAsync(
            binary, dir, [.. DBusBench.VmmArgs, .. options.ExtraArgs],
            environment: new Dictionary<string, string> { ["DBUS_SESSION_BUS_ADDRESS"] = bus.Address });
        report.AddPlain($"{label} process start -> first answered vmm.ping", vmm.StartToFirstPing);
        report.AddText($"{label} VMM RSS, idle (no VM)", Report.MiB(vmm.RssKiB()));

        using (var create = await HttpClient1.ConnectAsync(vmm.Socket))
        {
            // The first body the VMM parses as a VM config, right after the first ping: what a
            // script's `ch-remote create` meets.
            var started = Stopwatch.GetTimestamp();
            var status = await create.RequestAsync("PUT", "/api/v1/vm.create", "{\"payload\":{\"kernel\":\"/nonexistent/vmlinux\"}}");
            report.AddPlain($"{label} first vm.create, right after the first ping", Stopwatch.GetElapsedTime(started));
            if (status != 204)
            {
                throw new InvalidOperationException($"vm.create answered {status}");
            }
        }

        foreach (var (name, method, path) in new[] { ("vmm.ping", "GET", "/api/v1/vmm.ping"), ("vm.info", "GET", "/api/v1/vm.info") })
        {
            // Warm-up first: a JIT build tiers up after a few thousand calls; the connection too.
            await rtt.HttpAsync(vmm.Socket, method, path, 5000, 1);
            report.Add($"{label} REST {name}, 1 keep-alive connection", await rtt.HttpAsync(vmm.Socket, method, path, options.Iterations, 1), floor);
            report.Add($"{label} REST {name}, 16 connections", await rtt.HttpAsync(vmm.Socket, method, path, Math.Max(500, options.Iterations / 8), 16), floor);
        }

        // Synchronous on this thread: one connection, one caller.
        using (var caller = DBusCaller.Open(bus.Address))
        {
            var stats = DBusBench.Measure(
                caller, [("org.freedesktop.DBus.Peer", "Ping"), (DBusBench.Interface, "VmmPing"), (DBusBench.Interface, "VmInfo")], options.Iterations);
            report.Add($"{label} D-Bus Peer.Ping (the D-Bus floor)", stats[0], floor);
            report.Add($"{label} D-Bus VmmPing, 1 connection", stats[1], floor, (stats[0], "Peer.Ping"));
            report.Add($"{label} D-Bus VmInfo, 1 connection", stats[2], floor, (stats[0], "Peer.Ping"));
        }

        foreach (var extra in options.Extras)
        {
            var result = await extra(vmm, dir);
            report.Add(result.Name, result.Stats, floor);
        }
    }

    /// <summary>
    /// bench/KestrelMinimal beside the VMM: the same route, the same client, a fixed body. Its gap
    /// to the floor is Kestrel's share of a REST round trip; the VMM's gap to it is ours.
    /// </summary>
    private static async Task KestrelMinimalAsync(BenchOptions options, string binary, NativeClient rtt, string dir, Stats floor, Report report)
    {
        await using var app = await VmmProcess.StartAsync(binary, dir, [], socketName: "kestrel.sock");
        report.AddPlain("minimal Kestrel app: process start -> first answered vmm.ping", app.StartToFirstPing);
        report.AddText("minimal Kestrel app: RSS, idle", Report.MiB(app.RssKiB()));
        await rtt.HttpAsync(app.Socket, "GET", "/api/v1/vmm.ping", 5000, 1);
        report.Add("minimal Kestrel app: vmm.ping (fixed body), 1 keep-alive connection", await rtt.HttpAsync(app.Socket, "GET", "/api/v1/vmm.ping", options.Iterations, 1), floor);
        report.Add("minimal Kestrel app: vmm.ping (fixed body), 16 connections", await rtt.HttpAsync(app.Socket, "GET", "/api/v1/vmm.ping", Math.Max(500, options.Iterations / 8), 16), floor);
    }

    /// <summary>Guests on /dev/kvm: boot to the first serial byte (each build's and QEMU's), RSS, pause/resume.</summary>
    private static async Task GuestAsync(BenchOptions options, List<(string Label, string Binary)> builds, string dir, Stats floor, Report report)
    {
        if (!File.Exists("/dev/kvm"))
        {
            report.AddText("kvm", "/dev/kvm is missing: no guest figures");
            return;
        }

        var guests = options.Guests ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Binary!))!, "guests");
        var banner = Path.Combine(guests, "banner");
        var qemu = await KvmBench.BootToFirstByteAsync(
            "qemu-system-x86_64",
            ["-M", "microvm", "-enable-kvm", "-m", "32M", "-kernel", banner, "-nographic", "-nodefaults", "-no-user-config", "-monitor", "none", "-serial", "stdio"],
            options.BootRuns);
        report.AddBoot("qemu microvm start -> banner's first serial byte (32 MiB)", qemu, null);
        foreach (var (label, binary) in builds)
        {
            var ch = await KvmBench.BootToFirstByteAsync(
                binary, ["--kernel", banner, "--memory", "size=32M", "--serial", "tty", "--console", "off"], options.BootRuns);
            report.AddBoot($"{label} cloud-hypervisor start -> banner's first serial byte (32 MiB)", ch, qemu);

            var serial = Path.Combine(dir, "ticks.serial");
            File.Delete(serial);
            await using var vmm = await VmmProcess.StartAsync(
                binary, dir,
                ["--kernel", Path.Combine(guests, "ticks"), "--memory", "size=32M", "--serial", $"file={serial}", "--console", "off"],
                socketName: "ticks.sock");
            await KvmBench.WaitForSerialAsync(serial, "ticks: 1", TimeSpan.FromSeconds(30));
            report.AddText($"{label} VMM RSS, ticks guest running (guest memory 32 MiB)", Report.MiB(vmm.RssKiB()));
            var (pause, resume) = await KvmBench.PauseResumeAsync(vmm.Socket, options.PauseResumeRuns);
            report.Add($"{label} REST vm.pause, ticks guest running (x{options.PauseResumeRuns})", pause, floor);
            report.Add($"{label} REST vm.resume, ticks guest running (x{options.PauseResumeRuns})", resume, floor);
        }
    }
}

internal sealed class BenchOptions
{
    public string? Binary { get; private set; }
    public string? Baseline { get; private set; }
    public string? Rtt { get; private set; }
    public string? Kestrel { get; private set; }
    public int Iterations { get; private set; } = 20000;
    public int BootRuns { get; private set; } = 5;
    public int PauseResumeRuns { get; private set; } = 50;
    public string? Guests { get; private set; }
    public List<string> ExtraArgs { get; } = [];
    public List<Func<VmmProcess, string, Task<(string Name, Stats Stats)>>> Extras { get; } = [];

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--binary": o.Binary = args[++i]; break;
                case "--baseline": o.Baseline = args[++i]; break;
                case "--rtt": o.Rtt = args[++i]; break;
                case "--kestrel": o.Kestrel = args[++i]; break;
                case "--iterations": o.Iterations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--boot-runs": o.BootRuns = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--pause-resume": o.PauseResumeRuns = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--guests": o.Guests = args[++i]; break;
                case "--": o.ExtraArgs.AddRange(args[(i + 1)..]); i = args.Length; break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }

        return o;
    }
}

/// <summary>Latency samples (microseconds) and throughput of one measurement.</summary>
internal sealed record Stats(double P50, double P99, double RequestsPerSecond);

internal static class Percentiles
{
    public static Stats From(List<double> samplesUs, double seconds)
    {
        samplesUs.Sort();
        double At(double q) => samplesUs[Math.Min(samplesUs.Count - 1, (int)(q * samplesUs.Count))];
        return new Stats(At(0.50), At(0.99), samplesUs.Count / seconds);
    }

    public static double Microseconds(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}

internal sealed class Report
{
    private readonly List<string> _lines = [];

    private const int NameWidth = 68;

    public void Add(string name, Stats s, Stats floor, (Stats Stats, string Name)? also = null) =>
        _lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"{name,-NameWidth} p50 {s.P50,8:F1} µs ({s.P50 / floor.P50,5:F1}x)  p99 {s.P99,8:F1} µs ({s.P99 / floor.P99,5:F1}x)  {s.RequestsPerSecond,9:F0} req/s") +
            (also is { } a ? string.Create(CultureInfo.InvariantCulture, $"  p50 {s.P50 / a.Stats.P50:F1}x {a.Name}") : ""));

    public void AddPlain(string name, TimeSpan t) =>
        _lines.Add(string.Create(CultureInfo.InvariantCulture, $"{name,-NameWidth} {t.TotalMilliseconds,8:F1} ms"));

    public void AddText(string name, string text) => _lines.Add($"{name,-NameWidth} {text}");

    /// <summary>A boot figure: median and minimum of the runs, and its ratio to <paramref name="reference"/> (QEMU's) when both exist.</summary>
    public void AddBoot(string name, BootResult r, BootResult? reference)
    {
        if (r.Failure is not null)
        {
            var who = name.Split(' ')[0];
            _lines.Add($"{name,-NameWidth} {who}: {r.Failure}");
            return;
        }

        var line = string.Create(CultureInfo.InvariantCulture,
            $"{name,-NameWidth} p50 {r.Median,8:F1} ms  min {r.Min,8:F1} ms  ({r.Milliseconds.Count} runs)  RSS {MiB(r.RssKiB).Trim()} after 1 s");
        if (reference is { Failure: null })
        {
            line += string.Create(CultureInfo.InvariantCulture, $"  p50 {r.Median / reference.Median:F2}x qemu");
        }

        _lines.Add(line);
    }

    public static string MiB(long kib) => string.Create(CultureInfo.InvariantCulture, $"{kib / 1024.0,8:F1} MiB");

    public void Print()
    {
        Console.WriteLine("ratios are to the floor measured in this same run");
        foreach (var line in _lines)
        {
            Console.WriteLine(line);
        }
    }
}
