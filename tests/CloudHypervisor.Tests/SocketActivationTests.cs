using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace CloudHypervisor.Tests;

/// <summary>
/// Running as a systemd service: the unit files in scripts/systemd, and socket activation as
/// systemd does it (a listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID = the service's pid).
/// </summary>
public sealed class SocketActivationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-sa-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    [Fact]
    public async Task A_listening_socket_passed_as_fd_3_is_served_and_READY_is_sent()
    {
        var socket = Path.Combine(_dir, "api.sock");
        var notify = Path.Combine(_dir, "notify");
        using var ready = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        ready.Bind(new UnixDomainSocketEndPoint(notify));
        ready.ReceiveTimeout = 30_000;
        // What systemd does for a .socket unit: bind and listen, then exec the service with the
        // socket as fd 3 and LISTEN_FDS/LISTEN_PID set (python3 stands in for systemd here).
        var script = $"""
            import os, socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind({Quote(socket)})
            s.listen(16)
            if s.fileno() != 3:
                os.dup2(s.fileno(), 3)
            os.set_inheritable(3, True)
            os.environ['LISTEN_FDS'] = '1'
            os.environ['LISTEN_PID'] = str(os.getpid())
            os.environ['NOTIFY_SOCKET'] = {Quote(notify)}
            os.execv({Quote(Executable.Locate())}, ['cloud-hypervisor', '--api-socket', 'fd=3'])
            """;
        var info = new ProcessStartInfo("python3") { RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        info.Environment.Remove("JOURNAL_STREAM");
        using var vmm = Process.Start(info)!;
        try
        {
            var buffer = new byte[256];
            var n = ready.Receive(buffer);
            Assert.Contains("READY=1", Encoding.ASCII.GetString(buffer, 0, n), StringComparison.Ordinal);
            var ping = await Curl.SendAsync(socket, "GET", "vmm.ping");
            Assert.Equal(200, ping.Status);
            Assert.Contains("\"version\":\"54.0.0\"", ping.Body, StringComparison.Ordinal);
            var shutdown = await Curl.SendAsync(socket, "PUT", "vmm.shutdown");
            Assert.Equal(200, shutdown.Status);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await vmm.WaitForExitAsync(cts.Token);
            Assert.Equal(0, vmm.ExitCode);
        }
        finally
        {
            if (!vmm.HasExited)
            {
                vmm.Kill();
            }
        }
    }

    [Theory]
    [InlineData("socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)")]
    [InlineData("open('/dev/null')")]
    public async Task A_descriptor_that_is_not_a_listening_socket_is_a_fatal_error_at_startup(string opened)
    {
        // Serving nothing while looking alive would be worse: the service must fail to start.
        var script = $"""
            import os, socket
            f = {opened}
            os.dup2(f.fileno(), 3)
            os.set_inheritable(3, True)
            os.execv({Quote(Executable.Locate())}, ['cloud-hypervisor', '--api-socket', 'fd=3'])
            """;
        var info = new ProcessStartInfo("python3") { RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        info.Environment.Remove("JOURNAL_STREAM");
        info.Environment.Remove("NOTIFY_SOCKET");
        using var vmm = Process.Start(info)!;
        var stderr = vmm.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await vmm.WaitForExitAsync(cts.Token);

        Assert.Equal(1, vmm.ExitCode);
        Assert.Contains("API socket fd 3 is not a listening Unix stream socket", await stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_unit_files_pass_systemd_analyze_verify()
    {
        // The units name /usr/local/bin/cloud-hypervisor (where scripts/systemd/install.sh puts
        // it); verify a copy that names the binary under test instead.
        foreach (var unit in new[] { "cloud-hypervisor@.service", "cloud-hypervisor@.socket" })
        {
            var text = await File.ReadAllTextAsync(Path.Combine(Repo(), "scripts", "systemd", unit));
            text = text.Replace("/usr/local/bin/cloud-hypervisor", Executable.Locate(), StringComparison.Ordinal);
            await File.WriteAllTextAsync(Path.Combine(_dir, unit.Replace("@.", "@vm1.", StringComparison.Ordinal)), text);
        }

        var info = new ProcessStartInfo("systemd-analyze")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir,
        };
        foreach (var arg in new[] { "verify", "--man=no", "./cloud-hypervisor@vm1.service", "./cloud-hypervisor@vm1.socket" })
        {
            info.ArgumentList.Add(arg);
        }

        using var verify = Process.Start(info)!;
        var output = await verify.StandardOutput.ReadToEndAsync() + await verify.StandardError.ReadToEndAsync();
        await verify.WaitForExitAsync();
        Assert.True(verify.ExitCode == 0, $"systemd-analyze verify: {output}");
        Assert.Equal("", output.Trim());
    }

    [Fact]
    public async Task The_service_runs_the_vmm_with_seccomp_and_landlock()
    {
        var unit = await File.ReadAllLinesAsync(Path.Combine(Repo(), "scripts", "systemd", "cloud-hypervisor@.service"));

        var exec = Assert.Single(unit, l => l.StartsWith("ExecStart=", StringComparison.Ordinal)).Split(' ');
        Assert.Contains("--landlock", exec);
        Assert.Equal("true", exec[Array.IndexOf(exec, "--seccomp") + 1]);
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
