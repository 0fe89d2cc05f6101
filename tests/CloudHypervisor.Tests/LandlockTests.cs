using System.Diagnostics;

namespace CloudHypervisor.Tests;

/// <summary>
/// Landlock on the real executable and /dev/kvm: a VM created with <c>landlock_enable</c> boots
/// with its own disk and a disk cold-added under a <c>landlock_rules</c> directory; a disk outside
/// every rule is refused at vm.add-disk with a typed error naming the flag that would allow it,
/// and a path nobody checked first (a snapshot destination outside the rules) is refused by the
/// kernel itself, on the worker thread that writes it, while one inside the rules is written.
/// </summary>
public sealed class LandlockTests : IDisposable
{
    private readonly string _api = Directory.CreateTempSubdirectory("ch-ll-api-").FullName;
    private readonly string _config = Directory.CreateTempSubdirectory("ch-ll-config-").FullName;
    private readonly string _allowed = Directory.CreateTempSubdirectory("ch-ll-allowed-").FullName;
    private readonly string _outside = Directory.CreateTempSubdirectory("ch-ll-outside-").FullName;

    public void Dispose()
    {
        foreach (var dir in new[] { _api, _config, _allowed, _outside })
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Disk(string dir, string name)
    {
        var path = Path.Combine(dir, name);
        using (var file = File.Create(path))
        {
            file.SetLength(1 << 20);
        }

        return path;
    }

    [Fact]
    public async Task With_landlock_only_the_configs_paths_and_the_rules_are_reachable()
    {
        var socket = Path.Combine(_api, "api.sock");
        var serial = Path.Combine(_config, "serial.log");
        using var vmm = Executable.Start(["--api-socket", $"path={socket}"]);
        await Curl.WaitForApiAsync(socket, vmm, TimeSpan.FromSeconds(30));
        var config = $$"""
            {"memory":{"size":33554432},"payload":{"kernel":"{{Guests.Path("ticks")}}"},
             "serial":{"mode":"File","file":"{{serial}}"},"console":{"mode":"Off"},
             "disks":[{"path":"{{Disk(_config, "root.raw")}}"}],
             "landlock_enable":true,"landlock_rules":[{"path":"{{_allowed}}","access":"rw"}]}
            """;
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.create", config)).Status);

        var outsideDisk = Disk(_outside, "other.raw");
        var refused = await Curl.SendAsync(socket, "PUT", "vm.add-disk", $$"""{"path":"{{outsideDisk}}"}""");
        Assert.Equal(400, refused.Status);
        Assert.Contains($"Landlock does not allow rw access to {outsideDisk}", refused.Body, StringComparison.Ordinal);
        Assert.Contains($"--landlock-rules path={outsideDisk},access=rw", refused.Body, StringComparison.Ordinal);

        var insideDisk = Disk(_allowed, "data.raw");
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.add-disk", $$"""{"path":"{{insideDisk}}"}""")).Status);
        var boot = await Curl.SendAsync(socket, "PUT", "vm.boot");
        Assert.True(boot.Status == 204, boot.Body);
        await WaitForTicksAsync(serial);
        Assert.Equal(204, (await Curl.SendAsync(socket, "PUT", "vm.pause")).Status);

        var denied = await Curl.SendAsync(socket, "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{_outside}}"}""");
        Assert.Equal(500, denied.Status);
        Assert.Contains("denied", denied.Body, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["other.raw"], Directory.GetFileSystemEntries(_outside).Select(Path.GetFileName));

        var written = await Curl.SendAsync(socket, "PUT", "vm.snapshot", $$"""{"destination_url":"file://{{_allowed}}"}""");
        Assert.True(written.Status == 204, written.Body);
        Assert.Contains("state.json", Directory.GetFileSystemEntries(_allowed).Select(Path.GetFileName));
        Assert.False(vmm.HasExited, vmm.Stderr);
    }

    private static async Task WaitForTicksAsync(string serial)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (File.Exists(serial) && File.ReadAllText(serial).Contains("ticks: 2", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"the guest never ticked twice: {(File.Exists(serial) ? File.ReadAllText(serial) : "no serial file")}");
    }
}
