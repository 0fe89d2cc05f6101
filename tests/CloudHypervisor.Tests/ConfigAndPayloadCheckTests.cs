using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CloudHypervisor.Tests;

/// <summary>
/// Issue 14 items 4, 9 and 11 against the real executable with curl: configs that cannot work are
/// refused at vm.create in our words, payloads are read only when they are regular files no larger
/// than guest RAM, and none of it costs the VMM its memory or its ability to shut down.
/// </summary>
public sealed partial class ConfigAndPayloadCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-checks-").FullName;

    private string Socket => Path.Combine(_dir, "api.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Executable> StartAsync()
    {
        var vmm = Executable.Start(["--api-socket", $"path={Socket}"]);
        await Curl.WaitForApiAsync(Socket, vmm, TimeSpan.FromSeconds(30));
        return vmm;
    }

    private static string Config(string kernel, string extra = "") =>
        $$$"""{"memory":{"size":33554432},"payload":{"kernel":"{{{kernel}}}"},"serial":{"mode":"Off"},"console":{"mode":"Off"}{{{extra}}}}""";

    private static long RssKiB(int pid) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
            System.Globalization.CultureInfo.InvariantCulture);

    private async Task ShutdownAsync(Executable vmm)
    {
        Assert.Equal(200, (await Curl.SendAsync(Socket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_4_MB_vm_create_of_1_39_million_empty_disks_is_refused_without_the_memory_blow_up()
    {
        // Before: 204, RSS 2 GB kept after vm.delete, and a 328 MB vm.info (repro big_config.sh).
        using var vmm = await StartAsync();
        var body = Path.Combine(_dir, "big.json");
        await File.WriteAllTextAsync(body, Config("/k", ",\"disks\":[" + string.Join(",", Enumerable.Repeat("{}", 1_390_000)) + "]"));

        var create = await TestSupport.Curl.RunAsync(Socket,
            "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary", $"@{body}", "http://localhost/api/v1/vm.create");

        Assert.Equal(400, create.Status);
        Assert.Equal("""["Failed to deserialize JSON","invalid length 1390000, expected at most 8192 elements at $.disks"]""", create.Body);
        Assert.Equal(404, (await Curl.SendAsync(Socket, "GET", "vm.info")).Status);
        var rss = RssKiB(vmm.Pid);
        Assert.True(rss < 400_000, $"RSS {rss} KiB after a refused 4 MB body");
        await ShutdownAsync(vmm);
    }

    [Fact]
    public async Task More_devices_than_pci_slots_are_refused_at_vm_create_in_upstreams_words()
    {
        using var vmm = await StartAsync();

        var create = await Curl.SendAsync(Socket, "PUT", "vm.create", Config("/k", ",\"disks\":[" + string.Join(",", Enumerable.Repeat("{}", 31)) + "]"));

        Assert.Equal(400, create.Status);
        Assert.Equal(
            """["Error from API","The VM could not be created","Failed to validate config","Could not find an available device slot on the PCI bus","PCI segment 0 holds at most 31 devices (32 slots, one for the host bridge); the config places 32 there"]""",
            create.Body);
        await ShutdownAsync(vmm);
    }

    [Theory]
    [InlineData("""{"boot_vcpus":4294967295,"max_vcpus":4294967295}""", "Max CPUs (4294967295) greater than the 254 vCPUs a VM can have")]
    [InlineData("""{"boot_vcpus":255,"max_vcpus":255}""", "Max CPUs (255) greater than the 254 vCPUs a VM can have")]
    [InlineData("""{"boot_vcpus":2,"max_vcpus":1}""", "Max CPUs lower than boot CPUs")]
    public async Task Vcpu_counts_that_cannot_boot_are_refused_at_vm_create(string cpus, string message)
    {
        // Before: 204 at create, then 500 "Arithmetic operation resulted in an overflow" at boot.
        using var vmm = await StartAsync();

        var create = await Curl.SendAsync(Socket, "PUT", "vm.create", Config("/k", $",\"cpus\":{cpus}"));

        Assert.Equal(400, create.Status);
        Assert.Equal($"""["Error from API","The VM could not be created","Failed to validate config","{message}"]""", create.Body);
        await ShutdownAsync(vmm);
    }

    [Fact]
    public async Task Memory_below_2_MiB_is_refused_at_create_and_exactly_2_MiB_boots()
    {
        // Before: 2 MiB was refused at boot as "too small (at least 2 MiB)".
        using var vmm = await StartAsync();
        var small = await Curl.SendAsync(Socket, "PUT", "vm.create", Config("/k").Replace("33554432", "2093056", StringComparison.Ordinal));
        Assert.Equal(400, small.Status);
        Assert.Contains("Memory size 2093056 is smaller than the minimum of 2097152 bytes (2 MiB)", small.Body, StringComparison.Ordinal);

        var serial = Path.Combine(_dir, "serial.log");
        var config = Config(Guests.Path("ticks")).Replace("33554432", "2097152", StringComparison.Ordinal)
            .Replace("\"serial\":{\"mode\":\"Off\"}", $"\"serial\":{{\"mode\":\"File\",\"file\":\"{serial}\"}}", StringComparison.Ordinal);
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", config)).Status);
        var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");
        Assert.True(boot.Status == 204, boot.Body);
        var clock = Stopwatch.StartNew();
        while (!File.ReadAllText(serial).Contains("ticks: 1", StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50);
        }

        Assert.Contains("ticks: 1", File.ReadAllText(serial), StringComparison.Ordinal);
        await ShutdownAsync(vmm);
    }

    [Fact]
    public async Task A_directory_or_a_too_short_elf_as_kernel_is_answered_in_our_words_with_the_path()
    {
        // Before: "Access to the path is denied" and "Specified argument was out of the range of valid values".
        using var vmm = await StartAsync();
        var elf = Path.Combine(_dir, "short.elf");
        var header = new byte[52];
        "\u007fELF"u8.CopyTo(header);
        header[4] = 2; // ELFCLASS64, whose header is 64 bytes
        header[5] = 1;
        await File.WriteAllBytesAsync(elf, header);

        foreach (var (kernel, cause) in new[]
        {
            (_dir, $"kernel {_dir} is not a regular file (a directory)"),
            (elf, $"kernel {elf}: ELF64 file of 52 bytes is shorter than its 64-byte header"),
        })
        {
            Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", Config(kernel))).Status);
            var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");
            Assert.Equal(500, boot.Status);
            Assert.Equal($"""["Error from API","The VM could not boot","Error building the VM","{cause}"]""", boot.Body);
            Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.delete")).Status);
        }

        await ShutdownAsync(vmm);
    }

    [Fact]
    public async Task A_fifo_or_dev_zero_as_kernel_is_refused_at_once_and_the_vmm_still_shuts_down()
    {
        // Before: a FIFO wedged the VMM (vm.boot never answered, vm.delete 429 for ever, SIGTERM
        // ignored) and /dev/zero took its RSS past 2.5 GB.
        using var vmm = await StartAsync();
        var fifo = Path.Combine(_dir, "kernel.fifo");
        Assert.Equal(0, mkfifo(fifo, 0x180));

        foreach (var (kernel, kind) in new[] { (fifo, "a FIFO"), ("/dev/zero", "a character device"), ("/dev/urandom", "a character device") })
        {
            Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", Config(kernel))).Status);
            var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");
            Assert.Equal(500, boot.Status);
            Assert.Contains($"kernel {kernel} is not a regular file ({kind})", boot.Body, StringComparison.Ordinal);
            Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.delete")).Status);
        }

        var rss = RssKiB(vmm.Pid);
        Assert.True(rss < 400_000, $"RSS {rss} KiB");
        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", Config(fifo))).Status);
        vmm.Signal(Executable.SIGTERM);
        Assert.Equal(0, await vmm.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_kernel_larger_than_guest_ram_is_refused_before_it_is_read()
    {
        using var vmm = await StartAsync();
        var big = Path.Combine(_dir, "big.img");
        await using (var file = File.Create(big))
        {
            file.SetLength(64L << 20); // sparse: twice the 32 MiB of RAM
        }

        Assert.Equal(204, (await Curl.SendAsync(Socket, "PUT", "vm.create", Config(big))).Status);
        var boot = await Curl.SendAsync(Socket, "PUT", "vm.boot");

        Assert.Equal(500, boot.Status);
        Assert.Contains($"kernel {big} is 67108864 bytes, larger than the guest RAM (33554432 bytes)", boot.Body, StringComparison.Ordinal);
        await ShutdownAsync(vmm);
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkfifo(string path, uint mode);
}
