using System.Text.Json;
using CloudHypervisor.ChRemote.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.ChRemote.Tests;

/// <summary>Every subcommand against a running cloud-hypervisor, over REST and (D-Bus build) D-Bus.</summary>
public sealed class SubcommandTests : IAsyncLifetime
{
    private RunningVmm _vmm = null!;

    public static TheoryData<Via> Transports => new(RunningVmm.Transports);

    public async Task InitializeAsync() => _vmm = await RunningVmm.StartAsync();

    public async Task DisposeAsync() => await _vmm.DisposeAsync();

    private string Config => "{\"payload\":{\"kernel\":\"" + _vmm.Dir + "/vmlinux\"},\"memory\":{\"size\":33554432,\"shared\":true}}";

    /// <summary>
    /// One scenario through every subcommand. Each step's exit code is asserted, and the same
    /// scenario is run over each transport; the outputs must be equal (see the parity test).
    /// </summary>
    private async Task<List<(string Step, Run Run)>> ScenarioAsync(Via t)
    {
        var steps = new List<(string, Run)>();
        async Task Step(int expected, string stdin, params string[] args)
        {
            var run = stdin.Length > 0 ? await _vmm.ChRemoteStdinAsync(t, stdin, args) : await _vmm.ChRemoteAsync(t, args);
            Assert.True(run.ExitCode == expected, $"{t} ch-remote {string.Join(' ', args)}: expected exit {expected}\n{run}");
            steps.Add((string.Join(' ', args), run));
        }

        await Step(0, "", "ping");
        await Step(4, "", "info");
        await Step(4, "", "boot");
        await Step(4, "", "counters");
        await Step(4, "", "pause");
        await Step(0, Config, "create", "-");
        await Step(6, Config, "create", "-");
        await Step(0, "", "info");
        await Step(0, "", "add-disk", $"path={_vmm.Dir}/disk0.img,id=disk0");
        await Step(7, "", "add-disk", $"path={_vmm.Dir}/disk1.img,id=disk0");
        await Step(2, "", "add-disk", "path=/x,bogus=1");
        await Step(0, "", "add-net", "id=net0,mac=12:34:56:78:9a:bc");
        await Step(0, "", "add-pmem", $"file={_vmm.Dir}/pmem0,size=1M");
        await Step(0, "", "add-fs", $"tag=fs0,socket={_vmm.Dir}/fs.sock");
        await Step(0, "", "add-vsock", $"cid=3,socket={_vmm.Dir}/vsock.sock");
        await Step(7, "", "add-vsock", $"cid=4,socket={_vmm.Dir}/vsock2.sock");
        await Step(0, "", "add-vdpa", $"path={_vmm.Dir}/vdpa0");
        await Step(0, "", "add-user-device", $"socket={_vmm.Dir}/user.sock");
        await Step(0, "", "add-device", $"path={_vmm.Dir}/vfio0");
        await Step(0, "", "add-generic-vhost-user", $"socket={_vmm.Dir}/gvu.sock,device_type=1,queue_sizes=[256]");
        await Step(0, "", "remove-device", "disk0");
        await Step(5, "", "remove-device", "no-such-device");
        await Step(0, "", "resize", "--memory", "64M");
        await Step(5, "", "resize-zone", "--id", "no-such-zone", "--size", "16M");
        await Step(6, "", "resize-disk", "--disk", "disk0", "--size", "1G");
        await Step(6, "", "resume");
        await Step(6, "", "shutdown");
        await Step(6, "", "power-button");
        await Step(6, "", "nmi");
        await Step(6, "", "reboot");
        await Step(6, "", "snapshot", $"file://{_vmm.Dir}/snap");
        await Step(6, "", "send-migration", $"destination_url=unix:{_vmm.Dir}/mig");
        await Step(0, "", "info");
        await Step(0, "", "delete");
        await Step(0, "", "delete");
        await Step(4, "", "info");
        return steps;
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Every_subcommand_exits_with_the_code_of_its_error_kind(Via transport)
    {
        var steps = await ScenarioAsync(transport);
        var info = steps.First(s => s.Step == "info" && s.Run.ExitCode == 0).Run.Stdout;
        using var json = JsonDocument.Parse(info);
        Assert.Equal("Created", json.RootElement.GetProperty("state").GetString());
        var last = steps.Last(s => s.Step == "info" && s.Run.ExitCode == 0).Run.Stdout;
        using var edited = JsonDocument.Parse(last);
        Assert.Equal(67108864, edited.RootElement.GetProperty("config").GetProperty("memory").GetProperty("size").GetInt64());
        Assert.DoesNotContain("disk0", last, StringComparison.Ordinal);
        Assert.Contains("net0", last, StringComparison.Ordinal);
    }

#if DBUS_API
    [Fact]
    public async Task REST_and_DBus_print_the_same_output_and_exit_codes()
    {
        var rest = await ScenarioAsync(Via.Rest);
        var dbus = await ScenarioAsync(Via.DBus);
        Assert.Equal(rest.Count, dbus.Count);
        for (var i = 0; i < rest.Count; i++)
        {
            Assert.True(rest[i].Run.ExitCode == dbus[i].Run.ExitCode, $"{rest[i].Step}: REST {rest[i].Run} vs D-Bus {dbus[i].Run}");
            Assert.True(rest[i].Run.Stdout == dbus[i].Run.Stdout, $"{rest[i].Step}: REST {rest[i].Run} vs D-Bus {dbus[i].Run}");
            Assert.Equal(ApiChain(rest[i].Run.Stderr), ApiChain(dbus[i].Run.Stderr));
        }
    }

    /// <summary>The server's part of an error chain: from "Error from API" (or the first cause) on, without numbering.</summary>
    private static List<string> ApiChain(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal))
            .Select(l => l.Trim())
            .Select(l => l.Contains(": ", StringComparison.Ordinal) && char.IsDigit(l[0]) ? l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..] : l)
            .ToList();
        var from = lines.FindIndex(l => l == "Error from API");
        return from < 0 ? lines.Where(l => !l.StartsWith("Server responded", StringComparison.Ordinal) && !l.EndsWith("client error", StringComparison.Ordinal)).ToList() : lines[from..];
    }
