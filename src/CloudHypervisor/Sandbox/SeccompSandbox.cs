using CloudHypervisor.Interop;
using Serilog;

namespace CloudHypervisor.Sandbox;

/// <summary>
/// <c>--seccomp true|false|log|errno</c>. The filter goes on once the VMM has started (the control
/// loop runs and the frontends listen) and before READY=1 and the CLI's VM, so everything a VM
/// does, from vm.create on, runs under it; threads started later inherit it. A denied call:
/// <c>true</c> kills the process (SECCOMP_RET_KILL_PROCESS: the kernel writes an audit record
/// <c>type=1326 ... syscall=N</c> to its log, and the parent sees the process die of SIGSYS),
/// <c>log</c> lets the call through and the kernel logs the same record, <c>errno</c> fails the
/// call with EPERM and the VMM goes on. No SIGSYS handler logs first: a handler would have to run
/// managed code inside a signal on any thread, which the .NET runtime does not allow.
/// </summary>
internal static class SeccompSandbox
{
    /// <summary>
    /// Test hook: when set to <c>execve</c>, a thread started after the filter tries
    /// <c>execve(NULL, NULL, NULL)</c> (EFAULT and no effect when allowed) and logs the answer, so a
    /// test can prove that denied calls are stopped on threads created after installation.
    /// </summary>
    public const string ProbeVariable = "CLOUD_HYPERVISOR_SECCOMP_PROBE";

    /// <summary>The action for a denied call; null for <c>false</c>.</summary>
    public static uint? DenyAction(string mode) => mode switch
    {
        "true" => Seccomp.SECCOMP_RET_KILL_PROCESS,
        "log" => Seccomp.SECCOMP_RET_LOG,
        "errno" => Seccomp.SECCOMP_RET_ERRNO | EPERM,
        "false" => null,
        _ => throw new FatalErrorException($"Invalid --seccomp value {mode}"),
    };

    private const uint EPERM = 1;

    /// <summary>Installs the filter for <paramref name="mode"/> on every thread; throws <see cref="FatalErrorException"/>.</summary>
    public static void Apply(string mode, ILogger log)
    {
        if (DenyAction(mode) is { } deny)
        {
            var program = Seccomp.Build(SeccompAllowList.Numbers, deny);
            try
            {
                Seccomp.Install(program);
            }
            catch (IOException e)
            {
                throw new FatalErrorException(["Error applying seccomp filter", e.Message]);
            }

            log.Information("seccomp filter installed ({Mode}): {Count} system calls allowed, {Length} BPF instructions",
                mode, SeccompAllowList.Numbers.Count, program.Length);
        }
        else
        {
            log.Information("seccomp disabled (--seccomp false)");
        }

        if (Environment.GetEnvironmentVariable(ProbeVariable) == "execve")
        {
            var probe = new Thread(() => log.Warning("seccomp probe: execve answered errno {Errno}", Seccomp.TryEmptyExecve()))
            {
                Name = "seccomp-probe",
                IsBackground = true,
            };
            probe.Start();
            probe.Join();
        }
    }
}
