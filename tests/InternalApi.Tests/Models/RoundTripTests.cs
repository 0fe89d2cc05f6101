using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>Every field of every schema keeps its upstream name, order and value through parse and print.</summary>
public sealed class RoundTripTests
{
    // Canonical form: upstream's key order with every default written, so printing the parsed
    // config must give these bytes back.
    private const string Rich =
        """{"cpus":{"boot_vcpus":2,"max_vcpus":4,"topology":{"threads_per_core":1,"cores_per_die":2,"dies_per_package":1,"packages":2},"kvm_hyperv":true,"max_phys_bits":40,"affinity":[{"vcpu":0,"host_cpus":[0,1]}],"features":{"amx":true},"nested":false,"core_scheduling":"Vcpu","profile":"Host"}"""
        + ""","memory":{"size":0,"mergeable":true,"hotplug_method":"VirtioMem","hotplug_size":1073741824,"hotplugged_size":0,"shared":true,"hugepages":true,"hugepage_size":2097152,"prefault":true,"reserve":true,"zones":[{"id":"mem0","size":536870912,"file":"/dev/shm/z","shared":true,"hugepages":false,"host_numa_node":0,"hotplug_size":0,"prefault":false,"reserve":false,"mergeable":false}],"thp":false}"""
        + ""","payload":{"kernel":"/k","cmdline":"console=ttyS0","initramfs":"/i"}"""
        + ""","rate_limit_groups":[{"id":"group0","rate_limiter_config":{"bandwidth":{"size":1000,"one_time_burst":10,"refill_time":100},"ops":{"size":10,"refill_time":100}}}]"""
        + ""","disks":[{"id":"disk0","iommu":true,"pci_segment":1,"pci_device_id":5,"path":"/d.img","readonly":true,"direct":true,"num_queues":2,"queue_size":256,"vhost_user":false,"rate_limit_group":"group0","disable_io_uring":true,"disable_aio":true,"serial":"SER","queue_affinity":[{"queue_index":0,"host_cpus":[3]}],"backing_files":true,"sparse":false,"image_type":"Qcow2","lock_granularity":"Full"}]"""
        + ""","net":[{"id":"net0","pci_segment":0,"tap":"tap0","ip":"192.168.1.1","mask":"255.255.255.0","mac":"12:34:56:78:9a:bc","host_mac":"12:34:56:78:9a:bd","mtu":1500,"num_queues":4,"queue_size":512,"vhost_user":true,"vhost_socket":"/v.sock","vhost_mode":"Server","rate_limiter_config":{"ops":{"size":5,"refill_time":10}},"offload_tso":false,"offload_ufo":false,"offload_csum":false}]"""
        + ""","rng":{"pci_segment":0,"src":"/dev/random"}"""
        + ""","balloon":{"id":"balloon0","pci_segment":0,"size":1048576,"deflate_on_oom":true,"free_page_reporting":true}"""
        + ""","generic_vhost_user":[{"pci_segment":0,"socket":"/gvu.sock","queue_sizes":[256,256],"device_type":26}]"""
        + ""","fs":[{"pci_segment":0,"tag":"myfs","socket":"/fs.sock","num_queues":1,"queue_size":512}]"""
        + ""","pmem":[{"pci_segment":0,"file":"/pmem","size":2097152,"discard_writes":true}]"""
        + ""","serial":{"file":"/tmp/serial","mode":"File"}"""
        + ""","console":{"mode":"Socket","socket":"/tmp/con.sock","id":"con0","iommu":true,"pci_segment":0}"""
        + ""","debug_console":{"mode":"Tty","iobase":1016}"""
        + ""","devices":[{"pci_segment":0,"path":"/sys/bus/pci/devices/0000:01:00.0","x_nv_gpudirect_clique":1,"x_exclude_mmap_bars":[0,2]}]"""
        + ""","user_devices":[{"id":"user0","pci_segment":0,"socket":"/vfio-user.sock"}]"""
        + ""","vdpa":[{"pci_segment":0,"path":"/dev/vhost-vdpa-0","num_queues":2}]"""
        + ""","vsock":{"pci_segment":0,"cid":3,"socket":"/vsock"}"""
        + ""","pvpanic":true,"iommu":true"""
        + ""","numa":[{"guest_numa_id":0,"cpus":[0,1],"distances":[{"destination":1,"distance":20}],"memory_zones":["mem0"],"pci_segments":[0],"device_id":"disk0"}]"""
        + ""","watchdog":true,"rtc":{"pci_segment":0}"""
#if GUEST_DEBUG
        + ""","gdb":false"""
#endif
        + ""","pci_segments":[{"pci_segment":1,"mmio32_aperture_weight":2,"mmio64_aperture_weight":3}]"""
        + ""","platform":{"num_pci_segments":2,"iommu_segments":[1],"iommu_address_width_bits":48,"system_serial_number":"sn","system_uuid":"uuid","oem_strings":["a"],"system_manufacturer":"m","system_product_name":"p","system_version":"v","system_family":"f","system_sku_number":"sku","chassis_asset_tag":"tag","iommufd":true,"vfio_p2p_dma":false}"""
        + ""","tpm":{"socket":"/tpm.sock"},"landlock_enable":true,"landlock_rules":[{"path":"/tmp","access":"rw"}]}""";

