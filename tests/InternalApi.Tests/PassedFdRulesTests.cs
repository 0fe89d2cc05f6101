using System.Text;
using CloudHypervisor.InternalApi.Models;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests;

/// <summary>
/// Contract §1.6 as <see cref="ApiAction.Parse(ReadOnlyMemory{byte}, PassedFds)"/> applies it: which
/// received descriptor lands where, which counts are refused, and that every descriptor not handed
/// on with the command is closed. The descriptors are real ones, opened on /dev/null.
/// </summary>
public sealed class PassedFdRulesTests : IDisposable
{
    private readonly List<SafeFileHandle> _opened = [];

    public void Dispose()
    {
        foreach (var handle in _opened)
        {
            handle.Dispose();
        }
    }

    private List<SafeFileHandle> Open(int count)
    {
        var handles = Enumerable.Range(0, count).Select(_ => File.OpenHandle("/dev/null")).ToList();
        _opened.AddRange(handles);
        return handles;
    }

    private static int Number(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static ApiCommandOrError Parse(ApiAction action, string body, IEnumerable<SafeFileHandle> handles) =>
        action.Parse(Encoding.UTF8.GetBytes(body), new PassedFds(handles));

    private static TCommand Accepted<TCommand>(ApiCommandOrError parsed) where TCommand : ApiCommand
    {
        Assert.True(parsed.Error is null, parsed.Error?.ToString());
        return Assert.IsType<TCommand>(parsed.Command);
    }

    [Fact]
    public void Add_net_attaches_every_passed_fd_in_order_and_the_command_owns_them()
    {
        var handles = Open(3);

        var command = Accepted<VmAddNetCommand>(Parse(ApiCatalog.VmAddNet, """{"id":"net0","fds":[7],"num_queues":6}""", handles));

        Assert.Equal(handles.Select(Number), command.Config.Fds!);
        Assert.Equal(handles.Select(Number), command.Fds.Numbers);
        Assert.All(handles, h => Assert.False(h.IsClosed));

        command.Fds.Dispose();
        Assert.All(handles, h => Assert.True(h.IsClosed));
    }

    [Fact]
    public void Add_net_without_passed_fds_clears_numbers_from_the_JSON()
    {
        var command = Accepted<VmAddNetCommand>(Parse(ApiCatalog.VmAddNet, """{"id":"net0","fds":[7,8]}""", []));

        Assert.Null(command.Config.Fds);
        Assert.Equal(0, command.Fds.Count);
    }

    [Fact]
    public void Add_device_takes_one_fd_as_the_VFIO_cdev_and_a_JSON_number_is_cleared()
    {
        var handles = Open(1);

        var one = Accepted<VmAddDeviceCommand>(Parse(ApiCatalog.VmAddDevice, """{"id":"vfio0","fd":9}""", handles));
        var none = Accepted<VmAddDeviceCommand>(Parse(ApiCatalog.VmAddDevice, """{"id":"vfio1","path":"/sys/bus/pci/devices/0000:00:04.0","fd":9}""", []));

        Assert.Equal(Number(handles[0]), one.Config.Fd);
        Assert.False(handles[0].IsClosed);
        Assert.Null(none.Config.Fd);
        one.Fds.Dispose();
    }

    [Fact]
    public void Add_device_with_two_fds_is_Bad_Request_and_closes_both()
    {
        var handles = Open(2);

        var parsed = Parse(ApiCatalog.VmAddDevice, """{"id":"vfio0"}""", handles);

        Assert.Null(parsed.Command);
        Assert.Equal(ApiErrorKind.InvalidArgument, parsed.Error!.Kind);
        Assert.Equal(["Bad Request", "vm.add-device takes at most 1 file descriptor (the VFIO cdev); the request came with 2"], parsed.Error.Chain);
        Assert.All(handles, h => Assert.True(h.IsClosed));
    }

    [Fact]
    public void Restore_distributes_net_fds_by_num_fds_then_vfio_then_iommufd()
    {
        var handles = Open(6);
        var n = handles.Select(Number).ToList();

        var command = Accepted<VmRestoreCommand>(Parse(ApiCatalog.VmRestore, """
            {"source_url":"file:///snap","iommufd_fd":3,
             "net_fds":[{"id":"net0","num_fds":2,"fds":[40,41]},{"id":"net1","num_fds":1}],
             "vfio_fds":[{"id":"vfio0","fd":42},{"id":"vfio1"}]}
            """, handles));

        var restore = command.Config;
        Assert.Equal([n[0], n[1]], restore.NetFds![0].Fds!);
        Assert.Equal([n[2]], restore.NetFds[1].Fds!);
        Assert.Equal(n[3], restore.VfioFds![0].Fd);
        Assert.Equal(n[4], restore.VfioFds[1].Fd);
        Assert.Equal(n[5], restore.IommufdFd);
        Assert.Equal(n, command.Fds.Numbers);
        Assert.All(handles, h => Assert.False(h.IsClosed));
        command.Fds.Dispose();
    }

    [Fact]
    public void Restore_without_vfio_fds_expects_no_iommufd_and_clears_a_JSON_iommufd()
    {
        var handles = Open(2);

        var command = Accepted<VmRestoreCommand>(Parse(ApiCatalog.VmRestore,
            """{"source_url":"file:///snap","iommufd_fd":3,"net_fds":[{"id":"net0","num_fds":2}]}""", handles));

        Assert.Equal(handles.Select(Number), command.Config.NetFds![0].Fds!);
        Assert.Null(command.Config.IommufdFd);
        Assert.Null(command.Config.VfioFds);
        command.Fds.Dispose();
    }

    [Fact]
    public void Restore_without_any_fds_needs_none()
    {
        var command = Accepted<VmRestoreCommand>(Parse(ApiCatalog.VmRestore, """{"source_url":"file:///snap"}""", []));

        Assert.Null(command.Config.IommufdFd);
        Assert.Equal(0, command.Fds.Count);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(0)]
    public void Restore_with_the_wrong_count_is_Bad_Request_naming_both_counts_and_closes_them(int passed)
    {
        var handles = Open(passed);

        var parsed = Parse(ApiCatalog.VmRestore,
            """{"source_url":"file:///snap","net_fds":[{"id":"net0","num_fds":2}],"vfio_fds":[{"id":"vfio0"}]}""", handles);

        Assert.Null(parsed.Command);
        Assert.Equal(ApiErrorKind.InvalidArgument, parsed.Error!.Kind);
        Assert.Equal(["Bad Request",
            $"vm.restore needs 4 file descriptor(s) passed with the request (net_fds 2, vfio_fds 1, iommufd 1); it came with {passed}"], parsed.Error.Chain);
        Assert.All(handles, h => Assert.True(h.IsClosed));
    }

    [Theory]
    [InlineData("""{"source_url":"file:///s","net_fds":[{"id":"a","num_fds":18446744073709551615},{"id":"b","num_fds":1}]}""", 0)]
    [InlineData("""{"source_url":"file:///s","net_fds":[{"id":"a","num_fds":18446744073709551615}],"vfio_fds":[{"id":"v"}]}""", 1)]
    public void Restore_with_a_num_fds_that_would_wrap_the_count_is_Bad_Request_and_closes_them(string body, int passed)
    {
        var handles = Open(passed);

        var parsed = Parse(ApiCatalog.VmRestore, body, handles);

        Assert.Equal(ApiErrorKind.InvalidArgument, parsed.Error?.Kind);
        Assert.Contains($"it came with {passed}", parsed.Error!.ToString(), StringComparison.Ordinal);
        Assert.All(handles, h => Assert.True(h.IsClosed));
    }

    [Fact]
    public void Receive_migration_takes_vfio_fds_then_iommufd()
    {
        var handles = Open(3);
        var n = handles.Select(Number).ToList();

        var command = Accepted<VmReceiveMigrationCommand>(Parse(ApiCatalog.VmReceiveMigration,
            """{"receiver_url":"unix:/tmp/m","iommufd_fd":4,"vfio_fds":[{"id":"vfio0","fd":5},{"id":"vfio1"}]}""", handles));

        Assert.Equal(n[0], command.Config.VfioFds![0].Fd);
        Assert.Equal(n[1], command.Config.VfioFds[1].Fd);
        Assert.Equal(n[2], command.Config.IommufdFd);
        Assert.All(handles, h => Assert.False(h.IsClosed));
        command.Fds.Dispose();
    }

    [Fact]
    public void Receive_migration_with_the_wrong_count_is_Bad_Request_and_closes_them()
    {
        var handles = Open(2);

        var parsed = Parse(ApiCatalog.VmReceiveMigration, """{"receiver_url":"unix:/tmp/m","vfio_fds":[{"id":"vfio0"},{"id":"vfio1"}]}""", handles);

        Assert.Equal(["Bad Request",
            "vm.receive-migration needs 3 file descriptor(s) passed with the request (net_fds 0, vfio_fds 2, iommufd 1); it came with 2"], parsed.Error!.Chain);
        Assert.All(handles, h => Assert.True(h.IsClosed));

        var extra = Open(1);
        var noVfio = Parse(ApiCatalog.VmReceiveMigration, """{"receiver_url":"unix:/tmp/m"}""", extra);
        Assert.Equal(["Bad Request",
            "vm.receive-migration needs 0 file descriptor(s) passed with the request (net_fds 0, vfio_fds 0, iommufd 0); it came with 1"], noVfio.Error!.Chain);
        Assert.True(extra[0].IsClosed);
    }

    [Fact]
    public void Create_takes_no_fds_closes_passed_ones_and_clears_every_JSON_fd()
    {
        var handles = Open(2);

        var command = Accepted<VmCreateCommand>(Parse(ApiCatalog.VmCreate, """
            {"payload":{"kernel":"/k"},"net":[{"id":"net0","fds":[5,6]}],
             "devices":[{"id":"vfio0","path":"/sys/bus/pci/devices/0000:00:04.0","fd":7}],
             "platform":{"iommufd":true,"iommufd_fd":8}}
            """, handles));

        Assert.Null(command.Config.Net![0].Fds);
        Assert.Null(command.Config.Devices![0].Fd);
        Assert.Null(command.Config.Platform!.IommufdFd);
        Assert.Equal(0, command.Fds.Count);
        Assert.Empty(command.Config.FileDescriptors());
        Assert.All(handles, h => Assert.True(h.IsClosed));
    }

    [Fact]
    public void Actions_that_take_no_fds_close_passed_ones()
    {
        var disk = Open(1);
        var boot = Open(1);
        var ping = Open(1);

        Accepted<VmAddDiskCommand>(Parse(ApiCatalog.VmAddDisk, """{"path":"/d.img"}""", disk));
        Accepted<VmBootCommand>(ApiCatalog.VmBoot.Parse(ReadOnlyMemory<byte>.Empty, new PassedFds(boot)));
        Accepted<VmmPingCommand>(ApiCatalog.VmmPing.Parse(ReadOnlyMemory<byte>.Empty, new PassedFds(ping)));

        Assert.True(disk[0].IsClosed);
        Assert.True(boot[0].IsClosed);
        Assert.True(ping[0].IsClosed);
    }

    [Fact]
    public void A_body_that_does_not_parse_closes_the_fds()
    {
        var malformed = Open(1);
        var unknownField = Open(1);
        var missingBody = Open(1);

        Assert.NotNull(Parse(ApiCatalog.VmAddNet, """{"id":""", malformed).Error);
        Assert.NotNull(Parse(ApiCatalog.VmAddNet, """{"id":"net0","no_such_field":1}""", unknownField).Error);
        Assert.NotNull(ApiCatalog.VmAddNet.Parse(ReadOnlyMemory<byte>.Empty, new PassedFds(missingBody)).Error);

        Assert.True(malformed[0].IsClosed);
        Assert.True(unknownField[0].IsClosed);
        Assert.True(missingBody[0].IsClosed);
    }
}
