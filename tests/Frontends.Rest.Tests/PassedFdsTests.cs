using System.Text.Json;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.InternalApi;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// Descriptors passed as SCM_RIGHTS (contract §1.6) by an independent client (python3's
// socket.send_fds, as ch-remote sends them), through the real transport, catalog and Vmm control
// loop. The server runs in this process, so /proc/self/fd shows exactly which descriptors the VMM
// holds: each test passes descriptors of its own temp files and counts the links to them.
public sealed class PassedFdsTests : IAsyncLifetime
{
    private const string CreateBody = """{"payload":{"kernel":"/k"}}""";

    private ServedLoop _served = null!;

    private string Socket => _served.Socket;

    public async Task InitializeAsync() => _served = await ServedLoop.StartAsync();

    public async Task DisposeAsync() => await _served.DisposeAsync();

    private Task<CurlResponse> PutAsync(string action, string body) =>
        Curl.RunAsync(Socket, "-X", "PUT", "http://localhost/api/v1/" + action, "-d", body);

    private Task<FdResponse> SendAsync(FdRequest request) => FdClient.SendAsync(Socket, request);

    private async Task<JsonElement> ConfigAsync()
    {
        var info = await Curl.RunAsync(Socket, "http://localhost/api/v1/vm.info");
        Assert.Equal(200, info.Status);
        return JsonDocument.Parse(info.Body).RootElement.GetProperty("config");
    }

    private static JsonElement Entry(JsonElement config, string list, string id) =>
        config.GetProperty(list).EnumerateArray().Single(e => e.GetProperty("id").GetString() == id);

    /// <summary>
    /// A new file only this test opens, by its canonical path as /proc/self/fd links show it
    /// (learned by opening it once here, which also proves the counting sees a descriptor).
    /// </summary>
    private string NewTarget(string name)
    {
        var path = Path.Combine(_served.Directory, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(path, name);
        string canonical;
        using (var probe = File.OpenHandle(path))
        {
            canonical = new FileInfo($"/proc/self/fd/{probe.DangerousGetHandle()}").LinkTarget!;
            Assert.Equal(1, OpenCount(canonical));
        }

        Assert.Equal(0, OpenCount(canonical));
        return canonical;
    }

    /// <summary>How many descriptors of this process refer to <paramref name="path"/>.</summary>
    private static int OpenCount(string path)
    {
        var count = 0;
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(link).LinkTarget == path)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Closed while we looked (another thread's descriptor): not ours.
            }
        }