#endif

    [Fact]
    public async Task An_error_chain_prints_one_cause_a_line_as_upstream()
    {
        var run = await _vmm.ChRemoteAsync(Via.Rest, "info");
        Assert.Equal(4, run.ExitCode);
        Assert.Equal(
            """
            Error: ch-remote exited with the following chain of errors:
              0: http client error
              1: Server responded with NotFound
              2: Error from API
              3: The VM info is not available
              4: VM is not created

            """, run.Stderr);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task Create_reads_a_file_and_info_pipes_into_jq()
    {
        var file = Path.Combine(_vmm.Dir, "vm.json");
        await File.WriteAllTextAsync(file, Config);
        Assert.Equal(0, (await _vmm.ChRemoteAsync(Via.Rest, "create", file)).ExitCode);
        var ch = string.Join(' ', _vmm.ChRemoteInfo(Via.Rest, ["info"]).ArgumentList.Prepend(Executables.ChRemote).Select(a => $"'{a}'"));
        var jq = await Processes.RunAsync(Processes.Info("/bin/sh", ["-c", $"{ch} | jq -r '.state, .config.memory.size'"]));
        Assert.Equal("Created\n33554432\n", jq.Stdout);
    }

    [Fact]
    public async Task Shutdown_vmm_prints_an_empty_line_and_the_VMM_exits()
    {
        var run = await _vmm.ChRemoteAsync(Via.Rest, "shutdown-vmm");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("\n", run.Stdout);
        var again = await _vmm.ChRemoteAsync(Via.Rest, "ping");
        Assert.Equal(10, again.ExitCode);
    }

    [Fact]
    public async Task Transport_flags_follow_upstreams_rules()
    {
        var none = await Processes.RunAsync(Processes.Info(Executables.ChRemote, ["ping"]));
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("Please either provide the api-socket option or dbus-service-name and dbus-object-path options", none.Stderr, StringComparison.Ordinal);
#if DBUS_API
        var both = await Processes.RunAsync(Processes.Info(Executables.ChRemote,
            ["--api-socket", _vmm.Socket, "--dbus-service-name", "a.b", "ping"]));
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("`api-socket` and (dbus-service-name or dbus-object-path) are mutually exclusive", both.Stderr, StringComparison.Ordinal);
#endif
        var unreachable = await Processes.RunAsync(Processes.Info(Executables.ChRemote,
            ["--api-socket", Path.Combine(_vmm.Dir, "nothing.sock"), "ping"]));
        Assert.Equal(10, unreachable.ExitCode);
        Assert.Contains("Failed to connect to the API socket", unreachable.Stderr, StringComparison.Ordinal);
    }
}
