using System.Diagnostics;

namespace CloudHypervisor.ChRemote.Tests.Support;

/// <summary>What a process printed and how it exited.</summary>
public sealed record Run(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Starts the executables built beside this test assembly, and other real programs.</summary>
public static class Processes
{
    /// <summary>The path of an executable copied next to the tests (ch-remote, cloud-hypervisor).</summary>
    public static string Built(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, name);
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{name} was not built next to the tests ({path})");
    }

    public static ProcessStartInfo Info(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("JOURNAL_STREAM");
        info.Environment.Remove("NOTIFY_SOCKET");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return info;
    }

    /// <summary>Runs to completion (at most <paramref name="limit"/>) with <paramref name="stdin"/> as input.</summary>
    public static async Task<Run> RunAsync(ProcessStartInfo info, string? stdin = null, TimeSpan? limit = null)
    {
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} did not exit within {limit}");
        }

        return new Run(process.ExitCode, await stdout, await stderr);
    }
}