        return count;
    }

    /// <summary>
    /// The loop closes what its config no longer refers to right after it answers, so the count
    /// reaches its value shortly after the response; the timeout only keeps a failure from hanging.
    /// </summary>
    private static async Task AssertOpenCountBecomes(int expected, string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int count;
        while ((count = OpenCount(path)) != expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(count == expected, $"{count} descriptor(s) of {path} are open in the VMM process; expected {expected}");
    }

    [Fact]
    public async Task Add_net_keeps_the_passed_fd_while_the_config_refers_to_it_and_remove_device_closes_it()
    {
        var tap = NewTarget("tap");
        Assert.Equal(204, (await PutAsync("vm.create", CreateBody)).Status);

        var added = await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net0"}""", tap));

        Assert.Equal(204, added.Status);
        var net = Entry(await ConfigAsync(), "net", "net0");
        Assert.Equal("[-1]", net.GetProperty("fds").GetRawText());
        Assert.Equal(1, OpenCount(tap));

        var removed = await SendAsync(FdRequest.Put("vm.remove-device", """{"id":"net0"}"""));

        Assert.Equal(204, removed.Status);
        await AssertOpenCountBecomes(0, tap);
        Assert.False((await ConfigAsync()).TryGetProperty("net", out var nets) && nets.GetArrayLength() > 0);
    }

    [Fact]
    public async Task Remove_device_closes_only_that_devices_fds_and_vm_delete_closes_the_rest()
    {
        var tap0 = NewTarget("tap0");
        var tap1 = NewTarget("tap1");
        Assert.Equal(204, (await PutAsync("vm.create", CreateBody)).Status);
        Assert.Equal(204, (await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net0"}""", tap0))).Status);
        Assert.Equal(204, (await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net1"}""", tap1))).Status);
        Assert.Equal(1, OpenCount(tap0));
        Assert.Equal(1, OpenCount(tap1));

        Assert.Equal(204, (await PutAsync("vm.remove-device", """{"id":"net0"}""")).Status);
        await AssertOpenCountBecomes(0, tap0);
        Assert.Equal(1, OpenCount(tap1));
        Assert.Equal("[-1]", Entry(await ConfigAsync(), "net", "net1").GetProperty("fds").GetRawText());

        Assert.Equal(204, (await SendAsync(FdRequest.Put("vm.delete", null))).Status);
        await AssertOpenCountBecomes(0, tap1);
    }

    [Fact]
    public async Task A_refused_add_net_closes_its_fds_at_once()
    {
        var tap = NewTarget("tap");
        Assert.Equal(204, (await PutAsync("vm.create", """{"payload":{"kernel":"/k"},"net":[{"id":"net0"}]}""")).Status);

        var duplicate = await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net0"}""", tap));

        Assert.Equal(409, duplicate.Status);
        Assert.Equal(["Error from API", "The network device could not be added to the VM"], duplicate.Chain()[..2]);
        await AssertOpenCountBecomes(0, tap);

        // Refused by validation too: 1 descriptor needs num_queues 2.
        var mismatch = await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net1","num_queues":4}""", tap));

        Assert.Equal(400, mismatch.Status);
        Assert.Contains("Number of queues to virtio_net does not match the number of input FDs", mismatch.Body, StringComparison.Ordinal);
        await AssertOpenCountBecomes(0, tap);
        Assert.False(Entry(await ConfigAsync(), "net", "net0").TryGetProperty("fds", out _));
    }

    [Fact]
    public async Task Fd_numbers_in_the_JSON_are_never_trusted()
    {
        var tap = NewTarget("tap");
        Assert.Equal(204, (await PutAsync("vm.create", """
            {"payload":{"kernel":"/k"},"net":[{"id":"net0","fds":[5]}],
             "devices":[{"id":"vfio0","path":"/sys/bus/pci/devices/0000:00:04.0","fd":6}]}
            """)).Status);

        // A JSON number with no descriptor passed is cleared; the create's numbers are cleared.
        Assert.Equal(204, (await PutAsync("vm.add-net", """{"id":"net1","fds":[5]}""")).Status);

        var config = await ConfigAsync();
        Assert.False(Entry(config, "net", "net0").TryGetProperty("fds", out _));
        Assert.False(Entry(config, "net", "net1").TryGetProperty("fds", out _));
        Assert.False(Entry(config, "devices", "vfio0").TryGetProperty("fd", out _));

        // vm.create takes no descriptors: one passed with it is closed and not attached.
        Assert.Equal(204, (await SendAsync(FdRequest.Put("vm.delete", null))).Status);
        var create = await SendAsync(FdRequest.Put("vm.create", """{"payload":{"kernel":"/k"},"net":[{"id":"net0","fds":[5]}]}""", tap));

        Assert.Equal(204, create.Status);
        await AssertOpenCountBecomes(0, tap);
        Assert.False(Entry(await ConfigAsync(), "net", "net0").TryGetProperty("fds", out _));
    }

    [Fact]
    public async Task Add_device_takes_at_most_one_fd()
    {
        var cdev = NewTarget("cdev");
        var extra = NewTarget("extra");
        Assert.Equal(204, (await PutAsync("vm.create", CreateBody)).Status);

        var two = await SendAsync(FdRequest.Put("vm.add-device", """{"id":"vfio0"}""", cdev, extra));

        Assert.Equal(400, two.Status);
        Assert.Equal(["Bad Request", "vm.add-device takes at most 1 file descriptor (the VFIO cdev); the request came with 2"], two.Chain());
        await AssertOpenCountBecomes(0, cdev);
        await AssertOpenCountBecomes(0, extra);
        Assert.False((await ConfigAsync()).TryGetProperty("devices", out _));

        var one = await SendAsync(FdRequest.Put("vm.add-device", """{"id":"vfio0"}""", cdev));

        Assert.Equal(204, one.Status);
        Assert.Equal(-1, Entry(await ConfigAsync(), "devices", "vfio0").GetProperty("fd").GetInt32());
        Assert.Equal(1, OpenCount(cdev));
        Assert.Equal(204, (await PutAsync("vm.remove-device", """{"id":"vfio0"}""")).Status);
        await AssertOpenCountBecomes(0, cdev);
    }

    [Fact]
    public async Task Restore_needs_the_exact_fd_count_and_closes_them_after_its_answer()
    {
        var file = NewTarget("snapshot-fds");
        const string body = """
            {"source_url":"file:///var/snap","net_fds":[{"id":"net0","num_fds":2}],"vfio_fds":[{"id":"vfio0"}]}
            """;

        var wrong = await SendAsync(FdRequest.Put("vm.restore", body, file, file, file));

        Assert.Equal(400, wrong.Status);
        Assert.Equal(["Bad Request",
            "vm.restore needs 4 file descriptor(s) passed with the request (net_fds 2, vfio_fds 1, iommufd 1); it came with 3"], wrong.Chain());
        await AssertOpenCountBecomes(0, file);

        var right = await SendAsync(FdRequest.Put("vm.restore", body, file, file, file, file));

        Assert.Equal(400, right.Status);
        Assert.Equal(["Error from API", "The VM could not be restored", "Destination is not a directory: \"/var/snap\""], right.Chain());
        await AssertOpenCountBecomes(0, file);
    }

    [Fact]
    public async Task Receive_migration_needs_vfio_then_iommufd_fds()
    {
        var file = NewTarget("migration-fds");
        // A URL refused at once: a valid one would wait there for a sender.
        const string body = """{"receiver_url":"tcp:localhost","vfio_fds":[{"id":"vfio0"},{"id":"vfio1"}]}""";

        var wrong = await SendAsync(FdRequest.Put("vm.receive-migration", body, file));

        Assert.Equal(400, wrong.Status);
        Assert.Equal(["Bad Request",
            "vm.receive-migration needs 3 file descriptor(s) passed with the request (net_fds 0, vfio_fds 2, iommufd 1); it came with 1"], wrong.Chain());
        await AssertOpenCountBecomes(0, file);

        var right = await SendAsync(FdRequest.Put("vm.receive-migration", body, file, file, file));

        Assert.Equal(400, right.Status);
        Assert.Equal(["Error from API", "Error receiving migration", "Invalid migration URL tcp:localhost", "expected tcp:HOST:PORT"], right.Chain());
        await AssertOpenCountBecomes(0, file);
    }

    [Fact]
    public async Task Fds_sent_with_a_non_action_route_are_closed_and_reach_no_later_request()
    {
        var stray = NewTarget("stray");
        Assert.Equal(204, (await PutAsync("vm.create", CreateBody)).Status);

        var ping = await SendAsync(FdRequest.Get("vmm.ping", stray, stray));
        Assert.Equal(200, ping.Status);
        await AssertOpenCountBecomes(0, stray);

        var notFound = await SendAsync(FdRequest.Put("vm.no-such-action", """{"id":"x"}""", stray));
        Assert.Equal(404, notFound.Status);
        Assert.Equal(["Not Found"], notFound.Chain());
        await AssertOpenCountBecomes(0, stray);

        // A new connection: an add-net without descriptors gets none of the earlier ones.
        Assert.Equal(204, (await SendAsync(FdRequest.Put("vm.add-net", """{"id":"net0"}"""))).Status);
        Assert.False(Entry(await ConfigAsync(), "net", "net0").TryGetProperty("fds", out _));

        // The same connection: the ping's descriptors are gone before the next request is read.
        var answers = await FdClient.SendAsync(Socket, [
            FdRequest.Get("vmm.ping", stray),
            FdRequest.Put("vm.add-net", """{"id":"net1"}"""),
        ]);
        Assert.Equal([200, 204], answers.Select(a => a.Status));
        Assert.False(Entry(await ConfigAsync(), "net", "net1").TryGetProperty("fds", out _));
        await AssertOpenCountBecomes(0, stray);
    }

    [Fact]
    public async Task Two_hundred_fds_in_one_request_all_arrive_and_remove_device_closes_them_all()
    {
        const int count = 200;
        var tap = NewTarget("many-taps");
        Assert.Equal(204, (await PutAsync("vm.create", $$$"""{"cpus":{"boot_vcpus":{{{count}}},"max_vcpus":{{{count}}}},"payload":{"kernel":"/k"}}""")).Status);

        var added = await SendAsync(FdRequest.Put("vm.add-net", $$"""{"id":"net0","num_queues":{{2 * count}}}""", [.. Enumerable.Repeat(tap, count)]));

        Assert.Equal(204, added.Status);
        var fds = Entry(await ConfigAsync(), "net", "net0").GetProperty("fds").EnumerateArray().Select(f => f.GetInt32()).ToList();
        Assert.Equal(Enumerable.Repeat(-1, count), fds);
        Assert.Equal(count, OpenCount(tap));

        Assert.Equal(204, (await PutAsync("vm.remove-device", """{"id":"net0"}""")).Status);
        await AssertOpenCountBecomes(0, tap);
    }
}
