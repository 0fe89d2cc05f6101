using System.Diagnostics;
using System.Text;

namespace CloudHypervisor.TestSupport;

/// <summary>One HTTP answer as the real <c>curl</c> binary saw it.</summary>
public sealed record CurlResponse(int Status, string StatusLine, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name);
}

/// <summary>
/// Runs the real <c>curl --unix-socket</c>, as users and upstream's docs/api.md do (STYLE.md §15).
/// Missing curl fails the test with one clear message (Debian package: curl).
/// </summary>
public static class Curl
{
    private static readonly Lazy<string> Binary = new(() =>
        new[] { "/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("curl is not installed: these tests need the curl binary (Debian package: curl)"));

    /// <summary>curl -sS -i --unix-socket SOCKET ARGS…; returns the final (non-1xx) response.</summary>
    public static async Task<CurlResponse> RunAsync(string socket, params string[] args)
    {
        var (exit, stdout, stderr) = await RunRawAsync(["-sS", "-i", "--unix-socket", socket, .. args]);
        if (exit != 0)
        {
            throw new InvalidOperationException($"curl {string.Join(' ', args)} exited {exit}: {stderr}");
        }

        return Parse(stdout);
    }

    /// <summary>Runs curl with exactly these arguments and a time limit (30 s unless told).</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunRawAsync(IEnumerable<string> args, int maxTimeSeconds = 30)
    {
        var (exit, stdout, stderr) = await Children.RunAsync(
            Children.StartInfo(Binary.Value, [.. args, "--max-time", maxTimeSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]),
            limit: TimeSpan.FromSeconds(maxTimeSeconds + 30));
        return (exit, stdout, stderr);
    }

    /// <summary>Starts curl and hands back the process for streaming reads (the caller kills it).</summary>
    public static Process Start(IEnumerable<string> args)
    {
        var start = Children.StartInfo(Binary.Value, args);
        start.StandardOutputEncoding = Encoding.UTF8;
        return Process.Start(start)!;
    }

    private static CurlResponse Parse(string output)
    {
        var rest = output;
        while (true)
        {
            var end = rest.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                throw new InvalidOperationException($"curl printed no HTTP head: {output}");
            }

            var lines = rest[..end].Split("\r\n");
            var statusLine = lines[0];
            var status = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            rest = rest[(end + 4)..];
            if (status is >= 100 and < 200)
            {
                continue;
            }

            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }

            return new CurlResponse(status, statusLine, headers, rest);
        }
    }
}
