using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Tests.Models;
using CloudHypervisor.InternalApi.Validation;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Validation;

/// <summary>Contract §1.5 "Cold add": validate a clone with the device appended; store it only when valid.</summary>
public sealed class ColdAddTests
{
    private static VmConfig Bootable() => Wire.Parse("""{"payload":{"kernel":"/k"}}""", Wire.VmConfig);

    [Fact]
    public void A_valid_disk_is_appended_without_an_id_and_the_stored_config_is_untouched()
    {
        var stored = Bootable();
        var result = ColdAdd.Disk(stored, new DiskConfig { Path = "/a" });
        Assert.Null(result.Error);
        Assert.Equal("/a", Assert.Single(result.Config!.Disks!).Path);
        Assert.Null(result.Config.Disks![0].Id);
        Assert.Null(stored.Disks);
    }

    [Fact]
    public void A_duplicate_id_is_409_with_upstreams_chain()
    {
        var stored = ColdAdd.Disk(Bootable(), new DiskConfig { Path = "/a", Id = "disk0" }).Config!;
        var error = ColdAdd.Disk(stored, new DiskConfig { Path = "/b", Id = "disk0" }).Error!;
        Assert.Equal(ApiErrorKind.AlreadyExists, error.Kind);
        Assert.Equal(["Error from API", "The disk could not be added to the VM", "Failed to validate config", "Identifier disk0 is not unique"], error.Chain);
    }

    [Fact]
    public void A_vm_created_without_payload_cannot_cold_add_anything()
    {
        var error = ColdAdd.Net(new VmConfig(), new NetConfig()).Error!;
        Assert.Equal(ApiErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(
            ["Error from API", "The network device could not be added to the VM", "Failed to validate config", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"],
            error.Chain);
    }

    [Fact]
    public void A_second_vsock_is_refused_as_too_many()
    {
        var stored = ColdAdd.Vsock(Bootable(), new VsockConfig { Cid = 3, Socket = "/v" }).Config!;
        var error = ColdAdd.Vsock(stored, new VsockConfig { Cid = 4, Socket = "/w" }).Error!;
        Assert.Equal(ApiErrorKind.AlreadyExists, error.Kind);
        Assert.Equal(["Error from API", "The vsock device could not be added to the VM", "Too many virtio-vsock devices"], error.Chain);
    }

    [Fact]
    public void Every_device_kind_can_be_cold_added_to_a_shared_memory_vm()
    {
        var stored = Wire.Parse("""{"payload":{"kernel":"/k"},"memory":{"size":1073741824,"shared":true}}""", Wire.VmConfig);
        stored = ColdAdd.Disk(stored, new DiskConfig { Path = "/d" }).Config!;
        stored = ColdAdd.Net(stored, new NetConfig()).Config!;
        stored = ColdAdd.Fs(stored, new FsConfig { Tag = "t", Socket = "/fs" }).Config!;
        stored = ColdAdd.Pmem(stored, new PmemConfig { File = "/p" }).Config!;
        stored = ColdAdd.Device(stored, new DeviceConfig { Path = "/sys/d" }).Config!;
        stored = ColdAdd.UserDevice(stored, new UserDeviceConfig { Socket = "/u" }).Config!;
        stored = ColdAdd.Vdpa(stored, new VdpaConfig { Path = "/v" }).Config!;
        stored = ColdAdd.GenericVhostUser(stored, new GenericVhostUserConfig { Socket = "/g", QueueSizes = [256], DeviceType = 26 }).Config!;
        stored = ColdAdd.Vsock(stored, new VsockConfig { Cid = 3, Socket = "/vs" }).Config!;
        Assert.NotNull(stored.Vsock);
        Assert.Single(stored.GenericVhostUser!);
        Assert.Single(stored.Vdpa!);
    }
}
