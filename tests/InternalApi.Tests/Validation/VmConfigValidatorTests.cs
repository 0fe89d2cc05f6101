using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Tests.Models;
using CloudHypervisor.InternalApi.Validation;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Validation;

/// <summary>Upstream's VmConfig::validate(): kinds and messages as a cold add reports them.</summary>
public sealed class VmConfigValidatorTests
{
    private const string Kernel = "\"payload\":{\"kernel\":\"/k\"}";

    private static ConfigValidationError? Validate(string body) => VmConfigValidator.Validate(Wire.Parse(body, Wire.VmConfig));

    private static void Invalid(string body, params string[] messages)
    {
        var error = Validate(body);
        Assert.NotNull(error);
        Assert.Equal(messages, error.Messages);
        Assert.Equal(ApiErrorKind.InvalidArgument, error.Kind);
    }

    private static void Duplicate(string body, string message)
    {
        var error = Validate(body);
        Assert.NotNull(error);
        Assert.Equal([message], error.Messages);
        Assert.Equal(ApiErrorKind.AlreadyExists, error.Kind);
    }

    [Fact]
    public void The_minimal_bootable_config_is_valid() => Assert.Null(Validate($$"""{{{Kernel}}}"""));

    [Fact]
    public void A_config_without_payload_is_not_bootable() =>
        Invalid("{}", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel");

    [Fact]
    public void A_payload_with_neither_kernel_nor_firmware_is_not_bootable() =>
        Invalid("""{"payload":{"cmdline":"quiet"}}""", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel");

    [Fact]
    public void Kernel_and_firmware_together_are_not_bootable() =>
        Invalid("""{"payload":{"kernel":"/k","firmware":"/f"}}""", "Payload configuration is not bootable", "Specifying a kernel is not supported when a firmware is provided");

    [Fact]
    public void A_firmware_alone_is_bootable() => Assert.Null(Validate("""{"payload":{"firmware":"/fw"}}"""));

    [Fact]
    public void The_variant_without_payload_check_accepts_an_empty_config_but_checks_the_rest()
    {
        Assert.Null(VmConfigValidator.ValidateWithoutPayload(Wire.Parse("{}", Wire.VmConfig)));
        var error = VmConfigValidator.ValidateWithoutPayload(Wire.Parse("""{"cpus":{"boot_vcpus":2,"max_vcpus":1}}""", Wire.VmConfig));
        Assert.Equal(["Max CPUs lower than boot CPUs"], error!.Messages);
    }

    [Theory]
    [InlineData("""{"boot_vcpus":0,"max_vcpus":1}""", "Number of boot vCPUs must be at least 1")]
    [InlineData("""{"boot_vcpus":4,"max_vcpus":2}""", "Max CPUs lower than boot CPUs")]
    [InlineData("""{"boot_vcpus":2,"max_vcpus":4,"topology":{"threads_per_core":1,"cores_per_die":0,"dies_per_package":1,"packages":1}}""", "No part of the CPU topology can be zero")]
    [InlineData("""{"boot_vcpus":2,"max_vcpus":4,"topology":{"threads_per_core":1,"cores_per_die":2,"dies_per_package":1,"packages":1}}""", "Product of CPU topology parts does not match maximum vCPU")]
    [InlineData("""{"boot_vcpus":1,"max_vcpus":2,"affinity":[{"vcpu":2,"host_cpus":[0]}]}""", "CPU affinity names vCPU 2, but max_vcpus is 2")]
    [InlineData("""{"boot_vcpus":4294967295,"max_vcpus":4294967295}""", "Max CPUs (4294967295) greater than the 254 vCPUs a VM can have")]
    [InlineData("""{"boot_vcpus":1,"max_vcpus":255}""", "Max CPUs (255) greater than the 254 vCPUs a VM can have")]
    [InlineData("""{"boot_vcpus":4096,"max_vcpus":4096}""", "Max CPUs (4096) greater than the 254 vCPUs a VM can have")]
    public void Bad_cpu_settings_are_invalid(string cpus, string message) => Invalid($$"""{{{Kernel}},"cpus":{{cpus}}}""", message);

    [Fact]
    public void The_most_vcpus_the_madt_can_name_are_valid() =>
        Assert.Null(Validate("{" + Kernel + ""","cpus":{"boot_vcpus":254,"max_vcpus":254}}"""));

    [Theory]
    [InlineData("""{"size":4096}""", "Memory size 4096 is smaller than the minimum of 2097152 bytes (2 MiB)")]
    [InlineData("""{"size":2093056}""", "Memory size 2093056 is smaller than the minimum of 2097152 bytes (2 MiB)")]
    [InlineData("""{"size":0,"zones":[{"id":"z","size":4096}]}""", "Memory size 4096 is smaller than the minimum of 2097152 bytes (2 MiB)")]
    public void Memory_below_2_MiB_is_invalid_and_the_message_says_the_minimum(string memory, string message) =>
        Invalid($$"""{{{Kernel}},"memory":{{memory}}}""", message);

    [Fact]
    public void Exactly_2_MiB_of_memory_is_valid() =>
        Assert.Null(Validate("{" + Kernel + ""","memory":{"size":2097152}}"""));

    private static string Disks(int count, string each = "{}") => string.Join(",", Enumerable.Repeat(each, count));

    [Fact]
    public void Segment_0_holds_31_devices_rng_and_console_included()
    {
        // 32 slots, one the host bridge's; the rng and the virtio console (mode Tty) take two.
        Assert.Null(Validate($$"""{{{Kernel}},"disks":[{{Disks(29)}}]}"""));
        Invalid($$"""{{{Kernel}},"disks":[{{Disks(30)}}]}""",
            "Could not find an available device slot on the PCI bus",
            "PCI segment 0 holds at most 31 devices (32 slots, one for the host bridge); the config places 32 there");
    }

    [Fact]
    public void A_console_that_is_off_takes_no_slot_and_watchdog_pvpanic_and_iommu_take_one_each()
    {
        Assert.Null(Validate($$"""{{{Kernel}},"console":{"mode":"Off"},"disks":[{{Disks(30)}}]}"""));
        var error = Validate($$"""{{{Kernel}},"watchdog":true,"pvpanic":true,"iommu":true,"disks":[{{Disks(27)}}]}""");
        Assert.Equal("PCI segment 0 holds at most 31 devices (32 slots, one for the host bridge); the config places 32 there", error!.Messages[1]);
    }

    [Fact]
    public void Each_pci_segment_has_its_own_31_slots() =>
        Assert.Null(Validate($$"""{{{Kernel}},"platform":{"num_pci_segments":2},"disks":[{{Disks(29)}},{{Disks(31, """{"pci_segment":1}""")}}]}"""));

    [Theory]
    [InlineData("""[{"pci_device_id":32}]""", "Invalid PCI device identifier provided: 32")]
    [InlineData("""[{"pci_device_id":0}]""", "Valid PCI device identifier but already used: 0")]
    [InlineData("""[{"pci_device_id":5},{"pci_device_id":5}]""", "Valid PCI device identifier but already used: 5")]
    public void A_requested_pci_slot_must_exist_and_be_free(string disks, string message) =>
        Invalid($$"""{{{Kernel}},"disks":{{disks}}}""", message);

    [Theory]
    [InlineData("""{"size":0}""", "Memory size 0 is not a non-zero multiple of 4096 bytes")]
    [InlineData("""{"size":1000}""", "Memory size 1000 is not a non-zero multiple of 4096 bytes")]
    [InlineData("""{"size":4096,"hugepage_size":2097152}""", "Huge page size specified but huge pages not enabled")]
    [InlineData("""{"size":4096,"hugepages":true,"hugepage_size":3000}""", "Huge page size is not power of 2: 3000")]
    [InlineData("""{"size":0,"zones":[{"id":"z","size":100}]}""", "Memory zone z size 100 is not a non-zero multiple of 4096 bytes")]
    public void Bad_memory_sizes_are_invalid(string memory, string message) => Invalid($$"""{{{Kernel}},"memory":{{memory}}}""", message);

    [Fact]
    public void Memory_of_only_zones_is_valid() =>
        Assert.Null(Validate("{" + Kernel + ""","memory":{"size":0,"zones":[{"id":"z","size":1073741824}]}}"""));

    [Theory]
    [InlineData("serial", """{"mode":"File"}""", "Path missing when using file console mode")]
    [InlineData("console", """{"mode":"File"}""", "Path missing when using file console mode")]
    [InlineData("serial", """{"mode":"Socket"}""", "Path missing when using socket console mode")]
    [InlineData("console", """{"mode":"Socket"}""", "Path missing when using socket console mode")]
    [InlineData("debug_console", """{"mode":"File"}""", "Path missing when using file mode for debug console")]
    public void A_file_or_socket_console_needs_its_path(string member, string value, string message) =>
        Invalid($$"""{{{Kernel}},"{{member}}":{{value}}}""", message);

    [Fact]
    public void A_serial_socket_with_a_path_is_valid() =>
        Assert.Null(Validate("{" + Kernel + ""","serial":{"mode":"Socket","socket":"/tmp/s"}}"""));

    [Fact]
    public void A_user_id_beginning_with_two_underscores_is_not_valid() =>
        Invalid($$"""{{{Kernel}},"disks":[{"id":"__disk","path":"/a"}]}""", "Identifier __disk is not valid");

    [Fact]
    public void One_underscore_ids_like_the_auto_ids_are_valid() =>
        Assert.Null(Validate($$"""{{{Kernel}},"disks":[{"id":"_disk0","path":"/a"}]}"""));

    [Theory]
    [InlineData("\"disks\":[{\"id\":\"x\",\"path\":\"/a\"},{\"id\":\"x\",\"path\":\"/b\"}]")]
    [InlineData("\"disks\":[{\"id\":\"x\",\"path\":\"/a\"}],\"net\":[{\"id\":\"x\"}]")]
    [InlineData("\"pmem\":[{\"id\":\"x\",\"file\":\"/p\"}],\"vsock\":{\"id\":\"x\",\"cid\":3,\"socket\":\"/v\"}")]
    [InlineData("\"memory\":{\"size\":2097152,\"zones\":[{\"id\":\"x\",\"size\":4096}]},\"vdpa\":[{\"id\":\"x\",\"path\":\"/v\"}]")]
    [InlineData("\"rate_limit_groups\":[{\"id\":\"x\",\"rate_limiter_config\":{\"ops\":{\"size\":1,\"refill_time\":1}}}],\"disks\":[{\"id\":\"x\",\"path\":\"/a\"}]")]
    public void An_id_used_twice_anywhere_is_not_unique(string devices) =>
        Duplicate($$"""{{{Kernel}},{{devices}}}""", "Identifier x is not unique");

    [Theory]
    [InlineData("\"disks\":[{\"path\":\"/a\"},{\"path\":\"/a\"}]", "/a")]
    [InlineData("\"pmem\":[{\"file\":\"/p\"},{\"file\":\"/p\"}]", "/p")]
    [InlineData("\"devices\":[{\"path\":\"/sys/d\"},{\"path\":\"/sys/d\"}]", "/sys/d")]
    [InlineData("\"vdpa\":[{\"path\":\"/v\"},{\"path\":\"/v\"}]", "/v")]
    public void The_same_backing_path_twice_is_a_duplicate(string devices, string path) =>
        Duplicate($$"""{{{Kernel}},{{devices}}}""", $"Duplicated device path: {path}");

    [Theory]
    [InlineData("""{"ip":"192.168.1.1"}""", "Network ip and mask must be given together or not at all")]
    [InlineData("""{"mask":"255.255.255.0"}""", "Network ip and mask must be given together or not at all")]
    [InlineData("""{"ip":"300.1.1.1","mask":"255.255.255.0"}""", "Invalid IP address: 300.1.1.1")]
    [InlineData("""{"ip":"10.0.0.1","mask":"255.0.255.0"}""", "Invalid network mask: 255.0.255.0")]
    [InlineData("""{"ip":"10.0.0.1","mask":"ffff::"}""", "Network ip and mask must be of the same address family")]
    [InlineData("""{"mac":"12:34:56:78:9a"}""", "Invalid MAC address: 12:34:56:78:9a")]
    [InlineData("""{"num_queues":1}""", "Number of queues to virtio_net less than 2")]
    [InlineData("""{"num_queues":4}""", "Number of vCPUs is insufficient for number of queues")]
    [InlineData("""{"mtu":1000}""", "Provided MTU 1000 is lower than 1280 (expected by VIRTIO specification)")]
    [InlineData("""{"offload_csum":false}""", "\"offload_tso\" and \"offload_ufo\" depend on \"offload_csum\"")]
    [InlineData("""{"vhost_user":true}""", "Using vhost-user requires using shared memory or huge pages")]
    [InlineData("""{"fds":[3]}""", "Reserved fd number (<= 2)")]
    [InlineData("""{"fds":[3,4]}""", "Number of queues to virtio_net does not match the number of input FDs")]
    public void Bad_net_settings_are_invalid(string net, string message) => Invalid($$"""{{{Kernel}},"net":[{{net}}]}""", message);

    [Fact]
    public void A_net_with_ip_mask_and_mac_is_valid() =>
        Assert.Null(Validate($$"""{{{Kernel}},"net":[{"ip":"192.168.249.1","mask":"255.255.255.0","mac":"12:34:56:78:9a:bc","tap":"tap0"}]}"""));

    [Theory]
    [InlineData("""{"path":"/a","vhost_socket":"/s"}""", "Disk path and vhost socket both provided")]
    [InlineData("""{"vhost_user":true,"vhost_socket":"/s"}""", "Using vhost-user requires using shared memory or huge pages")]
    [InlineData("""{"path":"/a","queue_size":1}""", "Queue size is smaller than 2: 1")]
    [InlineData("""{"path":"/a","num_queues":2}""", "Number of vCPUs is insufficient for number of queues")]
    [InlineData("""{"path":"/a","rate_limit_group":"nope"}""", "Invalid rate-limiter group")]
    [InlineData("""{"path":"/a","serial":"123456789012345678901"}""", "Block device serial length (21) exceeds maximum allowed length (20)")]
    [InlineData("""{"path":"/a","pci_segment":1}""", "Invalid PCI segment id: 1")]
    public void Bad_disk_settings_are_invalid(string disk, string message) => Invalid($$"""{{{Kernel}},"disks":[{{disk}}]}""", message);

    [Fact]
    public void A_vhost_user_disk_without_socket_on_shared_memory_is_invalid() =>
        Invalid($$"""{{{Kernel}},"memory":{"size":2097152,"shared":true},"disks":[{"vhost_user":true}]}""", "No socket provided when using vhost-user");

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(2u)]
    [InlineData(4294967295u)]
    public void A_reserved_vsock_cid_is_invalid(uint cid) =>
        Invalid("{" + Kernel + $$""","vsock":{"cid":{{cid}},"socket":"/v"}""" + "}", $"{cid} is a special VSOCK CID");

    [Fact]
    public void Vhost_user_devices_need_shared_memory()
    {
        Invalid($$"""{{{Kernel}},"fs":[{"tag":"t","socket":"/s"}]}""", "Using vhost-user requires using shared memory or huge pages");
        Invalid($$"""{{{Kernel}},"user_devices":[{"socket":"/s"}]}""", "Using user devices requires using shared memory or huge pages");
        Assert.Null(Validate($$"""{{{Kernel}},"memory":{"size":1073741824,"shared":true},"fs":[{"tag":"t","socket":"/s"}],"user_devices":[{"socket":"/u"}]}"""));
    }

    [Fact]
    public void A_balloon_as_large_as_ram_is_invalid_in_upstreams_words() =>
        Invalid("{" + Kernel + ""","memory":{"size":2097152},"balloon":{"size":2097152}}""", "Ballon size (2097152) greater than RAM (2097152)");

    [Fact]
    public void A_vfio_device_needs_a_path_or_an_fd() =>
        Invalid($$"""{{{Kernel}},"devices":[{}]}""", "A VFIO device needs either a sysfs path or a cdev file descriptor");

    [Theory]
    [InlineData("""{"num_pci_segments":0}""", "Number of PCI segments (0) not in range of 1 to 96")]
    [InlineData("""{"num_pci_segments":97}""", "Number of PCI segments (97) not in range of 1 to 96")]
    [InlineData("""{"iommu_address_width_bits":65}""", "IOMMU address width in bits (65) should be less than or equal to 64")]
    [InlineData("""{"iommu_segments":[3]}""", "Invalid PCI segment id: 3")]
    public void Bad_platform_settings_are_invalid(string platform, string message) =>
        Invalid($$"""{{{Kernel}},"platform":{{platform}}}""", message);

    [Fact]
    public void A_device_on_an_iommu_segment_must_sit_behind_the_iommu()
    {
        Invalid($$"""{{{Kernel}},"platform":{"num_pci_segments":2,"iommu_segments":[1]},"disks":[{"path":"/a","pci_segment":1}]}""",
            "Device is on an IOMMU PCI segment (1) but not placed behind IOMMU");
        Assert.Null(Validate($$"""{{{Kernel}},"platform":{"num_pci_segments":2,"iommu_segments":[1]},"disks":[{"path":"/a","pci_segment":1,"iommu":true}]}"""));
    }

    [Fact]
    public void Numa_nodes_cannot_share_a_memory_zone_or_a_pci_segment()
    {
        Invalid($$"""{{{Kernel}},"numa":[{"guest_numa_id":0,"memory_zones":["z"]},{"guest_numa_id":1,"memory_zones":["z"]}]}""",
            "Memory zone: z belongs to multiple NUMA nodes: 0 and 1");
        Invalid($$"""{{{Kernel}},"numa":[{"guest_numa_id":1,"pci_segments":[0]}]}""", "Default PCI segment assigned to non-zero NUMA node 1");
    }

    [Fact]
    public void A_pci_segment_weight_of_zero_is_invalid() =>
        Invalid($$"""{{{Kernel}},"pci_segments":[{"mmio32_aperture_weight":0}]}""", "Invalid PCI segment aperture weight: 0");

    [Theory]
    [InlineData("{}", false)]
    [InlineData("""{"iommu":true}""", true)]
    [InlineData("""{"disks":[{"path":"/a","iommu":true}]}""", true)]
    [InlineData("""{"console":{"mode":"Tty","iommu":true}}""", true)]
    [InlineData("""{"platform":{"num_pci_segments":2,"iommu_segments":[1]}}""", true)]
    public void A_device_behind_the_iommu_makes_the_vm_need_one(string body, bool expected) =>
        Assert.Equal(expected, VmConfigValidator.RequiresIommu(Wire.Parse(body, Wire.VmConfig)));

    [Fact]
    public void Validation_leaves_the_config_unchanged()
    {
        var config = Wire.Parse($$"""{{{Kernel}},"disks":[{"path":"/a","iommu":true}]}""", Wire.VmConfig);
        var before = Wire.Print(config, Wire.VmConfig);
        Assert.Null(VmConfigValidator.Validate(config));
        Assert.Equal(before, Wire.Print(config, Wire.VmConfig));
    }

    [Fact]
    public void The_api_error_carries_upstreams_cold_add_chain()
    {
        var error = Validate("{}")!.ToApiError(ApiCatalog.VmAddDisk);
        Assert.Equal(
            ["Error from API", "The disk could not be added to the VM", "Failed to validate config", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"],
            error.Chain);
        Assert.Equal(ApiErrorKind.InvalidArgument, error.Kind);
    }
}
