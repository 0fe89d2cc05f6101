using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class VmConfigBuilderTests
{
    [Fact]
    public void Only_a_kernel_gives_upstreams_default_config_json()
    {
        var config = Ok(VmConfigBuilder.Build(new VmFlags { Kernel = "/path/to/vmlinux" }));
        Assert.Equal(
            "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"kvm_hyperv\":false,\"max_phys_bits\":46,\"features\":{\"amx\":false},\"nested\":true,\"core_scheduling\":\"Vm\",\"profile\":\"Host\"}," +
            "\"memory\":{\"size\":536870912,\"mergeable\":false,\"hotplug_method\":\"Acpi\",\"shared\":false,\"hugepages\":false,\"prefault\":false,\"reserve\":false,\"thp\":true}," +
            "\"payload\":{\"kernel\":\"/path/to/vmlinux\"}," +
            "\"rng\":{\"pci_segment\":0,\"src\":\"/dev/urandom\"}," +
            "\"serial\":{\"mode\":\"Null\"}," +
            "\"console\":{\"mode\":\"Tty\",\"pci_segment\":0}," +
            "\"debug_console\":{\"mode\":\"Off\",\"iobase\":233}," +
            "\"pvpanic\":false,\"iommu\":false,\"watchdog\":false,\"landlock_enable\":false}",
            ApiJson.Serialize(config, ApiJsonContext.Default.VmConfig));
    }

    [Fact]
    public void Every_flag_lands_in_its_config_member()
    {
        var config = Ok(VmConfigBuilder.Build(new VmFlags
        {
            Kernel = "/k",
            Cmdline = "console=ttyS0 reboot=k",
            Initramfs = "/i",
            Cpus = "boot=2,max=4",
            Memory = "size=1G",
            Disks = ["path=/a.img,id=d0", "path=/b.img,readonly=on"],
            Net = ["tap=tap0,mac=12:34:56:78:9a:bc"],
            Serial = "file=/tmp/s",
            Console = "off",
            DebugConsole = "file=/tmp/d,iobase=0x3f8",
            Balloon = "size=64M",
            Rtc = "",
            Watchdog = true,
            Pvpanic = true,
            Vsock = "cid=3,socket=/tmp/v",
            Platform = "num_pci_segments=2",
            PciSegments = ["pci_segment=1,mmio32_aperture_weight=2"],
        }));
        Assert.Equal(("/k", "console=ttyS0 reboot=k", "/i"), (config.Payload!.Kernel, config.Payload.Cmdline, config.Payload.Initramfs));
        Assert.Equal((2U, 4U, 1UL << 30), (config.Cpus.BootVcpus, config.Cpus.MaxVcpus, config.Memory.Size));
        Assert.Equal(["/a.img", "/b.img"], config.Disks!.Select(d => d.Path));
        Assert.Equal("tap0", config.Net![0].Tap);
        Assert.Equal((ConsoleMode.File, "/tmp/s"), (config.Serial.Mode, config.Serial.File));
        Assert.Equal(ConsoleMode.Off, config.Console.Mode);
        Assert.Equal((ConsoleMode.File, (ushort?)0x3f8), (config.DebugConsole.Mode, config.DebugConsole.Iobase));
        Assert.Equal(64UL << 20, config.Balloon!.Size);
        Assert.NotNull(config.Rtc);
        Assert.True(config.Watchdog);
        Assert.True(config.Pvpanic);
        Assert.Equal(3U, config.Vsock!.Cid);
        Assert.Equal((ushort)2, config.Platform!.NumPciSegments);
    }

    [Fact]
    public void A_bad_disk_is_reported_under_its_flag()
    {
        Fails(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Disks = ["path=/a", "path=/b,bogus=1"] }),
            "Error parsing config", "Error parsing --disk", "Failed to parse disk configuration", "Unknown option: bogus");
    }

    [Fact]
    public void Flags_are_checked_in_upstreams_order_so_devices_fail_before_cpus()
    {
        Fails(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Cpus = "boot=x", Serial = "bogus" }),
            "Error parsing config", "Error parsing --serial", "Failed to parse serial configuration", "Unknown option: bogus");
        Fails(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Cpus = "boot=x" }),
            "Error parsing config", "Error parsing --cpus", "Failed to parse configuration string", "Unable to convert x for boot");
    }

    [Fact]
    public void A_bad_memory_zone_is_reported_under_memory()
    {
        Fails(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", MemoryZones = ["size=1G"] }),
            "Error parsing config", "Error parsing --memory", "Memory-zone configuration is missing id");
    }

    [Fact]
    public void Validation_runs_after_parsing()
    {
        var result = VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Cpus = "boot=4,max=2" });
        Assert.False(result.IsOk);
        Assert.Equal(["Error parsing config", "Error validating configuration"], result.Error.Chain.Take(2));
        Assert.True(result.Error.Chain.Count > 2);
    }

    [Fact]
    public void Without_a_payload_parse_succeeds_but_build_fails_validation()
    {
        var flags = new VmFlags { Cmdline = "console=ttyS0" };
        Assert.False(flags.HasPayload);
        Assert.Null(Ok(VmConfigBuilder.Parse(flags)).Payload);
        var built = VmConfigBuilder.Build(flags);
        Assert.False(built.IsOk);
        Assert.Equal("Error validating configuration", built.Error.Chain[1]);
    }

    [Fact]
    public void A_device_behind_the_iommu_turns_the_top_level_iommu_on()
    {
        Assert.True(Ok(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Disks = ["path=/a,iommu=on"] })).Iommu);
        Assert.False(Ok(VmConfigBuilder.Build(new VmFlags { Kernel = "/k", Disks = ["path=/a"] })).Iommu);
    }

    [Fact]
    public void A_firmware_payload_is_kept()
    {
        var config = Ok(VmConfigBuilder.Build(new VmFlags { Firmware = "/fw" }));
        Assert.Equal(("/fw", (string?)null), (config.Payload!.Firmware, config.Payload.Kernel));
    }
}
