using System.Diagnostics;

namespace CloudHypervisor.TestSupport;

/// <summary>
/// A private <c>dbus-daemon --session</c> on a Unix socket in a temp directory (NOTES.md), so tests
/// never touch the machine's buses. It can be killed and started again on the same address.
/// </summary>
public sealed class PrivateBus : IAsyncDisposable
{
    private readonly string _dir;
    private Process? _daemon;

    // The clients in these tests block pool threads (synchronous DBusClient calls, process waits)
    // while xunit runs classes in parallel on 2 cores; without spare pool threads the event pumps
    // and reply continuations wait for the pool's slow thread injection (seconds).
    static PrivateBus() => ThreadPool.SetMinThreads(32, 32);

    private PrivateBus(string dir)
    {
        _dir = dir;
        SocketPath = Path.Combine(dir, "bus");
    }

    public string SocketPath { get; }

    /// <summary>The address for sd-bus and dbus-send (<c>unix:path=…</c>).</summary>
    public string Address => "unix:path=" + SocketPath;

    public int DaemonPid => _daemon?.Id ?? 0;

    public static async Task<PrivateBus> StartAsync()
    {
        var dir = Directory.CreateTempSubdirectory("ch-dbus-").FullName;
        var bus = new PrivateBus(dir);
        await bus.StartDaemonAsync();
        return bus;
    }

    /// <summary>Starts dbus-daemon and waits until it prints its address (it is listening then).</summary>
    public async Task StartDaemonAsync()
    {
        var start = new ProcessStartInfo(Tools.Require("dbus-daemon"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--session", "--address=" + Address, "--nofork", "--print-address" })
        {
            start.ArgumentList.Add(a);
        }

        // A killed daemon leaves its socket file behind; a new one must be able to bind.
        File.Delete(SocketPath);
        _daemon = Process.Start(start)!;
        var line = await _daemon.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        if (line is null || !line.StartsWith("unix:path=" + SocketPath, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"dbus-daemon did not start: '{line}' {await _daemon.StandardError.ReadToEndAsync()}");
        }
    }

    /// <summary>Kills the daemon (SIGKILL), as a crash would.</summary>
    public async Task KillDaemonAsync()
    {
        if (_daemon is { HasExited: false } d)
        {
            d.Kill();
            await d.WaitForExitAsync();
        }

        _daemon?.Dispose();
        _daemon = null;
    }

    /// <summary>Sends a signal to the daemon (SIGSTOP/SIGCONT to freeze it).</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, DaemonPid.ToString()]);
        kill.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (_daemon is { HasExited: false })
        {
            Signal("CONT");
        }

        await KillDaemonAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
