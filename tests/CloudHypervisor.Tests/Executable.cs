using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>
/// Runs the built <c>cloud-hypervisor</c> (<see cref="Executables"/> says which one: the native
/// executable under ./test.sh). A missing binary fails the test with one clear message.
/// </summary>
internal sealed partial class Executable : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private Executable(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static string Locate() => Executables.CloudHypervisor;

    public static Executable Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null) =>
        Start(Locate(), args, environment);

    /// <summary>Runs <paramref name="script"/> with bash, which must exec the VMM (so signals and the exit code are its).</summary>
    public static Executable StartThroughShell(string script) => Start("/bin/bash", ["-c", script], null);

    internal static Executable Start(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment)
    {
        var info = Children.StartInfo(program, args, environment);
        var process = new Process { StartInfo = info };
        var executable = new Executable(process);
        process.OutputDataReceived += (_, e) => Append(executable._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(executable._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return executable;
    }

    /// <summary>Runs to completion and returns the exit code.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var executable = Start(args);
        var code = await executable.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (code, executable.Stdout, executable.Stderr);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"cloud-hypervisor did not exit within {timeout}; stderr: {Stderr}");
        }

        // The async readers may still hold the last lines.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill failed: {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder buffer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (buffer)
        {
            buffer.Append(line).Append('\n');
        }
    }

    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
