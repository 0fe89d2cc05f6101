using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class ConsoleAndPlatformOptionsTests
{
    [Theory]
    [InlineData("off", ConsoleMode.Off)]
    [InlineData("null", ConsoleMode.Null)]
    [InlineData("pty", ConsoleMode.Pty)]
    [InlineData("tty", ConsoleMode.Tty)]
    public void Serial_and_console_take_the_bare_mode_words(string input, ConsoleMode mode)
    {
        Assert.Equal(mode, Ok(ConfigOptions.Serial(input)).Mode);
        Assert.Equal(mode, Ok(ConfigOptions.Console(input)).Mode);
    }

    [Fact]
    public void Serial_file_and_socket_carry_their_path()
    {
        var file = Ok(ConfigOptions.Serial("file=/tmp/s"));
        Assert.Equal((ConsoleMode.File, "/tmp/s", (string?)null), (file.Mode, file.File, file.Socket));
        var socket = Ok(ConfigOptions.Serial("socket=/tmp/serial.sock"));
        Assert.Equal((ConsoleMode.Socket, (string?)null, "/tmp/serial.sock"), (socket.Mode, socket.File, socket.Socket));
    }

    [Fact]
    public void Console_off_is_mode_off_and_console_takes_pci_keys()
    {
        Assert.Equal(ConsoleMode.Off, Ok(ConfigOptions.Console("off")).Mode);
        var console = Ok(ConfigOptions.Console("file=/tmp/console,iommu=on,id=con0"));
        Assert.Equal((ConsoleMode.File, "/tmp/console", true, "con0"), (console.Mode, console.File, console.Iommu, console.Id));
        Assert.Equal(ConsoleMode.Socket, Ok(ConfigOptions.Console("socket=/tmp/c.sock")).Mode);
    }

    [Fact]
    public void Console_mode_errors_use_upstreams_messages()
    {
        Fails(ConfigOptions.Console(""), "Failed to parse common console configuration", "Error parsing --console: invalid console mode given");
        Fails(ConfigOptions.Console("badmode"), "Failed to parse console configuration", "Unknown option: badmode");
        Fails(ConfigOptions.Serial("file="), "Failed to parse common console configuration", "Path missing when using file console mode");
        Fails(ConfigOptions.Serial("socket="), "Failed to parse common console configuration", "Path missing when using socket console mode");
        Fails(ConfigOptions.Serial("tty,iommu=on"), "Failed to parse serial configuration", "Unknown option: iommu");
    }

    [Fact]
    public void Debug_console_file_with_hex_iobase()
    {
        var debug = Ok(ConfigOptions.DebugConsole("file=/tmp/d,iobase=0x3f8"));
        Assert.Equal((ConsoleMode.File, "/tmp/d", (ushort?)0x3f8), (debug.Mode, debug.File, debug.Iobase));
        Assert.Equal((ushort?)0xe9, Ok(ConfigOptions.DebugConsole(VmFlags.DefaultDebugConsole)).Iobase);
        Assert.Null(Ok(ConfigOptions.DebugConsole("tty")).Iobase);
    }

    [Fact]
    public void Debug_console_iobase_needs_the_0x_prefix()
    {
        Fails(ConfigOptions.DebugConsole("off,iobase=233"), "Invalid debug console I/O port: 233");
        Fails(ConfigOptions.DebugConsole("off,iobase=0x10000"), "Invalid debug console I/O port: 0x10000");
        Fails(ConfigOptions.DebugConsole("iobase=0xe9"), "Debug console output mode is missing or invalid");
        Fails(ConfigOptions.DebugConsole("file="), "Debug console file path is missing");
        Fails(ConfigOptions.DebugConsole("socket=/x"), "Failed to parse debug console configuration", "Unknown option: socket");
    }

    [Fact]
    public void Numa_reads_lists_and_distances()
    {
        var numa = Ok(ConfigOptions.Numa("guest_numa_id=1,cpus=[2,3],distances=[0@20],memory_zones=[mem0],pci_segments=[0]"));
        Assert.Equal(1U, numa.GuestNumaId);
        Assert.Equal([2U, 3U], numa.Cpus);
        Assert.NotNull(numa.Distances);
        Assert.Equal((0U, (byte)20), (numa.Distances[0].Destination, numa.Distances[0].Distance));
        Assert.Equal(["mem0"], numa.MemoryZones);
        Assert.Equal([(ushort)0], numa.PciSegments);
    }

    [Fact]
    public void Numa_needs_an_id_and_device_id_excludes_cpus()
    {
        Fails(ConfigOptions.Numa("cpus=[0]"), "Failed to parse NUMA configuration", "Invalid value: guest_numa_id is required for all NUMA nodes");
        Fails(ConfigOptions.Numa("guest_numa_id=0,cpus=[0,1],device_id=vfio0"),
            "Failed to parse NUMA configuration", "Invalid value: device_id in numa config cannot be used with cpus or memory zones");
        Assert.Equal("vfio1", Ok(ConfigOptions.Numa("guest_numa_id=2,device_id=vfio1,distances=[0@30],pci_segments=[1]")).DeviceId);
        Fails(ConfigOptions.Numa("guest_numa_id=0,distances=[0@300]"), "Failed to parse NUMA configuration", "Unable to convert [0@300] for distances");
    }

    [Fact]
    public void Pci_segment_weights_default_to_one()
    {
        var segment = Ok(ConfigOptions.PciSegment("pci_segment=1,mmio32_aperture_weight=2"));
        Assert.Equal(((ushort)1, 2U, 1U), (segment.PciSegment, segment.Mmio32ApertureWeight, segment.Mmio64ApertureWeight));
    }

    [Fact]
    public void Platform_reads_dmi_strings_and_iommufd_follows_its_fd()
    {
        var platform = Ok(ConfigOptions.Platform("num_pci_segments=2,iommu_segments=[1],serial_number=s1,system_uuid=u1,oem_strings=[a,b],iommufd_fd=42"));
        Assert.Equal(((ushort)2, "s1", "u1", true, (int?)42, true), (platform.NumPciSegments, platform.SystemSerialNumber, platform.SystemUuid, platform.Iommufd, platform.IommufdFd, platform.VfioP2pDma));
        Assert.Equal([(ushort)1], platform.IommuSegments);
        Assert.Equal(["a", "b"], platform.OemStrings);
        Assert.False(Ok(ConfigOptions.Platform("")).Iommufd);
        Assert.False(Ok(ConfigOptions.Platform("iommufd=off,iommufd_fd=3")).Iommufd);
    }

    [Fact]
    public void Rate_limit_group_builds_token_buckets()
    {
        var group = Ok(ConfigOptions.RateLimitGroup("id=group0,ops_size=1000,ops_refill_time=100"));
        Assert.Equal("group0", group.Id);
        Assert.Null(group.RateLimiterConfig.Bandwidth);
        Assert.Equal((1000UL, (ulong?)0, 100UL), (group.RateLimiterConfig.Ops!.Size, group.RateLimiterConfig.Ops.OneTimeBurst, group.RateLimiterConfig.Ops.RefillTime));
    }

    [Fact]
    public void Landlock_rules_need_a_path_and_short_access()
    {
        var rule = Ok(ConfigOptions.LandlockRule("path=/dir/path1,access=rw"));
        Assert.Equal(("/dir/path1", "rw"), (rule.Path, rule.Access));
        Fails(ConfigOptions.LandlockRule("path=/dir/path1"), "Landlock path or access is missing");
        Fails(ConfigOptions.LandlockRule("path=/dir/path1,access=rwr"), "Failed to parse Landlock configuration", "Invalid value: rwr");
    }
}
