using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Models;

/// <summary>Contract §3.1: the JSON of a minimal vm.create, byte for byte.</summary>
public sealed class VmConfigDefaultsTests
{
    private const string Upstream =
        """{"cpus":{"boot_vcpus":1,"max_vcpus":1,"kvm_hyperv":false,"max_phys_bits":46,"features":{"amx":false},"nested":true,"core_scheduling":"Vm","profile":"Host"},"memory":{"size":536870912,"mergeable":false,"hotplug_method":"Acpi","shared":false,"hugepages":false,"prefault":false,"reserve":false,"thp":true},"payload":{"kernel":"/path/to/vmlinux"},"rng":{"pci_segment":0,"src":"/dev/urandom"},"serial":{"mode":"Null"},"console":{"mode":"Tty","pci_segment":0},"debug_console":{"mode":"Off","iobase":233},"pvpanic":false,"iommu":false,"watchdog":false,"landlock_enable":false}""";

#if GUEST_DEBUG
    // guest_debug builds always write gdb, after rtc and before pci_segments.
    private static readonly string MinimalConfig = Upstream.Replace("\"watchdog\":false,", "\"watchdog\":false,\"gdb\":false,", StringComparison.Ordinal);
#else
    private static readonly string MinimalConfig = Upstream;
#endif

    [Fact]
    public void A_minimal_create_body_prints_exactly_upstreams_vm_info_config()
    {
        var json = Wire.RoundTrip("""{"payload":{"kernel":"/path/to/vmlinux"}}""", Wire.VmConfig);
        Assert.Equal(MinimalConfig, json);
    }

    [Fact]
    public void An_empty_object_is_a_valid_create_body_with_every_default_and_no_payload()
    {
        var json = Wire.RoundTrip("{}", Wire.VmConfig);
        Assert.Equal(MinimalConfig.Replace("\"payload\":{\"kernel\":\"/path/to/vmlinux\"},", "", StringComparison.Ordinal), json);
    }

    [Fact]
    public void The_vm_info_answer_prints_config_state_and_memory_actual_size_in_order()
    {
        var config = Wire.Parse("""{"payload":{"kernel":"/path/to/vmlinux"}}""", Wire.VmConfig);
        var info = new VmInfo { Config = config, State = VmState.Created, MemoryActualSize = 536870912 };
        Assert.Equal(
            "{\"config\":" + MinimalConfig + ",\"state\":\"Created\",\"memory_actual_size\":536870912}",
            Wire.Print(info, ApiJsonContext.Default.VmInfo));
    }

    [Fact]
    public void A_new_VmConfig_in_code_equals_the_parsed_empty_object()
    {
        Assert.Equal(Wire.RoundTrip("{}", Wire.VmConfig), Wire.Print(new VmConfig(), Wire.VmConfig));
    }
}
