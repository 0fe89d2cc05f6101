using System.Diagnostics;
using System.Net.Sockets;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.ChRemote.Tests.Support;

/// <summary>How ch-remote reaches the VMM in a test.</summary>
public enum Via
{
    Rest,
    DBus,
}

/// <summary>
/// A real <c>cloud-hypervisor</c> serving REST on a temp socket and, in the D-Bus build, D-Bus on a
/// private dbus-daemon, so ch-remote can be run against it over either transport.
/// </summary>
public sealed class RunningVmm : IAsyncDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo _dir;
#if DBUS_API
    private readonly PrivateBus? _bus;
#endif

    private RunningVmm(Process process, DirectoryInfo dir, object? bus, string name)
    {
        _process = process;
        _dir = dir;
#if DBUS_API
        _bus = (PrivateBus?)bus;
#endif
        ServiceName = "org.cloudhypervisor.T" + name;
        ObjectPath = "/org/cloudhypervisor/T" + name;
    }

    public string Socket => Path.Combine(_dir.FullName, "api.sock");
    public string Dir => _dir.FullName;

    /// <summary>The cloud-hypervisor process id (its descriptors are under /proc/PID/fd).</summary>
    public int Pid => _process.Id;
    public string ServiceName { get; }
    public string ObjectPath { get; }

    public static IEnumerable<Via> Transports =>
#if DBUS_API
        [Via.Rest, Via.DBus];
#else
        [Via.Rest];
#endif

    public static async Task<RunningVmm> StartAsync()
    {
        var dir = Directory.CreateTempSubdirectory("ch-remote-");
        var name = Guid.NewGuid().ToString("N")[..12];
        var args = new List<string> { "--api-socket", $"path={Path.Combine(dir.FullName, "api.sock")}" };
        var environment = new Dictionary<string, string>();
        object? bus = null;
#if DBUS_API
        var privateBus = await PrivateBus.StartAsync();
        bus = privateBus;
        environment["DBUS_SESSION_BUS_ADDRESS"] = privateBus.Address;
        args.AddRange(["--dbus-service-name", "org.cloudhypervisor.T" + name, "--dbus-object-path", "/org/cloudhypervisor/T" + name]);
#endif
        var process = Process.Start(Processes.Info(Executables.CloudHypervisor, args, environment))!;
        var vmm = new RunningVmm(process, dir, bus, name);
        await vmm.WaitUntilServingAsync();
        return vmm;
    }

    /// <summary>Runs ch-remote with this VMM's flags for <paramref name="transport"/> first.</summary>
    public Task<Run> ChRemoteAsync(Via transport, params string[] args) => ChRemoteStdinAsync(transport, null, args);

    public Task<Run> ChRemoteStdinAsync(Via transport, string? stdin, params string[] args) =>
        Processes.RunAsync(ChRemoteInfo(transport, args), stdin);

    public ProcessStartInfo ChRemoteInfo(Via transport, IEnumerable<string> args)
    {
        var flags = transport == Via.Rest
            ? new List<string> { "--api-socket", Socket }
            : ["--dbus-service-name", ServiceName, "--dbus-object-path", ObjectPath];
        var environment = new Dictionary<string, string>();
#if DBUS_API
        environment["DBUS_SESSION_BUS_ADDRESS"] = _bus!.Address;
#endif
        return Processes.Info(Executables.ChRemote, [.. flags, .. args], environment);
    }

    private async Task WaitUntilServingAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"cloud-hypervisor exited with {_process.ExitCode}: {await _process.StandardError.ReadToEndAsync()}");
            }

            if (File.Exists(Socket))
            {
                try
                {
                    using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(Socket));
#if DBUS_API
                    // D-Bus is served before REST (upstream's order), so REST up means both are.
#endif
                    return;
                }
                catch (SocketException)
                {
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("cloud-hypervisor did not serve its API socket within 30 s");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
#if DBUS_API
        if (_bus is not null)
        {
            await _bus.DisposeAsync();
        }
#endif
        _dir.Delete(recursive: true);
    }
}
