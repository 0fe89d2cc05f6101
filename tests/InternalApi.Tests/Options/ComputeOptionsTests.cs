using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class ComputeOptionsTests
{
    private static string Json(CpusConfig cpus) => ApiJson.Serialize(new VmConfig { Cpus = cpus }, ApiJsonContext.Default.VmConfig)
        .Split("\"memory\"")[0];

    [Fact]
    public void Cpus_boot_4_max_8_gives_4_boot_and_8_max_vcpus()
    {
        var cpus = Ok(ConfigOptions.Cpus("boot=4,max=8"));
        Assert.Equal(4U, cpus.BootVcpus);
        Assert.Equal(8U, cpus.MaxVcpus);
        Assert.Equal(
            "{\"cpus\":{\"boot_vcpus\":4,\"max_vcpus\":8,\"kvm_hyperv\":false,\"max_phys_bits\":46,\"features\":{\"amx\":false},\"nested\":true,\"core_scheduling\":\"Vm\",\"profile\":\"Host\"},",
            Json(cpus));
    }

    [Fact]
    public void Cpus_max_defaults_to_boot_and_an_empty_string_gives_one_vcpu()
    {
        Assert.Equal(3U, Ok(ConfigOptions.Cpus("boot=3")).MaxVcpus);
        var empty = Ok(ConfigOptions.Cpus(""));
        Assert.Equal((1U, 1U, (byte)46, true), (empty.BootVcpus, empty.MaxVcpus, empty.MaxPhysBits, empty.Nested));
    }

    [Fact]
    public void Cpus_topology_is_four_colon_separated_parts()
    {
        var topology = Ok(ConfigOptions.Cpus("boot=8,topology=2:2:1:2")).Topology;
        Assert.NotNull(topology);
        Assert.Equal((2, 2, 1, 2), (topology.ThreadsPerCore, topology.CoresPerDie, topology.DiesPerPackage, topology.Packages));
        Fails(ConfigOptions.Cpus("boot=8,topology=2:2:1"), "Failed to parse configuration string", "Unable to convert 2:2:1 for topology");
        Fails(ConfigOptions.Cpus("boot=8,topology=2:2:1:x"), "Failed to parse configuration string", "Unable to convert 2:2:1:x for topology");
    }

    [Fact]
    public void Cpus_affinity_pins_each_vcpu_to_host_cpu_lists_with_ranges()
    {
        var affinity = Ok(ConfigOptions.Cpus("boot=2,affinity=[0@[0,2],1@[1-3]]")).Affinity;
        Assert.NotNull(affinity);
        Assert.Equal(0U, affinity[0].Vcpu);
        Assert.Equal([0UL, 2UL], affinity[0].HostCpus);
        Assert.Equal(1U, affinity[1].Vcpu);
        Assert.Equal([1UL, 2UL, 3UL], affinity[1].HostCpus);
    }

    [Fact]
    public void Cpus_toggles_features_and_core_scheduling_are_read()
    {
        var cpus = Ok(ConfigOptions.Cpus("boot=1,kvm_hyperv=on,nested=OFF,features=[amx],core_scheduling=vcpu,max_phys_bits=39,profile=host"));
        Assert.True(cpus.KvmHyperv);
        Assert.False(cpus.Nested);
        Assert.True(cpus.Features.Amx);
        Assert.Equal(CoreSchedulingMode.Vcpu, cpus.CoreScheduling);
        Assert.Equal((byte)39, cpus.MaxPhysBits);
    }

    [Fact]
    public void An_empty_toggle_value_reads_as_not_given_so_the_default_applies()
    {
        Assert.True(Ok(ConfigOptions.Cpus("nested=")).Nested);
        Assert.True(Ok(ConfigOptions.Memory("thp=")).Thp);
        Assert.False(Ok(ConfigOptions.Memory("shared=")).Shared);
    }

    [Fact]
    public void Cpus_errors_name_the_key_or_the_feature()
    {
        Fails(ConfigOptions.Cpus("boot=1,core_scheduling=invalid"), "Failed to parse configuration string", "Unable to convert invalid for core_scheduling");
        Fails(ConfigOptions.Cpus("boot=x"), "Failed to parse configuration string", "Unable to convert x for boot");
        Fails(ConfigOptions.Cpus("boot=1,sockets=2"), "Failed to parse configuration string", "Unknown option: sockets");
        Fails(ConfigOptions.Cpus("features=[sse]"), "Invalid feature in --cpus features list: sse");
    }

    [Fact]
    public void Memory_defaults_to_512M_with_thp_on()
    {
        var memory = Ok(ConfigOptions.Memory(""));
        Assert.Equal(512UL << 20, memory.Size);
        Assert.True(memory.Thp);
        Assert.Equal(HotplugMethod.Acpi, memory.HotplugMethod);
        Assert.Null(memory.Zones);
    }

    [Fact]
    public void Memory_reads_sizes_toggles_and_the_hotplug_method()
    {
        var memory = Ok(ConfigOptions.Memory("size=1G,mergeable=on,hotplug_method=virtio-mem,hotplug_size=512M,hugepages=on,hugepage_size=2M,thp=off,shared=true"));
        Assert.Equal(1UL << 30, memory.Size);
        Assert.True(memory.Mergeable);
        Assert.Equal(HotplugMethod.VirtioMem, memory.HotplugMethod);
        Assert.Equal(512UL << 20, memory.HotplugSize);
        Assert.Equal(2UL << 20, memory.HugepageSize);
        Assert.True(memory.Hugepages);
        Assert.True(memory.Shared);
        Assert.False(memory.Thp);
    }

    [Fact]
    public void Memory_errors_carry_the_memory_message()
    {
        Fails(ConfigOptions.Memory("size=1T"), "Failed to parse memory configuration", "Unable to convert 1T for size");
        Fails(ConfigOptions.Memory("hotplug_method=dimm"), "Failed to parse memory configuration", "Unable to convert dimm for hotplug_method");
        Fails(ConfigOptions.Memory("sise=1G"), "Failed to parse memory configuration", "Unknown option: sise");
    }

    [Fact]
    public void Memory_zones_need_an_id_and_inherit_mergeable()
    {
        var memory = Ok(ConfigOptions.Memory("size=0,mergeable=on", ["id=mem0,size=1G", "id=mem1,size=2G,mergeable=off,host_numa_node=1,file=/dev/shm/z"]));
        Assert.NotNull(memory.Zones);
        Assert.Equal(("mem0", 1UL << 30, true), (memory.Zones[0].Id, memory.Zones[0].Size, memory.Zones[0].Mergeable));
        Assert.Equal(("mem1", false, 1U, "/dev/shm/z"), (memory.Zones[1].Id, memory.Zones[1].Mergeable, memory.Zones[1].HostNumaNode, memory.Zones[1].File));
        Fails(ConfigOptions.Memory("size=0", ["size=1G"]), "Memory-zone configuration is missing id");
        Fails(ConfigOptions.Memory("size=0", ["id=z,bogus=1"]), "Failed to parse memory-zone configuration", "Unknown option: bogus");
    }
}
