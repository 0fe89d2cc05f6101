using System.Diagnostics;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.ChRemote.Tests.Support;

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

    public static ProcessStartInfo Info(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        Children.StartInfo(file, args, environment?.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value)));

    /// <summary>Runs to completion (at most <paramref name="limit"/>) with <paramref name="stdin"/> as input.</summary>
    public static Task<Run> RunAsync(ProcessStartInfo info, string? stdin = null, TimeSpan? limit = null) =>
        Children.RunAsync(info, stdin, limit);
}
