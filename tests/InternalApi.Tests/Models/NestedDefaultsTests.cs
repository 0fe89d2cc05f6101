using System.Text.Json.Serialization.Metadata;
using CloudHypervisor.InternalApi.Json;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>Contract §3.2 "Nested defaults": a sub-object sent with only its required fields.</summary>
public sealed class NestedDefaultsTests
{
    private static ApiJsonContext Json => ApiJsonContext.Default;

    private static void PrintsAs<T>(JsonTypeInfo<T> type, string sent, string printed) where T : class =>
        Assert.Equal(printed, Wire.RoundTrip(sent, type));

    [Fact]
    public void Cpus_fill_in_hyperv_phys_bits_features_nested_scheduling_and_profile() => PrintsAs(Json.CpusConfig,
        """{"boot_vcpus":2,"max_vcpus":4}""",
        """{"boot_vcpus":2,"max_vcpus":4,"kvm_hyperv":false,"max_phys_bits":46,"features":{"amx":false},"nested":true,"core_scheduling":"Vm","profile":"Host"}""");

    [Fact]
    public void Memory_fills_in_acpi_hotplug_and_thp_on() => PrintsAs(Json.MemoryConfig,
        """{"size":1073741824}""",
        """{"size":1073741824,"mergeable":false,"hotplug_method":"Acpi","shared":false,"hugepages":false,"prefault":false,"reserve":false,"thp":true}""");

    [Fact]
    public void Rng_writes_the_pci_segment_first() => PrintsAs(Json.RngConfig,
        """{"src":"/dev/random"}""", """{"pci_segment":0,"src":"/dev/random"}""");

    [Fact]
    public void Serial_has_no_pci_fields_and_console_writes_them_after_mode()
    {
        PrintsAs(Json.SerialConfig, """{"mode":"Pty"}""", """{"mode":"Pty"}""");
        PrintsAs(Json.ConsoleConfig, """{"mode":"Off"}""", """{"mode":"Off","pci_segment":0}""");
        PrintsAs(Json.ConsoleConfig, """{"mode":"File","file":"/tmp/c"}""", """{"file":"/tmp/c","mode":"File","pci_segment":0}""");
    }

    [Fact]
    public void Debug_console_sent_without_iobase_keeps_iobase_absent() => PrintsAs(Json.DebugConsoleConfig,
        """{"mode":"Tty"}""", """{"mode":"Tty"}""");

    [Fact]
    public void An_empty_disk_takes_every_disk_default_with_sparse_on() => PrintsAs(Json.DiskConfig,
        "{}",
        """{"pci_segment":0,"readonly":false,"direct":false,"num_queues":1,"queue_size":128,"vhost_user":false,"disable_io_uring":false,"disable_aio":false,"backing_files":false,"sparse":true,"image_type":"Unknown","lock_granularity":"ByteRange"}""");

    [Fact]
    public void An_empty_net_has_no_ip_mask_mac_or_tap() => PrintsAs(Json.NetConfig,
        "{}",
        """{"pci_segment":0,"num_queues":2,"queue_size":256,"vhost_user":false,"vhost_mode":"Client","offload_tso":true,"offload_ufo":true,"offload_csum":true}""");

    [Fact]
    public void Fs_defaults_to_one_queue_of_1024() => PrintsAs(Json.FsConfig,
        """{"tag":"shared","socket":"/tmp/fs.sock"}""",
        """{"pci_segment":0,"tag":"shared","socket":"/tmp/fs.sock","num_queues":1,"queue_size":1024}""");

    [Fact]
    public void Pmem_defaults_discard_writes_off() => PrintsAs(Json.PmemConfig,
        """{"file":"/tmp/pmem"}""", """{"pci_segment":0,"file":"/tmp/pmem","discard_writes":false}""");

    [Fact]
    public void Vsock_has_no_defaults_besides_the_pci_segment() => PrintsAs(Json.VsockConfig,
        """{"cid":3,"socket":"/tmp/vsock"}""", """{"pci_segment":0,"cid":3,"socket":"/tmp/vsock"}""");

    [Fact]
    public void Balloon_defaults_both_options_off() => PrintsAs(Json.BalloonConfig,
        """{"size":1048576}""", """{"pci_segment":0,"size":1048576,"deflate_on_oom":false,"free_page_reporting":false}""");

    [Fact]
    public void Vdpa_defaults_to_one_queue() => PrintsAs(Json.VdpaConfig,
        """{"path":"/dev/vhost-vdpa-0"}""", """{"pci_segment":0,"path":"/dev/vhost-vdpa-0","num_queues":1}""");

    [Fact]
    public void A_vfio_device_always_writes_its_excluded_bars() => PrintsAs(Json.DeviceConfig,
        """{"path":"/sys/bus/pci/devices/0000:01:00.0"}""",
        """{"pci_segment":0,"path":"/sys/bus/pci/devices/0000:01:00.0","x_exclude_mmap_bars":[]}""");

    [Fact]
    public void Platform_defaults_one_segment_64_bit_iommu_and_p2p_dma() => PrintsAs(Json.PlatformConfig,
        "{}", """{"num_pci_segments":1,"iommu_address_width_bits":64,"iommufd":false,"vfio_p2p_dma":true}""");

    [Fact]
    public void A_pci_segment_defaults_to_segment_0_with_weights_of_1() => PrintsAs(Json.PciSegmentConfig,
        "{}", """{"pci_segment":0,"mmio32_aperture_weight":1,"mmio64_aperture_weight":1}""");

    [Fact]
    public void Send_migration_defaults_300_ms_downtime_an_hour_timeout_and_one_connection() => PrintsAs(Json.SendMigrationData,
        """{"destination_url":"unix:/tmp/mig"}""",
        """{"destination_url":"unix:/tmp/mig","local":false,"downtime_ms":300,"timeout_s":3600,"timeout_strategy":"Cancel","connections":1,"memory_mode":"Precopy","preserve_source":false}""");

    [Fact]
    public void Restore_defaults_to_copy_without_prefault_or_resume() => PrintsAs(Json.RestoreConfig,
        """{"source_url":"file:///tmp/snap"}""",
        """{"source_url":"file:///tmp/snap","prefault":false,"memory_restore_mode":"Copy","resume":false}""");

    [Theory]
    [InlineData("cpus", """{"boot_vcpus":1}""", "max_vcpus")]
    [InlineData("memory", "{}", "size")]
    [InlineData("rng", "{}", "src")]
    [InlineData("serial", "{}", "mode")]
    [InlineData("console", "{}", "mode")]
    [InlineData("debug_console", "{}", "mode")]
    [InlineData("balloon", "{}", "size")]
    [InlineData("vsock", """{"cid":3}""", "socket")]
    [InlineData("fs", """[{"tag":"t"}]""", "socket")]
    [InlineData("pmem", "[{}]", "file")]
    [InlineData("vdpa", "[{}]", "path")]
    [InlineData("tpm", "{}", "socket")]
    public void A_sub_object_without_its_required_field_is_rejected_naming_it(string member, string value, string field)
    {
        var error = Wire.Reject($$"""{"{{member}}":{{value}}}""", Wire.VmConfig);
        Assert.StartsWith($"missing field `{field}` at $.{member}", error.Causes[0], StringComparison.Ordinal);
    }
}
