using System.Text;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

/// <summary>
/// What ch-remote sends must be what the API accepts: every body built from an option string goes
/// through the catalog's strict body parser (unknown fields and wrong types are refused there).
/// </summary>
public sealed class RemoteBodiesAcceptedTests
{
    public static TheoryData<string, string, int> Bodies() => new()
    {
        { "vm.add-disk", ApiJson.Serialize(Ok(RemoteOptions.AddDisk("path=/a.img,readonly=on,id=d0,queue_affinity=[0@[1]],bw_size=10,bw_refill_time=5")), ApiJsonContext.Default.DiskConfig), 0 },
        { "vm.add-net", ApiJson.Serialize(Ok(RemoteOptions.AddNet("tap=tap0,ip=10.0.0.1,mask=255.255.255.0,fd=[3]")).Body, ApiJsonContext.Default.NetConfig), Ok(RemoteOptions.AddNet("tap=tap0,fd=[3]")).Fds.Count },
        { "vm.add-fs", ApiJson.Serialize(Ok(RemoteOptions.AddFs("tag=t,socket=/s")), ApiJsonContext.Default.FsConfig), 0 },
        { "vm.add-pmem", ApiJson.Serialize(Ok(RemoteOptions.AddPmem("file=/p,size=1M")), ApiJsonContext.Default.PmemConfig), 0 },
        { "vm.add-device", ApiJson.Serialize(Ok(RemoteOptions.AddDevice("path=/sys/x,x_exclude_mmap_bars=[2]")).Body, ApiJsonContext.Default.DeviceConfig), 0 },
        { "vm.add-user-device", ApiJson.Serialize(Ok(RemoteOptions.AddUserDevice("socket=/u")), ApiJsonContext.Default.UserDeviceConfig), 0 },
        { "vm.add-vdpa", ApiJson.Serialize(Ok(RemoteOptions.AddVdpa("path=/dev/vhost-vdpa-0")), ApiJsonContext.Default.VdpaConfig), 0 },
        { "vm.add-vsock", ApiJson.Serialize(Ok(RemoteOptions.AddVsock("cid=3,socket=/v")), ApiJsonContext.Default.VsockConfig), 0 },
        { "vm.add-generic-vhost-user", ApiJson.Serialize(Ok(RemoteOptions.AddGenericVhostUser("device_type=fs,socket=/g,queue_sizes=[1024]")), ApiJsonContext.Default.GenericVhostUserConfig), 0 },
        { "vm.resize", RemoteJson.Resize(Ok(RemoteOptions.Resize("2", "1G", null))), 0 },
        { "vm.resize-disk", ApiJson.Serialize(Ok(RemoteOptions.ResizeDisk("d0", "2G")), ApiJsonContext.Default.VmResizeDisk), 0 },
        { "vm.resize-zone", ApiJson.Serialize(Ok(RemoteOptions.ResizeZone("z0", "1G")), ApiJsonContext.Default.VmResizeZone), 0 },
        { "vm.restore", RemoteJson.Restore(Ok(RemoteOptions.Restore("source_url=file:///s,net_fds=[net0@[3,4]],vfio_fds=[v0@5],iommufd_fd=6,zone_updates=[z@1]")).Body),
            Ok(RemoteOptions.Restore("source_url=file:///s,net_fds=[net0@[3,4]],vfio_fds=[v0@5],iommufd_fd=6")).Fds.Count },
        { "vm.receive-migration", RemoteJson.ReceiveMigration(Ok(RemoteOptions.ReceiveMigration("receiver_url=unix:/r,vfio_fds=[v0@5],iommufd_fd=6")).Body),
            Ok(RemoteOptions.ReceiveMigration("receiver_url=unix:/r,vfio_fds=[v0@5],iommufd_fd=6")).Fds.Count },
        { "vm.send-migration", RemoteJson.SendMigration(Ok(RemoteOptions.SendMigration("destination_url=unix:/s,tls_dir=/c"))), 0 },
        { "vm.snapshot", ApiJson.Serialize(RemoteOptions.Snapshot("file:///tmp/snap"), ApiJsonContext.Default.VmSnapshotConfig), 0 },
        { "vm.remove-device", ApiJson.Serialize(RemoteOptions.RemoveDevice("_disk0"), ApiJsonContext.Default.VmRemoveDevice), 0 },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public void The_body_ch_remote_builds_is_accepted_by_the_api(string action, string body, int passedFds)
    {
        // The descriptors ch-remote moves out of the option string travel beside the body.
        var fds = new PassedFds(Enumerable.Range(0, passedFds).Select(_ => File.OpenHandle("/dev/null")));
        var parsed = ApiCatalog.All.Single(a => a.Name == action).Parse(Encoding.UTF8.GetBytes(body), fds);
        Assert.True(parsed.Error is null, $"{action} refused {body}: {parsed.Error}");
        parsed.Command!.Fds.Dispose();
    }

    [Fact]
    public void A_cli_built_vm_config_is_accepted_by_vm_create()
    {
        var config = Ok(VmConfigBuilder.Build(new VmFlags
        {
            Kernel = "/k",
            Disks = ["path=/a.img"],
            Net = ["tap=tap0"],
            Numa = ["guest_numa_id=0,cpus=[0]"],
            Platform = "oem_strings=[a]",
            RateLimitGroups = ["id=g0,bw_size=1,bw_refill_time=1"],
        }));
        var body = ApiJson.Serialize(config, ApiJsonContext.Default.VmConfig);
        var parsed = ApiCatalog.VmCreate.Parse(Encoding.UTF8.GetBytes(body));
        Assert.True(parsed.Error is null, $"vm.create refused {body}: {parsed.Error}");
    }
}
