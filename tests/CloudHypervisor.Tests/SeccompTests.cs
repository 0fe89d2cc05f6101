using System.Diagnostics;
using System.Text.RegularExpressions;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>
/// <c>--seccomp</c> on the real executable: the filter is on every thread by default, and a denied
/// call made after start-up, on a thread started after the filter went on (the VMM's execve probe,
/// <c>CLOUD_HYPERVISOR_SECCOMP_PROBE=execve</c>), kills the process with <c>true</c>, is logged by
/// the kernel and allowed with <c>log</c>, fails with EPERM with <c>errno</c>, and goes through
/// with <c>false</c> (execve(NULL) answers EFAULT then).
/// </summary>
public sealed partial class SeccompTests : IDisposable
{
    private const int SIGSYS = 31;
    private const int EFAULT = 14;
    private const int EPERM = 1;
    private const int SYS_execve = 59;
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-seccomp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Executable> StartAsync(bool probe, params string[] extra)
    {
        var socket = Path.Combine(_dir, "api.sock");
        var vmm = Executable.Start(["--api-socket", $"path={socket}", .. extra],
            probe ? new Dictionary<string, string?> { ["CLOUD_HYPERVISOR_SECCOMP_PROBE"] = "execve" } : null);
        if (!probe)
        {
            await Curl.WaitForApiAsync(socket, vmm, TimeSpan.FromSeconds(30));
        }

        return vmm;
    }

    [Fact]
    public async Task By_default_every_thread_runs_under_the_filter_with_no_new_privileges()
    {
        using var vmm = await StartAsync(probe: false);

        var tasks = Directory.GetDirectories($"/proc/{vmm.Pid}/task");
        Assert.True(tasks.Length > 3, $"only {tasks.Length} threads");
        foreach (var task in tasks)
        {
            var status = File.ReadAllText(Path.Combine(task, "status"));
            Assert.Contains("Seccomp:\t2", status, StringComparison.Ordinal);
            Assert.Contains("NoNewPrivs:\t1", status, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_seccomp_true_a_denied_execve_kills_the_process_and_the_kernel_logs_it()
    {
        using var vmm = await StartAsync(probe: true);

        var code = await vmm.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 128 + SIGSYS, $"exit code {code}; stderr: {vmm.Stderr}");
        Assert.DoesNotContain("seccomp probe", vmm.Stderr, StringComparison.Ordinal);
        await AssertAuditRecordAsync(vmm.Pid, "0x80000000");
    }

    [Fact]
    public async Task With_seccomp_log_a_denied_execve_is_logged_by_the_kernel_and_allowed()
    {
        using var vmm = await StartAsync(probe: true, "--seccomp", "log");
        await Curl.WaitForApiAsync(Path.Combine(_dir, "api.sock"), vmm, TimeSpan.FromSeconds(30));

        Assert.Contains($"seccomp probe: execve answered errno {EFAULT}", vmm.Stderr, StringComparison.Ordinal);
        await AssertAuditRecordAsync(vmm.Pid, "0x7ffc0000");
        Assert.False(vmm.HasExited);
    }

    [Theory]
    [InlineData("errno", EPERM)]
    [InlineData("false", EFAULT)]
    public async Task With_seccomp_errno_a_denied_call_fails_with_EPERM_and_with_false_it_is_made(string mode, int errno)
    {
        using var vmm = await StartAsync(probe: true, "--seccomp", mode);
        await Curl.WaitForApiAsync(Path.Combine(_dir, "api.sock"), vmm, TimeSpan.FromSeconds(30));

        Assert.Contains($"seccomp probe: execve answered errno {errno}", vmm.Stderr, StringComparison.Ordinal);
        Assert.False(vmm.HasExited);
    }

    // The kernel's audit record for a seccomp action (type=1326), read from its log with dmesg.
    private static async Task AssertAuditRecordAsync(int pid, string code)
    {
        var clock = Stopwatch.StartNew();
        var log = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            using var dmesg = Process.Start(new ProcessStartInfo("dmesg") { RedirectStandardOutput = true })!;
            log = await dmesg.StandardOutput.ReadToEndAsync();
            await dmesg.WaitForExitAsync();
            if (AuditLine().Matches(log).Any(m => m.Groups["pid"].Value == $"{pid}" && m.Groups["nr"].Value == $"{SYS_execve}" && m.Groups["code"].Value == code))
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"no seccomp audit record for pid {pid}, syscall {SYS_execve}, code {code}; the log ends with:\n{string.Join('\n', log.Split('\n').TakeLast(10))}");
    }

    [GeneratedRegex(@"type=1326 .* pid=(?<pid>\d+) .* syscall=(?<nr>\d+) .* code=(?<code>0x[0-9a-f]+)")]
    private static partial Regex AuditLine();
}
