using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Tests.Models;
using CloudHypervisor.InternalApi.Validation;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Validation;

public sealed class DeviceIdsTests
{
    [Fact]
    public void Id_less_devices_get_upstreams_prefixes_from_one_shared_counter()
    {
        var config = Wire.Parse(
            """{"disks":[{"path":"/a"},{"path":"/b"}],"net":[{}],"fs":[{"tag":"t","socket":"/s"}],"pmem":[{"file":"/p"}],"vsock":{"cid":3,"socket":"/v"},"vdpa":[{"path":"/v"}],"generic_vhost_user":[{"socket":"/g","queue_sizes":[1],"device_type":1}],"devices":[{"path":"/sys/d"}],"user_devices":[{"socket":"/u"}]}""",
            Wire.VmConfig);
        DeviceIds.Assign(config);
        Assert.Equal(["_disk0", "_disk1"], config.Disks!.Select(d => d.Id));
        Assert.Equal("_net2", config.Net![0].Id);
        Assert.Equal("_fs3", config.Fs![0].Id);
        Assert.Equal("_pmem4", config.Pmem![0].Id);
        Assert.Equal("_vsock5", config.Vsock!.Id);
        Assert.Equal("_vdpa6", config.Vdpa![0].Id);
        Assert.Equal("_generic_vhost_user7", config.GenericVhostUser![0].Id);
        Assert.Equal("_vfio8", config.Devices![0].Id);
        Assert.Equal("_vfio_user9", config.UserDevices![0].Id);
        Assert.Contains("\"id\":\"_disk0\"", Wire.Print(config, Wire.VmConfig), StringComparison.Ordinal);
    }

    [Fact]
    public void User_ids_are_kept_and_never_handed_out_again()
    {
        var config = Wire.Parse("""{"payload":{"kernel":"/k"},"disks":[{"path":"/a","id":"_disk0"},{"path":"/b"}],"net":[{"id":"_disk1"}]}""", Wire.VmConfig);
        var allocator = DeviceIds.Assign(config);
        Assert.Equal("_disk0", config.Disks![0].Id);
        Assert.Equal("_disk2", config.Disks[1].Id);
        Assert.Equal("_disk1", config.Net![0].Id);
        Assert.Equal("_disk3", allocator.Next(DeviceIds.DiskPrefix));
        Assert.Null(VmConfigValidator.Validate(config));
    }

    [Fact]
    public void A_hot_plugged_device_continues_the_counter_and_a_released_id_is_free_again()
    {
        var config = Wire.Parse("""{"disks":[{"path":"/a"}]}""", Wire.VmConfig);
        var allocator = DeviceIds.Assign(config);
        Assert.Equal("_disk1", allocator.Next(DeviceIds.DiskPrefix));
        Assert.False(allocator.Reserve("_disk0"));
        allocator.Release("_disk0");
        Assert.True(allocator.Reserve("_disk0"));
    }

    [Fact]
    public void Assignment_writes_no_singleton_names_so_the_config_stays_valid()
    {
        var config = Wire.Parse("""{"payload":{"kernel":"/k"},"balloon":{"size":4096},"rtc":{}}""", Wire.VmConfig);
        DeviceIds.Assign(config);
        Assert.Null(config.Rng.Id);
        Assert.Null(config.Console.Id);
        Assert.Null(config.Balloon!.Id);
        Assert.Equal("__rng", DeviceIds.Effective(config.Rng, DeviceIds.Rng));
        Assert.Null(VmConfigValidator.Validate(config));
    }

    [Fact]
    public void Memory_actual_size_without_a_vm_is_memory_plus_zones()
    {
        Assert.Equal(536870912UL, MemorySize.Configured(new VmConfig()));
        var config = Wire.Parse("""{"memory":{"size":1073741824,"hotplug_size":1073741824,"zones":[{"id":"a","size":4096},{"id":"b","size":8192}]}}""", Wire.VmConfig);
        Assert.Equal(1073741824UL + 4096 + 8192, MemorySize.Configured(config));
    }
}