    [Fact]
    public void A_config_using_every_field_prints_back_byte_for_byte() =>
        Assert.Equal(Rich, Wire.RoundTrip(Rich, Wire.VmConfig));

    [Fact]
    public void A_deep_clone_prints_the_same_and_shares_no_objects()
    {
        var config = Wire.Parse(Rich, Wire.VmConfig);
        var clone = config.Clone();
        Assert.Equal(Rich, Wire.Print(clone, Wire.VmConfig));
        clone.Disks![0].Id = "changed";
        clone.Memory.Zones!.Add(new MemoryZoneConfig { Id = "mem1", Size = 4096 });
        Assert.Equal(Rich, Wire.Print(config, Wire.VmConfig));
    }

    [Fact]
    public void A_clone_keeps_the_real_file_descriptors_the_json_hides()
    {
        var config = new VmConfig
        {
            Net = [new NetConfig { Fds = [7, 8], NumQueues = 4 }],
            Devices = [new DeviceConfig { Fd = 9 }],
            Platform = new PlatformConfig { IommufdFd = 10 },
        };
        var clone = config.Clone();
        Assert.Equal([7, 8], clone.Net![0].Fds!);
        Assert.Equal(9, clone.Devices![0].Fd);
        Assert.Equal(10, clone.Platform!.IommufdFd);
    }

