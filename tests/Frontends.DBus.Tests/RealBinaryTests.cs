#if DBUS_API
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>
/// The cloud-hypervisor executable with <c>--api-socket</c> and <c>--dbus-*</c> on a private
/// session bus (found through DBUS_SESSION_BUS_ADDRESS, as a user's would be).
/// </summary>
public sealed class RealBinaryTests : IAsyncLifetime
{
    private const string Name = "org.cloudhypervisor.DBusApi";
    private const string ObjectPath = "/org/cloudhypervisor/DBusApi";
    private PrivateBus _bus = null!;
    private string _dir = null!;

    private string Socket => Path.Combine(_dir, "api.sock");
    private string EventFile => Path.Combine(_dir, "events.json");

    public async Task InitializeAsync()
    {
        _bus = await PrivateBus.StartAsync();
        _dir = Directory.CreateTempSubdirectory("ch-bin-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _bus.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task REST_and_DBus_interleave_on_one_VM_and_events_reach_the_file_and_the_bus_in_order()
    {
        using var ch = StartBinary("--api-socket", Socket, "--event-monitor", "path=" + EventFile, "--dbus-service-name", Name, "--dbus-object-path", ObjectPath);
        await WaitReadyAsync(ch);
        var signals = new List<string>();
        using var client = DBusClient.Connect(Name, ObjectPath, address: _bus.Address);
        using var listener = client.ListenForEvents(e =>
        {
            lock (signals)
            {
                signals.Add(e);
            }
        });

        Assert.Equal(0, (await Busctl("VmCreate", """{"payload":{"kernel":"/nonexistent/vmlinux"}}""")).ExitCode);
        Assert.Contains("\"state\":\"Created\"", (await Curl("GET", "vm.info")).Body);
        Assert.Equal(204, (await Curl("PUT", "vm.add-disk", """{"path":"/tmp/disk.img"}""")).Status);
        var info = await Busctl("VmInfo");
        Assert.Contains("/tmp/disk.img", info.Stdout);
        // A boot that fails (no kernel) still emits vm/booting; its error chain is the same on both.
        var restBoot = await Curl("PUT", "vm.boot");
        var dbusBoot = await Tools.RunAsync("dbus-send", "--bus=" + _bus.Address, "--print-reply", "--dest=" + Name, ObjectPath, DBusInterface.Name + ".VmBoot");
        Assert.Equal(500, restBoot.Status);
        var chain = JsonDocument.Parse(restBoot.Body).RootElement.EnumerateArray().Select(e => e.GetString());
        Assert.Equal("Error org.cloudhypervisor.DBusApi1.Error.Failed: " + string.Join(": ", chain), dbusBoot.Stderr.Trim());
        Assert.Equal(0, (await Busctl("VmDelete")).ExitCode);
        var gone = await Curl("GET", "vm.info");
        Assert.Equal(404, gone.Status);
        Assert.StartsWith("[\"Error from API\",\"The VM info is not available\"", gone.Body);
        Assert.Equal(0, (await Busctl("VmmShutdown")).ExitCode);
        Assert.True(ch.WaitForExit(10_000), "cloud-hypervisor did not exit after VmmShutdown");
        Assert.Equal(0, ch.ExitCode);

        var file = (await File.ReadAllTextAsync(EventFile)).Trim().Split("\n\n");
        Assert.Equal(
            ["vmm/starting", "vm/booting", "vm/booting", "vm/deleted", "vmm/shutdown"],
            file.Select(r => JsonDocument.Parse(r).RootElement).Select(r => r.GetProperty("source").GetString() + "/" + r.GetProperty("event").GetString()));
        Assert.True(await Tools.EventuallyAsync(() => Task.FromResult(Count(signals) >= file.Length - 1), TimeSpan.FromSeconds(20)));
        lock (signals)
        {
            // vmm/starting went out before this listener existed; every later record came as a signal.
            Assert.Equal(file.Skip(1), signals.Take(file.Length - 1));
        }
    }

    [Fact]
    public async Task The_DBus_API_comes_back_after_the_bus_daemon_restarts_while_REST_keeps_answering()
    {
        using var ch = StartBinary("--api-socket", Socket, "--dbus-service-name", Name, "--dbus-object-path", ObjectPath);
        await WaitReadyAsync(ch);

        await _bus.KillDaemonAsync();
        for (var i = 0; i < 5; i++)
        {
            Assert.Contains("build_version", (await Curl("GET", "vmm.ping")).Body);
            await Task.Delay(100);
        }

        await _bus.StartDaemonAsync();

        Assert.True(
            await Tools.EventuallyAsync(async () => (await Busctl("VmmPing")).ExitCode == 0, TimeSpan.FromSeconds(10)),
            "the name did not come back; stderr: " + ch.Stderr);
        Assert.Contains("build_version", (await Curl("GET", "vmm.ping")).Body);
        Assert.False(ch.HasExited);
    }

    [Fact]
    public async Task A_second_instance_with_the_same_name_exits_1_naming_the_owned_name()
    {
        using var first = StartBinary("--api-socket", Socket, "--dbus-service-name", Name, "--dbus-object-path", ObjectPath);
        await WaitReadyAsync(first);

        using var second = StartBinary("--api-socket", Path.Combine(_dir, "second.sock"), "--dbus-service-name", Name, "--dbus-object-path", ObjectPath);

        Assert.True(second.WaitForExit(15_000), "the second instance kept running");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"The D-Bus name '{Name}' is already owned by another connection on the D-Bus session bus", second.Stderr);
        Assert.Equal(0, (await Busctl("VmmPing")).ExitCode);
    }

    private BinaryProcess StartBinary(params string[] args)
    {
        var info = new ProcessStartInfo(Executables.CloudHypervisor)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DBUS_SESSION_BUS_ADDRESS"] = _bus.Address;
        return new BinaryProcess(Process.Start(info)!);
    }

    private async Task WaitReadyAsync(BinaryProcess ch) =>
        Assert.True(
            await Tools.EventuallyAsync(async () => ch.HasExited || (File.Exists(Socket) && (await Busctl("VmmPing")).ExitCode == 0), TimeSpan.FromSeconds(20))
                && !ch.HasExited,
            "cloud-hypervisor did not come up: " + ch.Stderr);

    private Task<ToolResult> Busctl(string method, string? argument = null) =>
        Tools.RunAsync("busctl", ["--address=" + _bus.Address, "call", Name, ObjectPath, DBusInterface.Name, method, .. argument is null ? Array.Empty<string>() : ["s", argument]]);

    /// <summary>curl on the API socket: the HTTP status and the body.</summary>
    private async Task<(int Status, string Body)> Curl(string verb, string action, string? body = null)
    {
        var result = await Tools.RunAsync("curl", ["-s", "--unix-socket", Socket, "-X", verb, "-w", "\n%{http_code}",
            .. body is null ? Array.Empty<string>() : ["-H", "Content-Type: application/json", "-d", body], "http://localhost/api/v1/" + action]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var cut = result.Stdout.LastIndexOf('\n');
        return (int.Parse(result.Stdout[(cut + 1)..]), cut < 0 ? string.Empty : result.Stdout[..cut]);
    }

    private static int Count(List<string> list)
    {
        lock (list)
        {
            return list.Count;
        }
    }

    /// <summary>The running binary with its stderr collected; killed on dispose if still running.</summary>
    private sealed class BinaryProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stderr = new();

        public BinaryProcess(Process process)
        {
            _process = process;
            _process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            };
            _process.OutputDataReceived += (_, _) => { };
            _process.BeginErrorReadLine();
            _process.BeginOutputReadLine();
        }

        public bool HasExited => _process.HasExited;
        public int ExitCode => _process.ExitCode;

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

        public bool WaitForExit(int ms)
        {
            if (!_process.WaitForExit(ms))
            {
                return false;
            }

            _process.WaitForExit();
            return true;
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
    }
}
#endif
