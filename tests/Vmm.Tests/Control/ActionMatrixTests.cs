using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>
/// Every action × every phase through the real loop: the answer's kind, the events in order and
/// the phase a user then observes through vm.info. The expectations are contract §1.5/§2.3 with
/// DESIGN.md's error kinds, written out here independently of the product's table.
/// </summary>
public sealed class ActionMatrixTests
{
    // Cell syntax: "<Ok|Kind> [event event ...] [=Phase|=Exit]"; no "=" means the phase is unchanged.
    private static readonly (string Action, string Body, string[] Cells)[] Matrix =
    [
        // action                     body                                                     NoConfig / Created / BootFailed / Running / Paused
        ("vmm.ping", "", ["Ok", "Ok", "Ok", "Ok", "Ok"]),
        ("vmm.shutdown", "", [
            "Ok vmm/shutdown =Exit",
            "Ok vm/deleted vmm/shutdown =Exit",
            "Ok vm/shutdown vm/deleted vmm/shutdown =Exit",
            "Ok vm/shutdown vm/deleted vmm/shutdown =Exit",
            "Ok vm/shutdown vm/deleted vmm/shutdown =Exit"]),
        ("vm.create", VmmHarness.BootableConfig, ["Ok =Created", "InvalidState", "InvalidState", "InvalidState", "InvalidState"]),
        ("vm.delete", "", [
            "Ok", "Ok vm/deleted =NoConfig",
            "Ok vm/shutdown vm/deleted =NoConfig", "Ok vm/shutdown vm/deleted =NoConfig", "Ok vm/shutdown vm/deleted =NoConfig"]),
        ("vm.boot", "", ["NotCreated vm/booting", "Ok vm/booting vm/booted =Running", "InvalidState", "InvalidState", "InvalidState"]),
        ("vm.shutdown", "", ["NotCreated", "InvalidState", "Ok vm/shutdown =Created", "Ok vm/shutdown =Created", "Ok vm/shutdown =Created"]),
        ("vm.reboot", "", [
            "NotCreated vm/rebooting", "InvalidState vm/rebooting",
            "Ok vm/rebooting vm/rebooted =Running", "Ok vm/rebooting vm/rebooted =Running", "Ok vm/rebooting vm/rebooted =Running"]),
        ("vm.pause", "", ["NotCreated", "InvalidState", "InvalidState vm/pausing", "Ok vm/pausing vm/paused =Paused", "InvalidState vm/pausing"]),
        ("vm.resume", "", ["NotCreated", "InvalidState", "InvalidState vm/resuming", "InvalidState vm/resuming", "Ok vm/resuming vm/resumed =Running"]),
        ("vm.power-button", "", ["NotCreated", "InvalidState", "InvalidState", "Ok", "Ok"]),
        ("vm.nmi", "", ["NotCreated", "InvalidState", "InvalidState", "Ok", "Ok"]),
        ("vm.info", "", ["NotCreated", "Ok", "Ok", "Ok", "Ok"]),
        ("vm.counters", "", ["NotCreated", "InvalidState", "Ok", "Ok", "Ok"]),
        ("vm.resize", """{"desired_vcpus":1}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.resize-disk", """{"id":"disk0","desired_size":1048576}""", ["NotCreated", "InvalidState", "Internal", "Internal", "Internal"]),
        ("vm.resize-zone", """{"id":"zone0","desired_ram":1048576}""", ["NotCreated", "NotFound", "Internal", "Internal", "Internal"]),
        ("vm.add-device", """{"path":"/sys/bus/pci/devices/0000:00:05.0"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-user-device", """{"socket":"/tmp/user.sock"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-disk", """{"path":"/tmp/d2.img"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-fs", """{"tag":"fs0","socket":"/tmp/fs.sock"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-generic-vhost-user", """{"socket":"/tmp/g.sock","queue_sizes":[256],"device_type":1}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-pmem", """{"file":"/tmp/pmem.img","size":1048576}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-net", """{"tap":"tap9"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-vdpa", """{"path":"/dev/vhost-vdpa-0"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.add-vsock", """{"cid":3,"socket":"/tmp/vsock.sock"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.remove-device", """{"id":"disk0"}""", ["NotCreated", "Ok", "Internal", "Internal", "Internal"]),
        ("vm.snapshot", """{"destination_url":"file:///nonexistent/snap"}""", ["NotCreated", "InvalidState", "InvalidState vm/snapshotting", "InvalidState vm/snapshotting", "InvalidArgument vm/snapshotting"]),
#if GUEST_DEBUG
        ("vm.coredump", """{"destination_url":"file:///nonexistent/core"}""", ["NotCreated", "InvalidState", "InvalidState vm/coredumping", "InvalidArgument vm/coredumping", "InvalidArgument vm/coredumping"]),
#endif
        ("vm.restore", """{"source_url":"file:///nonexistent/snap"}""", ["InvalidArgument", "InvalidState", "InvalidState", "InvalidState", "InvalidState"]),
        // URLs without a port: refused before anything listens or connects.
        ("vm.receive-migration", """{"receiver_url":"tcp:localhost"}""", ["InvalidArgument", "InvalidState", "InvalidState", "InvalidState", "InvalidState"]),
        ("vm.send-migration", """{"destination_url":"tcp:localhost"}""", ["NotCreated", "InvalidState", "InvalidArgument", "InvalidArgument", "InvalidArgument"]),
    ];

    public static TheoryData<string, VmmPhase> Cells()
    {
        var data = new TheoryData<string, VmmPhase>();
        foreach (var (action, _, _) in Matrix)
        {
            foreach (var phase in VmmPhases.All)
            {
                data.Add(action, phase);
            }
        }

        return data;
    }

    [Fact]
    public void The_matrix_lists_every_catalog_action_once()
    {
        Assert.Equal(ApiCatalog.All.Select(a => a.Name).Order(), Matrix.Select(r => r.Action).Order());
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public async Task Action_in_phase_answers_emits_and_moves_as_upstream(string action, VmmPhase phase)
    {
        var row = Matrix.Single(r => r.Action == action);
        var cell = row.Cells[(int)phase].Split(' ');
        var expectedKind = cell[0];
        var expectedEvents = cell.Skip(1).Where(c => !c.StartsWith('=')).ToArray();
        var expectedPhase = cell.FirstOrDefault(c => c.StartsWith('='))?[1..];

        await using var vmm = VmmHarness.Start();
        await vmm.Reach(phase);
        var mark = vmm.Mark();

        var result = await vmm.Send(action, row.Body);

        Assert.True(
            expectedKind == (result.Error?.Kind.ToString() ?? "Ok"),
            $"{action} in {phase}: expected {expectedKind}, got {result.Error?.ToString() ?? "Ok"}");
        if (result.Error is { } error)
        {
            Assert.Equal(ApiCatalog.Find(action)!.ErrorMessage, error.Message);
            Assert.NotEmpty(error.Causes);
        }

        Assert.Equal(expectedEvents, vmm.EventsSince(mark));
        if (expectedPhase == "Exit")
        {
            Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        else
        {
            Assert.Equal(expectedPhase is null ? phase : Enum.Parse<VmmPhase>(expectedPhase), await vmm.ObservedPhase());
        }
    }
}
