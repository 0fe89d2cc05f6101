using System.Diagnostics;

namespace CloudHypervisor.Bench;

/// <summary>The VMM under test: the real executable with an API socket, started and stopped here.</summary>
internal sealed class VmmProcess : IAsyncDisposable
{
    private readonly Process _process;

    private VmmProcess(Process process, string socket, TimeSpan startToFirstPing)
    {
        _process = process;
        Socket = socket;
        StartToFirstPing = startToFirstPing;
    }

    public string Socket { get; }
    public TimeSpan StartToFirstPing { get; }

    public int Pid => _process.Id;

    /// <summary>Resident set size from /proc/PID/status (VmRSS), in KiB.</summary>
    public long RssKiB() => Rss.KiB(_process.Id);

    public static async Task<VmmProcess> StartAsync(
        string binary, string dir, IEnumerable<string> extraArgs,
        string socketName = "api.sock", IReadOnlyDictionary<string, string>? environment = null)
    {
        var socket = Path.Combine(dir, socketName);
        var info = new ProcessStartInfo(binary, ["--api-socket", $"path={socket}", .. extraArgs]);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var start = Stopwatch.StartNew();
        var process = Process.Start(info)!;
        while (true)
        {
            try
            {
                using var client = await HttpClient1.ConnectAsync(socket);
                if (await client.RequestAsync("GET", "/api/v1/vmm.ping") == 200)
                {
                    break;
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{binary} exited with {process.ExitCode}", e);
                }

                await Task.Delay(1);
            }
        }

        return new VmmProcess(process, socket, start.Elapsed);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var client = await HttpClient1.ConnectAsync(Socket);
            await client.RequestAsync("PUT", "/api/v1/vmm.shutdown");
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
        }

        if (!_process.WaitForExit(5000))
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}

internal static class Rss
{
    /// <summary>Resident set size of process <paramref name="pid"/> from /proc/PID/status (VmRSS), in KiB.</summary>
    public static long KiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), provider: null);
            }
        }

        throw new InvalidOperationException($"no VmRSS in /proc/{pid}/status");
    }
}
