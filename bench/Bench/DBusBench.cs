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

    /// <summary>Calls <paramref name="member"/> of <paramref name="iface"/> on the VMM's name, synchronously on this thread.</summary>
    public static Stats Measure(SdBusCaller bus, string iface, string member, int iterations)
    {
        for (var i = 0; i < Math.Min(2000, iterations); i++)
        {
            bus.Call(ServiceName, ObjectPath, iface, member); // warm-up: JIT, tiering, caches
        }

        var samples = new List<double>(iterations);
        var total = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            bus.Call(ServiceName, ObjectPath, iface, member);
            samples.Add(Percentiles.Microseconds(Stopwatch.GetTimestamp() - start));
        }

        return Percentiles.From(samples, total.Elapsed.TotalSeconds);
    }
}
