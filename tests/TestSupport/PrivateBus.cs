using System.Diagnostics;

namespace CloudHypervisor.TestSupport;

/// <summary>
/// A private <c>dbus-daemon --session</c> on a Unix socket in a temp directory (NOTES.md), so tests
/// never touch the machine's buses. It can be killed and started again on the same address.
/// </summary>
public sealed class PrivateBus : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string? _config;
    private Process? _daemon;

    // The clients in these tests block pool threads (synchronous DBusClient calls, process waits)
    // while xunit runs classes in parallel on 2 cores; without spare pool threads the event pumps
    // and reply continuations wait for the pool's slow thread injection (seconds).
    static PrivateBus() => ThreadPool.SetMinThreads(32, 32);

    private PrivateBus(string dir, string? config)
    {
        _dir = dir;
        _config = config;
        SocketPath = Path.Combine(dir, "bus");
    }

    public string SocketPath { get; }

    /// <summary>The address for clients and dbus-send (<c>unix:path=…</c>).</summary>
    public string Address => "unix:path=" + SocketPath;

    public int DaemonPid => _daemon?.Id ?? 0;

    /// <summary>
    /// Starts the daemon. With <paramref name="maxMessageSize"/>, a session bus of its own
    /// configuration whose daemon refuses (and disconnects the sender of) any larger message, as
    /// every daemon does past the protocol's 128 MiB.
    /// </summary>
    public static async Task<PrivateBus> StartAsync(long? maxMessageSize = null)
    {
        var dir = Directory.CreateTempSubdirectory("ch-dbus-").FullName;
        string? config = null;
        if (maxMessageSize is { } max)
        {
            config = Path.Combine(dir, "bus.conf");
            File.WriteAllText(config, $"""
                <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
                 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
                <busconfig>
                  <type>session</type>
                  <listen>unix:path={Path.Combine(dir, "bus")}</listen>
                  <auth>EXTERNAL</auth>
                  <policy context="default">
                    <allow send_destination="*" eavesdrop="true"/>
                    <allow eavesdrop="true"/>
                    <allow own="*"/>
                  </policy>
                  <limit name="max_message_size">{max}</limit>
                </busconfig>
                """);
        }

        var bus = new PrivateBus(dir, config);
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
        string[] args = _config is null
            ? ["--session", "--address=" + Address, "--nofork", "--print-address"]
            : ["--config-file=" + _config, "--nofork", "--print-address"];
        foreach (var a in args)
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
