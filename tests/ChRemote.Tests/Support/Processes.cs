using System.Diagnostics;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.ChRemote.Tests.Support;

/// <summary>Starts our executables (<see cref="Executables"/>) and other real programs.</summary>
public static class Processes
{
    public static ProcessStartInfo Info(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        Children.StartInfo(file, args, environment?.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value)));

    /// <summary>Runs to completion (at most <paramref name="limit"/>) with <paramref name="stdin"/> as input.</summary>
    public static Task<Run> RunAsync(ProcessStartInfo info, string? stdin = null, TimeSpan? limit = null) =>
        Children.RunAsync(info, stdin, limit);
}
