using System.Diagnostics;
using System.Text.Json;
using CloudHypervisor.ChRemote.Tests.Support;

namespace CloudHypervisor.ChRemote.Tests;

/// <summary>
/// Descriptors named in option strings (<c>fd=[3]</c>) travel from the shell through ch-remote to
/// the VMM as SCM_RIGHTS (contract §1.6, §7.1): the real binaries, with the descriptors opened
/// by /bin/sh exactly as an operator's shell would, and the VMM's /proc/PID/fd as the witness.
/// </summary>
public sealed class FdPassingTests : IAsyncLifetime
{
    private RunningVmm _vmm = null!;

    public async Task InitializeAsync() => _vmm = await RunningVmm.StartAsync();

    public async Task DisposeAsync() => await _vmm.DisposeAsync();

    private string Config => "{\"payload\":{\"kernel\":\"" + _vmm.Dir + "/vmlinux\"},\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2},\"memory\":{\"size\":33554432}}";

    [Fact]
    public async Task Add_net_passes_the_shells_descriptors_and_remove_device_closes_them()
    {
        Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.Rest, Config, "create", "-")).ExitCode);
        var tap0 = NewFile("tap0");
        var tap1 = NewFile("tap1");

        var one = await WithShellFdsAsync(Via.Rest, [tap0], "add-net", "fd=[3],id=net0");
        Assert.True(one.ExitCode == 0, one.ToString());
        var two = await WithShellFdsAsync(Via.Rest, [tap0, tap1], "add-net", "fd=[3,4],num_queues=4,id=net1");
        Assert.True(two.ExitCode == 0, two.ToString());
        Assert.Equal(2, VmmFdsOn(tap0));
        Assert.Equal(1, VmmFdsOn(tap1));

        var info = await _vmm.ChRemoteAsync(Via.Rest, "info");
        using (var json = JsonDocument.Parse(info.Stdout))
        {
            var nets = json.RootElement.GetProperty("config").GetProperty("net").EnumerateArray()
                .ToDictionary(n => n.GetProperty("id").GetString()!, n => n.GetProperty("fds").GetRawText());
            // Numbers in JSON are never the real ones (contract §1.6).
            Assert.Equal("[-1]", nets["net0"]);
            Assert.Equal("[-1,-1]", nets["net1"]);
        }

        Assert.Equal(0, (await _vmm.ChRemoteAsync(Via.Rest, "remove-device", "net1")).ExitCode);
        await EventuallyAsync(() => VmmFdsOn(tap1) == 0 && VmmFdsOn(tap0) == 1);
        Assert.Equal(0, (await _vmm.ChRemoteAsync(Via.Rest, "delete")).ExitCode);
        await EventuallyAsync(() => VmmFdsOn(tap0) == 0);
    }

    [Fact]
    public async Task A_refused_request_closes_the_descriptors_it_carried()
    {
        Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.Rest, Config, "create", "-")).ExitCode);
        Assert.Equal(0, (await _vmm.ChRemoteAsync(Via.Rest, "add-net", "id=net0")).ExitCode);
        var tap = NewFile("tap");

        var duplicate = await WithShellFdsAsync(Via.Rest, [tap], "add-net", "fd=[3],id=net0");
        Assert.Equal(7, duplicate.ExitCode);
        Assert.Contains("Identifier net0 is not unique", duplicate.Stderr, StringComparison.Ordinal);
        await EventuallyAsync(() => VmmFdsOn(tap) == 0);

        // restore carries net_fds; the count matches, so the VMM itself answers (and closes them).
        var restore = await WithShellFdsAsync(Via.Rest, [tap, tap], "restore", $"source_url=file://{_vmm.Dir}/snap,net_fds=[net9@[3,4]]");
        Assert.Equal(6, restore.ExitCode);
        await EventuallyAsync(() => VmmFdsOn(tap) == 0);
    }

    [Fact]
    public async Task A_descriptor_the_shell_did_not_give_is_a_usage_error()
    {
        Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.Rest, Config, "create", "-")).ExitCode);
        // Descriptor 7 is either closed in ch-remote or one of the .NET runtime's own.
        var run = await _vmm.ChRemoteAsync(Via.Rest, "add-net", "fd=[7],id=net0");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("File descriptor 7", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("7<>/dev/net/tun", run.Stderr, StringComparison.Ordinal);
        var info = await _vmm.ChRemoteAsync(Via.Rest, "info");
        Assert.DoesNotContain("net0", info.Stdout, StringComparison.Ordinal);
    }

#if DBUS_API
    [Fact]
    public async Task Over_DBus_descriptors_are_refused_not_dropped()
    {
        Assert.Equal(0, (await _vmm.ChRemoteStdinAsync(Via.DBus, Config, "create", "-")).ExitCode);
        var tap = NewFile("tap");
        var run = await WithShellFdsAsync(Via.DBus, [tap], "add-net", "fd=[3],id=net0");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("can only be passed over the REST API socket", run.Stderr, StringComparison.Ordinal);
        var info = await _vmm.ChRemoteAsync(Via.DBus, "info");
        Assert.DoesNotContain("net0", info.Stdout, StringComparison.Ordinal);
    }
#endif

    private string NewFile(string name)
    {
        var path = Path.Combine(_vmm.Dir, $"{name}-{Guid.NewGuid():N}");
        File.WriteAllText(path, name);
        return path;
    }

    /// <summary>ch-remote started by /bin/sh with <paramref name="files"/> open as descriptors 3, 4, ...</summary>
    private Task<Run> WithShellFdsAsync(Via transport, IReadOnlyList<string> files, params string[] args)
    {
        var chRemote = _vmm.ChRemoteInfo(transport, args);
        var redirections = string.Join(' ', files.Select((file, i) => $"{i + 3}<'{file}'"));
        var shell = Processes.Info("/bin/sh", ["-c", $"exec \"$@\" {redirections}", "sh", chRemote.FileName, .. chRemote.ArgumentList]);
        foreach (var (key, value) in chRemote.Environment)
        {
            shell.Environment[key] = value;
        }

        return Processes.RunAsync(shell);
    }

    /// <summary>How many of the VMM's descriptors are open on <paramref name="path"/>.</summary>
    private int VmmFdsOn(string path)
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{_vmm.Pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == path)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }

        return count;
    }

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the condition did not hold within 10 s");
            await Task.Delay(20);
        }
    }
}
