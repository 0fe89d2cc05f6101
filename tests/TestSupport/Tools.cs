namespace CloudHypervisor.TestSupport;

/// <summary>What a command-line client printed and how it exited.</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs the real D-Bus clients users run: busctl, gdbus, dbus-send.</summary>
public static class Tools
{
    /// <summary>The Debian packages that provide each binary, for the one clear failure message.</summary>
    private static readonly Dictionary<string, string> Packages = new()
    {
        ["busctl"] = "systemd",
        ["gdbus"] = "libglib2.0-bin",
        ["dbus-send"] = "dbus-bin (or dbus)",
        ["dbus-daemon"] = "dbus-daemon (or dbus)",
        ["dbus-monitor"] = "dbus-bin (or dbus)",
    };

    /// <summary>The full path of <paramref name="name"/>, or a failure naming the package to install.</summary>
    public static string Require(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException(
            $"Prerequisite missing: '{name}' is not on PATH; install the Debian package {Packages.GetValueOrDefault(name, name)} (./build.sh does).");
    }

    public static async Task<ToolResult> RunAsync(string tool, params string[] args)
    {
        var run = await Children.RunAsync(Children.StartInfo(Require(tool), args), limit: TimeSpan.FromSeconds(30));
        return run with { Stdout = run.Stdout.TrimEnd('\n'), Stderr = run.Stderr.TrimEnd('\n') };
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return await condition();
    }
}
