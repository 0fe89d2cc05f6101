namespace CloudHypervisor.Tests;

/// <summary>
/// PCI hot-plug on a running VM through the real binary and curl: vm.add-disk answers 200 with
/// PciDeviceInfo, the guest (guests/hotplug.s, doing what the DSDT's PHPR methods do) sees the
/// slot in PCIU after the GED interrupt and reads the new function; vm.remove-device answers 204,
/// the guest ejects the slot through B0EJ, and only then does vm/device-removed appear and the
/// device leave device_tree.
/// </summary>
public sealed class HotplugTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-hotplug-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    private string Serial => Path.Combine(_dir, "serial.log");

    private string EventFile => Path.Combine(_dir, "events.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_hot_added_disk_is_seen_by_the_guest_and_a_removed_one_goes_when_the_guest_ejects_it()
    {
        var image = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--event-monitor", $"path={EventFile}", "--kernel", Guests.Path("hotplug"),
            "--memory", "size=64M", "--console", "off", "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "hotplug: waiting for the GED interrupt", vmm);

        var added = await Curl.SendAsync(Socket, "PUT", "vm.add-disk", $$"""{"path":"{{image}}"}""");

        Assert.Equal(200, added.Status);
        Assert.Equal("""{"id":"_disk0","bdf":"0000:00:02.0"}""", added.Body);
        var seen = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "hotplug: slot 2 added", vmm);
        Assert.Contains("hotplug: slot 2 added: 0x10421AF4 virtio-blk capacity 2048", seen, StringComparison.Ordinal);
        var info = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body);
        Assert.Equal("_disk0", info.GetProperty("config").GetProperty("disks")[0].GetProperty("id").GetString());
        Assert.Equal("0000:00:02.0", info.GetProperty("device_tree").GetProperty("_virtio-pci-_disk0").GetProperty("pci_bdf").GetString());
        Assert.True(KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.counters")).Body).TryGetProperty("_disk0", out _));

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.remove-device", """{"id":"_disk0"}""")).Status);

        var ejected = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "hotplug: slot 2 ejected", vmm);
        Assert.Contains("hotplug: slot 2 ejected, now reads 0xFFFFFFFF", ejected, StringComparison.Ordinal);
        var removed = await WaitForEventAsync("device-removed");
        Assert.Equal("_disk0", removed.GetProperty("properties").GetProperty("id").GetString());
        Assert.Equal("0000:00:02.0", removed.GetProperty("properties").GetProperty("bdf").GetString());
        info = KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body);
        Assert.False(info.GetProperty("device_tree").TryGetProperty("_virtio-pci-_disk0", out _));
        Assert.False(info.GetProperty("config").TryGetProperty("disks", out var disks) && disks.GetArrayLength() > 0);

        // The slot is free again: the next disk gets it, with the next id of the one counter.
        var again = await Curl.SendAsync(Socket, "PUT", "vm.add-disk", $$"""{"path":"{{image}}"}""");
        Assert.Equal("""{"id":"_disk1","bdf":"0000:00:02.0"}""", again.Body);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task The_kits_hotplug_driver_finds_PHPR_in_our_DSDT_reads_the_added_disk_and_ejects_it()
    {
        var image = Path.Combine(_dir, "disk.img");
        var bytes = new byte[1 << 20];
        "KIT-HOTPLUG-SEC0"u8.CopyTo(bytes);
        File.WriteAllBytes(image, bytes);
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--event-monitor", $"path={EventFile}", "--kernel", Guests.Path("pci-hotplug"),
            "--cmdline", "hp.adds=1 hp.removes=1 hp.timeout=60", "--memory", "size=64M", "--console", "off", "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        var start = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "waiting for 1 additions and 1 removals", vmm);
        Assert.Contains($"PHPR at 0x{0xFEB01000:x}", start, StringComparison.Ordinal);

        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vm.add-disk", $$"""{"path":"{{image}}"}""")).Status);
        var read = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "pci-hotplug: ok 00:02.0", vmm);
        Assert.Contains("pci-hotplug: ok 00:02.0 capacity 2048 sectors, sector 0 begins 4b49542d484f54504c55472d53454330", read, StringComparison.Ordinal);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.remove-device", """{"id":"_disk0"}""")).Status);

        var done = await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "pci-hotplug: ok 1 additions and 1 removals", vmm);
        Assert.Contains("pci-hotplug: ejected slot 2", done, StringComparison.Ordinal);
        Assert.Equal("_disk0", (await WaitForEventAsync("device-removed")).GetProperty("properties").GetProperty("id").GetString());
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    [Fact]
    public async Task Removing_a_built_in_device_or_adding_what_cannot_be_built_answers_a_typed_error()
    {
        using var vmm = Executable.Start(
        [
            "--api-socket", $"path={Socket}", "--kernel", Guests.Path("hotplug"), "--memory", "size=64M", "--console", "off",
            "--serial", $"file={Serial}",
        ]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        await KitGuestTests.WaitForLineAsync(() => KitGuestTests.ReadShared(Serial), "hotplug: waiting for the GED interrupt", vmm);

        var rng = await Curl.SendAsync(Socket, "PUT", "vm.remove-device", """{"id":"__rng"}""");
        var missing = await Curl.SendAsync(Socket, "PUT", "vm.add-disk", $$"""{"path":"{{Path.Combine(_dir, "absent.img")}}"}""");

        Assert.Equal(400, rng.Status);
        Assert.Contains("only disks, nets, pmem, fs and vsock devices can be removed", rng.Body, StringComparison.Ordinal);
        Assert.Equal(400, missing.Status);
        Assert.Contains("Cannot create virtio-blk device _disk0", missing.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("disks", KitGuestTests.Json((await Curl.SendAsync(Socket, "GET", "vm.info")).Body).GetProperty("config").ToString(), StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
    }

    private async Task<System.Text.Json.JsonElement> WaitForEventAsync(string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(EventFile))
            {
                foreach (var record in ApiSessionTests.ReadEvents(EventFile))
                {
                    if (record.GetProperty("event").GetString() == name)
                    {
                        return record;
                    }
                }
            }

            await Task.Delay(50);
        }

        Assert.Fail($"no {name} event; events: {(File.Exists(EventFile) ? File.ReadAllText(EventFile) : "none")}");
        return default;
    }
}
