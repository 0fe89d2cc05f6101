using System.Diagnostics;

namespace CloudHypervisor.Bench;

/// <summary>
/// A private dbus-daemon for the run (never the user's session bus), started before the VMM so
/// the VMM can own its name on it.
/// </summary>
internal sealed class DBusDaemon : IDisposable
{
    private readonly Process _process;

    private DBusDaemon(Process process, string address)
    {
        _process = process;
        Address = address;
    }

    /// <summary>The address dbus-daemon printed, e.g. unix:path=/tmp/x/bus,guid=...</summary>
    public string Address { get; }

    public static async Task<DBusDaemon> StartAsync(string dir)
    {
        var info = new ProcessStartInfo("dbus-daemon", ["--session", $"--address=unix:path={Path.Combine(dir, "bus")}", "--nofork", "--print-address"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true, // its warnings (e.g. "Failed to set fd limit" as non-root) would break the table
        };
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("dbus-daemon not found: install the Debian package dbus-daemon", e);
        }

        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                errors.Enqueue(e.Data);
            }
        };
        process.BeginErrorReadLine();
        var address = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        if (string.IsNullOrEmpty(address))
        {
            process.Kill();
            throw new InvalidOperationException($"dbus-daemon printed no address: {string.Join(" | ", errors)}");
        }

        return new DBusDaemon(process, address);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}

/// <summary>Round trips to the VMM under test through dbus-daemon, on one connection opened once.</summary>
internal static class DBusBench
{
    public const string ObjectPath = "/org/cloudhypervisor/Bench";
    public const string Interface = "org.cloudhypervisor.DBusApi1";

    public static string ServiceName { get; } = $"org.cloudhypervisor.Bench{Environment.ProcessId}";

    /// <summary>The VMM's command-line arguments that put it on the bus.</summary>
    public static string[] VmmArgs => ["--dbus-service-name", ServiceName, "--dbus-object-path", ObjectPath];

    /// <summary>
    /// Calls each (interface, member) <paramref name="iterations"/> times, synchronously on this
    /// thread, interleaved in rounds of 500 so that load from other processes on a shared machine
    /// falls on every target alike and the ratios between them hold.
    /// </summary>
    public static Stats[] Measure(DBusCaller bus, IReadOnlyList<(string Interface, string Member)> targets, int iterations)
    {
        const int Round = 500;
        var samples = targets.Select(_ => new List<double>(iterations)).ToArray();
        var seconds = new double[targets.Count];
        foreach (var (iface, member) in targets)
        {
            for (var i = 0; i < Math.Min(2000, iterations); i++)
            {
                bus.Call(ServiceName, ObjectPath, iface, member); // warm-up: JIT, tiering, caches
            }
        }

        for (var done = 0; done < iterations; done += Round)
        {
            for (var t = 0; t < targets.Count; t++)
            {
                var (iface, member) = targets[t];
                var round = Stopwatch.GetTimestamp();
                for (var i = 0; i < Math.Min(Round, iterations - done); i++)
                {
                    var start = Stopwatch.GetTimestamp();
                    bus.Call(ServiceName, ObjectPath, iface, member);
                    samples[t].Add(Percentiles.Microseconds(Stopwatch.GetTimestamp() - start));
                }

                seconds[t] += Stopwatch.GetElapsedTime(round).TotalSeconds;
            }
        }

        return [.. samples.Select((s, t) => Percentiles.From(s, seconds[t]))];
    }
}