    [Fact]
    public void Clearing_file_descriptors_leaves_none_in_the_config()
    {
        var config = Wire.Parse("""{"net":[{"fds":[3,4],"num_queues":4}],"devices":[{"fd":5}],"platform":{"iommufd_fd":6}}""", Wire.VmConfig);
        config.ClearFileDescriptors();
        var json = Wire.Print(config, Wire.VmConfig);
        Assert.DoesNotContain("fd", json.Replace("iommufd\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Common_pci_fields_come_first_with_id_and_iommu_only_when_set()
    {
        var disk = new DiskConfig { Path = "/d", Iommu = true, PciDeviceId = 3, Id = "d0", PciSegment = 2 };
        Assert.StartsWith("""{"id":"d0","iommu":true,"pci_segment":2,"pci_device_id":3,"path":"/d",""", Wire.Print(disk, ApiJsonContext.Default.DiskConfig), StringComparison.Ordinal);
        var plain = new PmemConfig { File = "/p" };
        Assert.Equal("""{"pci_segment":0,"file":"/p","discard_writes":false}""", Wire.Print(plain, ApiJsonContext.Default.PmemConfig));
        var explicitFalse = Wire.RoundTrip("""{"iommu":false,"pci_segment":0,"socket":"/u"}""", ApiJsonContext.Default.UserDeviceConfig);
        Assert.Equal("""{"pci_segment":0,"socket":"/u"}""", explicitFalse);
    }

    [Fact]
    public void File_descriptor_numbers_in_json_are_never_trusted()
    {
        var net = Wire.Parse("""{"fds":[3,4],"num_queues":4}""", ApiJsonContext.Default.NetConfig);
        Assert.Equal([-1, -1], net.Fds!);
        net.Fds = [42, 43];
        Assert.Contains("\"fds\":[-1,-1]", Wire.Print(net, ApiJsonContext.Default.NetConfig), StringComparison.Ordinal);

        var device = Wire.Parse("""{"fd":5}""", ApiJsonContext.Default.DeviceConfig);
        Assert.Equal(-1, device.Fd);
        var restore = Wire.Parse("""{"source_url":"file:///s","net_fds":[{"id":"net0","num_fds":2,"fds":[5,6]}],"vfio_fds":[{"id":"_vfio0","fd":7}],"iommufd_fd":8}""", ApiJsonContext.Default.RestoreConfig);
        Assert.Equal([-1, -1], restore.NetFds![0].Fds!);
        Assert.Equal(-1, restore.VfioFds![0].Fd);
        Assert.Equal(-1, restore.IommufdFd);
        Assert.Equal(-1, Wire.Parse("""{"iommufd_fd":3}""", ApiJsonContext.Default.PlatformConfig).IommufdFd);
    }

    [Fact]
    public void Deprecated_platform_spellings_are_accepted_and_printed_with_the_new_names()
    {
        var json = Wire.RoundTrip("""{"serial_number":"sn","uuid":"u"}""", ApiJsonContext.Default.PlatformConfig);
        Assert.Equal("""{"num_pci_segments":1,"iommu_address_width_bits":64,"system_serial_number":"sn","system_uuid":"u","iommufd":false,"vfio_p2p_dma":true}""", json);
    }

    [Fact]
    public void Ping_prints_all_four_fields_in_upstreams_order()
    {
        var ping = new VmmPingResponse { BuildVersion = "v54.0.0", Version = "54.0.0", Pid = 12345, Features = ["io_uring", "kvm"] };
        Assert.Equal("""{"build_version":"v54.0.0","version":"54.0.0","pid":12345,"features":["io_uring","kvm"]}""", Wire.Print(ping, ApiJsonContext.Default.VmmPingResponse));
    }

    [Fact]
    public void Vm_info_with_a_device_tree_keeps_tagged_resources_and_omits_null_parent_and_bdf()
    {
        const string Info =
            """{"config":{"cpus":{"boot_vcpus":1,"max_vcpus":1,"kvm_hyperv":false,"max_phys_bits":46,"features":{"amx":false},"nested":true,"core_scheduling":"Vm","profile":"Host"},"memory":{"size":536870912,"mergeable":false,"hotplug_method":"Acpi","shared":false,"hugepages":false,"prefault":false,"reserve":false,"thp":true},"rng":{"pci_segment":0,"src":"/dev/urandom"},"serial":{"mode":"Null"},"console":{"mode":"Tty","pci_segment":0},"debug_console":{"mode":"Off","iobase":233},"pvpanic":false,"iommu":false,"watchdog":false,"landlock_enable":false}"""
            + ""","state":"Running","memory_actual_size":536870912,"device_tree":{"__rng":{"id":"__rng","resources":[{"PciBar":{"index":0,"base":3891265536,"size":524288,"type_":"Mmio32","prefetchable":false}},{"LegacyIrq":5}],"parent":"pci0","children":[],"pci_bdf":"0000:00:01.0"},"pci0":{"id":"pci0","resources":[],"children":["__rng"]}}}""";
#if GUEST_DEBUG
        var info = Info.Replace("\"watchdog\":false,", "\"watchdog\":false,\"gdb\":false,", StringComparison.Ordinal);
#else
        var info = Info;
#endif
        Assert.Equal(info, Wire.RoundTrip(info, ApiJsonContext.Default.VmInfo));
    }

    [Fact]
    public void Counters_and_pci_device_info_print_as_upstream()
    {
        var counters = new Dictionary<string, Dictionary<string, ulong>> { ["_disk0"] = new() { ["read_bytes"] = 512, ["write_ops"] = 1 } };
        Assert.Equal("""{"_disk0":{"read_bytes":512,"write_ops":1}}""", Wire.Print(counters, ApiJsonContext.Default.DictionaryStringDictionaryStringUInt64));
        Assert.Equal("""{"id":"_disk1","bdf":"0000:00:06.0"}""", Wire.Print(new PciDeviceInfo { Id = "_disk1", Bdf = "0000:00:06.0" }, ApiJsonContext.Default.PciDeviceInfo));
    }

    [Fact]
    public void Migration_and_resize_bodies_round_trip_with_every_field()
    {
        const string Receive = """{"receiver_url":"tcp:0.0.0.0:6000","tls_dir":"/tls","memory_mode":"Postcopy","zone_updates":[{"id":"mem0","host_numa_node":1}],"vfio_fds":[{"id":"_vfio0","fd":-1}],"iommufd_fd":-1}""";
        Assert.Equal(Receive, Wire.RoundTrip(Receive, ApiJsonContext.Default.ReceiveMigrationData));
        const string Send = """{"destination_url":"tcp:1.2.3.4:6000","local":true,"downtime_ms":100,"timeout_s":60,"timeout_strategy":"Ignore","connections":4,"tls_dir":"/tls","memory_mode":"Postcopy","preserve_source":true}""";
        Assert.Equal(Send, Wire.RoundTrip(Send, ApiJsonContext.Default.SendMigrationData));
        const string Resize = """{"desired_vcpus":2,"desired_ram":1073741824,"desired_balloon":0}""";
        Assert.Equal(Resize, Wire.RoundTrip(Resize, ApiJsonContext.Default.VmResize));
        Assert.Equal("{}", Wire.RoundTrip("{}", ApiJsonContext.Default.VmResize));
    }
}
