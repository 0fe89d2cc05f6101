using System.Diagnostics;

namespace CloudHypervisor.Tests;

/// <summary>The real curl, over the API's Unix socket, as users drive upstream.</summary>
internal static class Curl
{
    public sealed record Response(int Status, string Body, string Headers);

    public static async Task<Response> SendAsync(string socket, string method, string action, string? body = null)
    {
        var info = new ProcessStartInfo("curl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--silent", "--show-error", "--include", "--max-time", "20", "--unix-socket", socket, "-X", method })
        {
            info.ArgumentList.Add(arg);
        }

        if (body is not null)
        {
            info.ArgumentList.Add("-H");
            info.ArgumentList.Add("Content-Type: application/json");
            info.ArgumentList.Add("--data");
            info.ArgumentList.Add(body);
        }

        info.ArgumentList.Add($"http://localhost/api/v1/{action}");
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("curl is required for these tests (Debian package curl)", e);
        }

        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"curl {method} {action} failed ({process.ExitCode}): {error}");
            }

            var split = output.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var headers = split < 0 ? output : output[..split];
            var responseBody = split < 0 ? "" : output[(split + 4)..];
            var status = int.Parse(headers.Split(' ', 3)[1]);
            return new Response(status, responseBody, headers);
        }
    }

    /// <summary>Waits until the API answers vmm.ping, or fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitForApiAsync(string socket, Executable process, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(socket))
            {
                try
                {
                    if ((await SendAsync(socket, "GET", "vmm.ping")).Status == 200)
                    {
                        return;
                    }
                }
                catch (InvalidOperationException)
                {
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"API socket {socket} did not answer within {timeout}; stderr: {process.Stderr}");
    }
}
