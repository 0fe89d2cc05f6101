using System.Diagnostics;
using System.Globalization;

namespace CloudHypervisor.Bench;

/// <summary>
/// The round trips timed by bench/native/rtt.c, a C client: the floor (a bare Unix-socket round
/// trip to a forked echo peer) and keep-alive HTTP/1.1 requests. A JIT .NET client adds 15-20 µs
/// to every round trip here, which would flatter the server's ratio to the floor (NOTES.md).
/// </summary>
internal sealed class NativeClient(string rtt)
{
    public Task<Stats> FloorAsync(int iterations) =>
        RunAsync("floor", iterations.ToString(CultureInfo.InvariantCulture));

    public Task<Stats> HttpAsync(string socket, string method, string path, int perConnection, int connections) =>
        RunAsync("http", socket, method, path, perConnection.ToString(CultureInfo.InvariantCulture), connections.ToString(CultureInfo.InvariantCulture));

    private async Task<Stats> RunAsync(params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(rtt, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"rtt {string.Join(' ', args)} failed ({process.ExitCode}): {errors.Trim()}");
        }

        // "p50_us p99_us requests_per_second count"
        var fields = output.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new Stats(
            double.Parse(fields[0], CultureInfo.InvariantCulture),
            double.Parse(fields[1], CultureInfo.InvariantCulture),
            double.Parse(fields[2], CultureInfo.InvariantCulture));
    }
}
