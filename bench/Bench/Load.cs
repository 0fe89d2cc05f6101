using System.Diagnostics;

namespace CloudHypervisor.Bench;

internal static class Load
{
    public static async Task<Stats> OneConnectionAsync(string socket, string method, string path, int iterations)
    {
        using var client = await HttpClient1.ConnectAsync(socket);
        for (var i = 0; i < 5000; i++)
        {
            await client.RequestAsync(method, path); // warm-up: JIT tiering (tier 1 comes after a few thousand calls), connection
        }

        var samples = new List<double>(iterations);
        var total = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var status = await client.RequestAsync(method, path);
            samples.Add(Percentiles.Microseconds(Stopwatch.GetTimestamp() - start));
            if (status != 200)
            {
                throw new InvalidOperationException($"{path} answered {status}");
            }
        }

        return Percentiles.From(samples, total.Elapsed.TotalSeconds);
    }

    public static async Task<Stats> ManyConnectionsAsync(string socket, string method, string path, int connections, int seconds)
    {
        var deadline = Stopwatch.GetTimestamp() + (seconds * Stopwatch.Frequency);
        var all = new List<double>[connections];
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            using var client = await HttpClient1.ConnectAsync(socket);
            var samples = all[c] = [];
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var start = Stopwatch.GetTimestamp();
                await client.RequestAsync(method, path);
                samples.Add(Percentiles.Microseconds(Stopwatch.GetTimestamp() - start));
            }
        }));
        return Percentiles.From([.. all.SelectMany(s => s)], total.Elapsed.TotalSeconds);
    }
}
