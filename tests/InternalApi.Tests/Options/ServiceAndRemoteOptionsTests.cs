using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class ServiceAndRemoteOptionsTests
{
    [Theory]
    [InlineData("/tmp/ch.sock", "/tmp/ch.sock")]
    [InlineData("path=/tmp/ch.sock", "/tmp/ch.sock")]
    [InlineData("/tmp/a=b", "/tmp/a=b")]
    [InlineData("path=/tmp/x,bogus=1", "/tmp/x")]
    public void Api_socket_takes_a_path_in_either_form(string input, string path)
    {
        Assert.Equal(new ApiSocketOption(path, null), Ok(ServiceOptions.ApiSocket(input)));
    }

    [Fact]
    public void Api_socket_fd_wins_over_path()
    {
        Assert.Equal(new ApiSocketOption(null, 3), Ok(ServiceOptions.ApiSocket("fd=3")));
        Assert.Equal(new ApiSocketOption(null, 4), Ok(ServiceOptions.ApiSocket("path=/tmp/x,fd=4")));
    }

    [Fact]
    public void A_non_numeric_api_socket_fd_is_an_error()
    {
        Fails(ServiceOptions.ApiSocket("fd=abc"), "Error parsing --api-socket", "invalid digit found in string");
    }

    [Fact]
    public void Event_monitor_takes_path_or_fd()
    {
        Assert.Equal(new EventMonitorOption("/tmp/ev", null), Ok(ServiceOptions.EventMonitor("path=/tmp/ev")));
        Assert.Equal(new EventMonitorOption(null, 5), Ok(ServiceOptions.EventMonitor("fd=5,path=/tmp/ev")));
    }

    [Fact]
    public void Event_monitor_errors_match_upstream()
    {
        Fails(ServiceOptions.EventMonitor("/x"), "Error parsing --event-monitor", "Unknown option: /x");
        Fails(ServiceOptions.EventMonitor(""), "Error parsing --event-monitor: path or fd required");
        Fails(ServiceOptions.EventMonitor("fd=x"), "Error parsing --event-monitor", "Unable to convert x for fd");
    }

    [Fact]
    public void Gdb_needs_a_path()
    {
        Assert.Equal("/tmp/gdb.sock", Ok(ServiceOptions.Gdb("path=/tmp/gdb.sock")));
        Fails(ServiceOptions.Gdb("/tmp/gdb.sock"), "Error parsing --gdb", "Unknown option: /tmp/gdb.sock");
        Fails(ServiceOptions.Gdb(""), "Error parsing --gdb: path required");
    }

    [Fact]
    public void Restore_reads_every_option()
    {
        var restore = Ok(ServiceOptions.Restore(
            "source_url=file:///snap,prefault=on,memory_restore_mode=ondemand,net_fds=[net0@[3,4],net1@[5,6,7,8]],vfio_fds=[vfio0@9],iommufd_fd=10,resume=true,zone_updates=[zone1@1]"));
        Assert.Equal(("file:///snap", true, MemoryRestoreMode.OnDemand, true, (int?)10), (restore.SourceUrl, restore.Prefault, restore.MemoryRestoreMode, restore.Resume, restore.IommufdFd));
        Assert.Equal(["net0", "net1"], restore.NetFds!.Select(n => n.Id));
        Assert.Equal([2UL, 4UL], restore.NetFds!.Select(n => n.NumFds));
        Assert.Equal([5, 6, 7, 8], restore.NetFds![1].Fds);
        Assert.Equal(("vfio0", (int?)9), (restore.VfioFds![0].Id, restore.VfioFds[0].Fd));
        Assert.Equal(("zone1", 1U), (restore.ZoneUpdates![0].Id, restore.ZoneUpdates[0].HostNumaNode));
    }

    [Theory]
    [InlineData("source_url=/s,resume=on,zone_updates=[@1]")]
    [InlineData("source_url=/s,resume=on,zone_updates=[id1@]")]
    [InlineData("source_url=/s,resume=on,zone_updates=[id1 1]")]
    [InlineData("source_url=/s,resume=on,zone_updates=[[id1@1]]")]
    [InlineData("source_url=/s,memory_restore_mode=bogus")]
    public void Malformed_restore_values_are_conversion_errors(string input)
    {
        var result = ServiceOptions.Restore(input);
        Assert.False(result.IsOk);
        Assert.Equal("Failed to parse configuration string", result.Error.Chain[0]);
        Assert.StartsWith("Unable to convert ", result.Error.Chain[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Restore_needs_a_source_url()
    {
        Fails(ServiceOptions.Restore("prefault=off"), "Error parsing --restore: source_url missing");
        Fails(ServiceOptions.Restore("zone_updates=id1@1"), "Error parsing --restore: source_url missing");
    }

    [Fact]
    public void Remote_restore_moves_fds_out_of_the_body_in_the_vmms_order()
    {
        var request = Ok(RemoteOptions.Restore("source_url=/s,net_fds=[net0@[3,4]],vfio_fds=[v0@5],iommufd_fd=6"));
        Assert.Equal([3, 4, 5, 6], request.Fds);
        Assert.Null(request.Body.NetFds![0].Fds);
        Assert.Equal(2UL, request.Body.NetFds[0].NumFds);
        Assert.Null(request.Body.VfioFds![0].Fd);
        Assert.Null(request.Body.IommufdFd);
        Fails(RemoteOptions.Restore("bogus=1"), "Error parsing restore syntax", "Failed to parse configuration string", "Unknown option: bogus");
    }

    [Fact]
    public void Resize_sizes_accept_suffixes_and_absent_arguments_stay_null()
    {
        var resize = Ok(RemoteOptions.Resize("4", "1G", null));
        Assert.Equal(((uint?)4, (ulong?)(1UL << 30), (ulong?)null), (resize.DesiredVcpus, resize.DesiredRam, resize.DesiredBalloon));
        Assert.Equal(512UL << 20, Ok(RemoteOptions.Resize(null, null, "512M")).DesiredBalloon);
    }

    [Fact]
    public void Resize_errors_use_ch_remotes_messages()
    {
        Fails(RemoteOptions.Resize("x", null, null), "Error parsing CPU count", "invalid digit found in string");
        Fails(RemoteOptions.Resize("256", null, null), "Error parsing CPU count", "number too large to fit in target type");
        Fails(RemoteOptions.Resize(null, "1T", null), "Error parsing memory size", "Invalid value: 1T");
        Fails(RemoteOptions.Resize(null, null, "lots"), "Error parsing balloon size", "Invalid value: lots");
    }

    [Fact]
    public void Resize_disk_and_zone_take_sizes()
    {
        var disk = Ok(RemoteOptions.ResizeDisk("_disk0", "2G"));
        Assert.Equal("{\"id\":\"_disk0\",\"desired_size\":2147483648}", ApiJson.Serialize(disk, ApiJsonContext.Default.VmResizeDisk));
        var zone = Ok(RemoteOptions.ResizeZone("mem0", "256M"));
        Assert.Equal(("mem0", 256UL << 20), (zone.Id, zone.DesiredRam));
        Fails(RemoteOptions.ResizeDisk("d", "big"), "Error parsing disk size", "Invalid value: big");
    }

    [Fact]
    public void Add_net_moves_its_fds_into_scm_rights()
    {
        var request = Ok(RemoteOptions.AddNet("fd=[3,7],mac=de:ad:be:ef:12:34,num_queues=4"));
        Assert.Equal([3, 7], request.Fds);
        Assert.Null(request.Body.Fds);
        Assert.DoesNotContain("fds", ApiJson.Serialize(request.Body, ApiJsonContext.Default.NetConfig), StringComparison.Ordinal);
        var device = Ok(RemoteOptions.AddDevice("fd=9,id=vfio0"));
        Assert.Equal([9], device.Fds);
        Assert.Null(device.Body.Fd);
    }

    [Fact]
    public void Add_commands_prefix_ch_remotes_message()
    {
        Fails(RemoteOptions.AddDisk("bogus"), "Error parsing disk syntax", "Failed to parse disk configuration", "Unknown option: bogus");
        Fails(RemoteOptions.AddFs("tag=t"), "Error parsing filesystem syntax", "Filesystem socket is missing");
        Fails(RemoteOptions.AddVsock("cid=3"), "Error parsing vsock syntax", "Vsock socket is missing");
        Assert.Equal("/p", Ok(RemoteOptions.AddPmem("file=/p")).File);
    }

    [Theory]
    [InlineData("unix:/tmp/sock", "unix:/tmp/sock")]
    [InlineData("tcp:0.0.0.0:6000", "tcp:0.0.0.0:6000")]
    [InlineData("unix:/tmp/ch=migrate.sock", "unix:/tmp/ch=migrate.sock")]
    [InlineData("receiver_url=unix:/tmp/ch=migrate.sock", "unix:/tmp/ch=migrate.sock")]
    [InlineData("receiver_url=tcp:[2001:db8::1]:8080", "tcp:[2001:db8::1]:8080")]
    public void Receive_migration_takes_a_bare_url_or_options(string input, string url)
    {
        var request = Ok(RemoteOptions.ReceiveMigration(input));
        Assert.Equal(url, request.Body.ReceiverUrl);
        Assert.Equal(MigrationMode.Precopy, request.Body.MemoryMode);
        Assert.Empty(request.Fds);
    }

    [Fact]
    public void Receive_migration_options_move_vfio_and_iommufd_fds()
    {
        var request = Ok(RemoteOptions.ReceiveMigration("receiver_url=tcp:127.0.0.1:1234,vfio_fds=[vfio0@5,vfio1@7],iommufd_fd=9,memory_mode=postcopy,zone_updates=[zone1@1,  zone1@1]"));
        Assert.Equal([5, 7, 9], request.Fds);
        Assert.Equal(MigrationMode.Postcopy, request.Body.MemoryMode);
        Assert.Equal(2, request.Body.ZoneUpdates!.Count);
        Assert.Equal(request.Body.ZoneUpdates[0].Id, request.Body.ZoneUpdates[1].Id);
        Fails(RemoteOptions.ReceiveMigration("memory_mode=postcopy"),
            "Error parsing receive migration syntax", "Failed to parse vm receive migration configuration", "Invalid syntax: receiver_url is required");
        Fails(RemoteOptions.ReceiveMigration("receiver_url=unix:/s,zone_updates=[]"),
            "Error parsing receive migration syntax", "Failed to parse vm receive migration configuration", "Unable to convert [] for zone_updates");
    }

    [Fact]
    public void Send_migration_fills_upstreams_defaults()
    {
        var data = Ok(RemoteOptions.SendMigration("destination_url=tcp:192.168.1.1:8080"));
        Assert.Equal(
            "{\"destination_url\":\"tcp:192.168.1.1:8080\",\"local\":false,\"downtime_ms\":300,\"timeout_s\":3600,\"timeout_strategy\":\"Cancel\",\"connections\":1,\"memory_mode\":\"Precopy\",\"preserve_source\":false}",
            ApiJson.Serialize(data, ApiJsonContext.Default.SendMigrationData));
        var full = Ok(RemoteOptions.SendMigration("destination_url=unix:/tmp/migrate.sock,local=on,downtime_ms=200,timeout_s=60,timeout_strategy=ignore,connections=4,tls_dir=/certs"));
        Assert.Equal((true, 200UL, 60UL, TimeoutStrategy.Ignore, 4U, "/certs"), (full.Local, full.DowntimeMs, full.TimeoutS, full.TimeoutStrategy, full.Connections, full.TlsDir));
    }

    [Fact]
    public void Send_migration_refuses_zeros_and_a_missing_destination()
    {
        Fails(RemoteOptions.SendMigration("destination_url=unix:/s,downtime_ms=0"),
            "Error parsing send migration syntax", "Failed to parse vm send migration configuration", "Invalid value: downtime_ms must be non-zero");
        Fails(RemoteOptions.SendMigration("local=on"),
            "Error parsing send migration syntax", "Failed to parse vm send migration configuration", "Invalid syntax: destination_url is required");
    }

    [Fact]
    public void Snapshot_coredump_and_remove_device_wrap_their_argument()
    {
        Assert.Equal("{\"destination_url\":\"file:///tmp/snap\"}", ApiJson.Serialize(RemoteOptions.Snapshot("file:///tmp/snap"), ApiJsonContext.Default.VmSnapshotConfig));
        Assert.Equal("/tmp/core", RemoteOptions.Coredump("/tmp/core").DestinationUrl);
        Assert.Equal("{\"id\":\"_disk0\"}", ApiJson.Serialize(RemoteOptions.RemoveDevice("_disk0"), ApiJsonContext.Default.VmRemoveDevice));
    }

    [Fact]
    public void Ch_remote_bodies_write_explicit_nulls_as_upstream()
    {
        Assert.Equal("{\"desired_vcpus\":4,\"desired_ram\":null,\"desired_balloon\":null}", RemoteJson.Resize(Ok(RemoteOptions.Resize("4", null, null))));
        Assert.Equal(
            "{\"receiver_url\":\"unix:/p\",\"tls_dir\":null,\"memory_mode\":\"Precopy\",\"vfio_fds\":null,\"iommufd_fd\":null,\"zone_updates\":[]}",
            RemoteJson.ReceiveMigration(Ok(RemoteOptions.ReceiveMigration("unix:/p")).Body));
        Assert.Equal(
            "{\"source_url\":\"/s\",\"prefault\":false,\"memory_restore_mode\":\"Copy\",\"net_fds\":[{\"id\":\"net0\",\"num_fds\":2,\"fds\":null}],\"vfio_fds\":null,\"iommufd_fd\":null,\"resume\":false,\"zone_updates\":[]}",
            RemoteJson.Restore(Ok(RemoteOptions.Restore("source_url=/s,net_fds=[net0@[3,4]]")).Body));
        Assert.Equal(
            "{\"destination_url\":\"unix:/s\",\"local\":true,\"preserve_source\":false,\"downtime_ms\":300,\"timeout_s\":3600,\"timeout_strategy\":\"Cancel\",\"connections\":1,\"tls_dir\":null,\"memory_mode\":\"Precopy\"}",
            RemoteJson.SendMigration(Ok(RemoteOptions.SendMigration("destination_url=unix:/s,local=on"))));
    }
}
