using System.Diagnostics;
using System.Text;

namespace CloudHypervisor.Bench;

/// <summary>A process-start-to-first-guest-byte measurement, or why it could not be made.</summary>
internal sealed record BootResult(List<double> Milliseconds, string? Failure, long RssKiB = 0)
{
    public double Median => Milliseconds.Order().ElementAt(Milliseconds.Count / 2);
    public double Min => Milliseconds.Min();
}

/// <summary>Guest-facing figures on /dev/kvm: boot to first serial byte, pause/resume, VMM RSS.</summary>
internal static class KvmBench
{
    /// <summary>
    /// Starts <paramref name="binary"/> <paramref name="runs"/> times with the guest's serial port on
    /// its stdout (a pipe read here), times process start to the first byte, then kills it (after the
/// last run it first reads the process's RSS with the guest running for a second): the
    /// guest runs forever, and a shutdown request would only add to the run's wall time.
    /// </summary>
    public static async Task<BootResult> BootToFirstByteAsync(string binary, IReadOnlyList<string> args, int runs)
    {
        var samples = new List<double>(runs);
        var rss = 0L;
        for (var i = 0; i < runs; i++)
        {
            var info = new ProcessStartInfo(binary, args)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true, // keeps the VMM's tty mode and qemu's stdio off our terminal
            };
            var errors = new StringBuilder();
            var start = Stopwatch.StartNew();
            Process process;
            try
            {
                process = Process.Start(info)!;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                // ENOENT (2): the message names the working directory, which says nothing here.
                return new BootResult(samples, $"{binary} cannot be started: {(e.NativeErrorCode == 2 ? "not found on PATH" : e.Message)}");
            }

            using (process)
            {
                process.ErrorDataReceived += (_, e) =>
                {
                    lock (errors)
                    {
                        errors.AppendLine(e.Data);
                    }
                };
                process.BeginErrorReadLine();
                try
                {
                    var one = new byte[1];
                    var read = process.StandardOutput.BaseStream.ReadAsync(one).AsTask();
                    if (await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(30))) != read)
                    {
                        return new BootResult(samples, $"no serial byte within 30 s; stderr: {Last(errors)}");
                    }

                    if (await read == 0)
                    {
                        await process.WaitForExitAsync();
                        return new BootResult(samples, $"exited with {process.ExitCode} before any serial byte; stderr: {Last(errors)}");
                    }

                    samples.Add(start.Elapsed.TotalMilliseconds);
                    if (one[0] != (byte)'b')
                    {
                        // The banner guest's line starts with "banner:"; anything else is not the guest.
                        return new BootResult(samples, $"first byte on the serial port was 0x{one[0]:x2}, not the banner's 'b'");
                    }

                    if (i == runs - 1)
                    {
                        // Once, with the guest settled into its tick loop: the process's RSS beside the guest size.
                        await Task.Delay(TimeSpan.FromSeconds(1));
                        rss = Rss.KiB(process.Id);
                    }
                }
                finally
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                    }

                    await process.WaitForExitAsync();
                }
            }
        }

        return new BootResult(samples, null, rss);
    }

    private static string Last(StringBuilder errors)
    {
        lock (errors)
        {
            var lines = errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return lines.Length == 0 ? "(empty)" : string.Join(" | ", lines.TakeLast(3));
        }
    }

    /// <summary>Waits until the guest has written <paramref name="marker"/> to its serial file.</summary>
    public static async Task WaitForSerialAsync(string file, string marker, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (File.Exists(file))
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                if ((await reader.ReadToEndAsync()).Contains(marker, StringComparison.Ordinal))
                {
                    return;
                }
            }

            await Task.Delay(20);
        }

        throw new InvalidOperationException($"the guest did not print \"{marker}\" to {file} within {timeout.TotalSeconds} s");
    }

    /// <summary>
    /// Alternates vm.pause and vm.resume on one keep-alive connection while the guest runs, timing
    /// each REST round trip separately (each waits for the vCPUs to stop or start again).
    /// </summary>
    public static async Task<(Stats Pause, Stats Resume)> PauseResumeAsync(string socket, int each)
    {
        using var client = await HttpClient1.ConnectAsync(socket);
        var pause = new List<double>(each);
        var resume = new List<double>(each);
        var total = Stopwatch.StartNew();
        for (var i = 0; i < each; i++)
        {
            pause.Add(await TimeAsync(client, "/api/v1/vm.pause"));
            resume.Add(await TimeAsync(client, "/api/v1/vm.resume"));
        }

        var seconds = total.Elapsed.TotalSeconds;
        // Each list holds half the requests: its rate is per operation, pauses and resumes together.
        return (Percentiles.From(pause, seconds / 2), Percentiles.From(resume, seconds / 2));
    }

    private static async Task<double> TimeAsync(HttpClient1 client, string path)
    {
        var start = Stopwatch.GetTimestamp();
        var status = await client.RequestAsync("PUT", path);
        var us = Percentiles.Microseconds(Stopwatch.GetTimestamp() - start);
        return status is 200 or 204 ? us : throw new InvalidOperationException($"{path} answered {status}");
    }
}
