using System.Diagnostics;

namespace CloudHypervisor.TestSupport;

/// <summary>How the tests start real programs (our executables, curl, busctl, a shell).</summary>
public static class Children
{
    /// <summary>
    /// Redirected stdin, stdout and stderr, the arguments as given, and the environment with
    /// <paramref name="environment"/> applied. A test run under systemd must not hand the child
    /// its journald stream or notify socket, so those two are removed first.
    /// </summary>
    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string?>>? environment = null)
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
        foreach (var (key, value) in environment ?? [])
        {
            info.Environment[key] = value;
        }

        return info;
    }

    /// <summary>
    /// Runs to completion with <paramref name="stdin"/> as input (none: closed at once); a child
    /// still running after <paramref name="limit"/> (60 s) is killed and the test fails.
    /// </summary>
    public static async Task<ToolResult> RunAsync(ProcessStartInfo info, string? stdin = null, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(info);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        limit ??= TimeSpan.FromSeconds(60);
        using var cts = new CancellationTokenSource(limit.Value);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} did not exit within {limit}");
        }

        // A grandchild that kept the output pipes open must not hang the test either.
        try
        {
            return new ToolResult(process.ExitCode, await stdout.WaitAsync(limit.Value), await stderr.WaitAsync(limit.Value));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} exited, but its output stayed open for {limit}");
        }
        finally
        {
            // Process.Dispose leaves streams that were read directly to the finalizer: close the pipes now.
            process.StandardOutput.Dispose();
            process.StandardError.Dispose();
        }
    }
}
