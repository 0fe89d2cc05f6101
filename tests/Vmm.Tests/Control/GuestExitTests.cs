using CloudHypervisor.EventMonitor;
using CloudHypervisor.Vmm.Control;
using CloudHypervisor.Vmm.Hypervisor;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>Guest- and signal-driven transitions (contract §2.4), played through the loop's IGuestEvents.</summary>
public sealed class GuestExitTests
{
    [Fact]
    public async Task Guest_poweroff_shuts_the_vmm_down_with_exit_code_0()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        var mark = vmm.Mark();

        vmm.Hypervisor.LastVm!.Events.GuestExited(new GuestExit(GuestExitKind.Poweroff, "ACPI S5"));

        Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["vm/shutdown", "vm/deleted", "vmm/shutdown"], vmm.EventsSince(mark));
        Assert.Equal(["boot", "shutdown", "dispose"], vmm.Hypervisor.LastVm.Calls);
    }

    [Fact]
    public async Task Guest_poweroff_with_no_shutdown_only_shuts_the_vm_down_and_it_can_boot_again()
    {
        await using var vmm = VmmHarness.Start(noShutdown: true);
        await vmm.Reach(VmmPhase.Running);
        var mark = vmm.Mark();

        vmm.Hypervisor.LastVm!.Events.GuestExited(new GuestExit(GuestExitKind.Poweroff, "ACPI S5"));
        await VmmHarness.Eventually(async () => await vmm.ObservedPhase() == VmmPhase.Created);

        Assert.Equal(["vm/shutdown"], vmm.EventsSince(mark));
        Assert.False(vmm.Run.IsCompleted);
        await vmm.Ok("vm.boot");
        Assert.Equal(2, vmm.Hypervisor.Vms.Count);
    }

    [Fact]
    public async Task Guest_reset_reboots_into_a_new_vm_with_rebooting_and_rebooted()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        var first = vmm.Hypervisor.LastVm!;
        var mark = vmm.Mark();

        first.Events.GuestExited(new GuestExit(GuestExitKind.Reset, "i8042 0xFE"));
        await VmmHarness.Eventually(() => Task.FromResult(vmm.Hypervisor.Vms.Count == 2 && vmm.EventsSince(mark).Count == 2));

        Assert.Equal(["vm/rebooting", "vm/rebooted"], vmm.EventsSince(mark));
        Assert.True(first.Disposed);
        Assert.Equal(VmmPhase.Running, await vmm.ObservedPhase());
    }

    [Fact]
    public async Task An_exit_reported_by_a_vm_that_was_already_replaced_is_ignored()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        var old = vmm.Hypervisor.LastVm!;
        await vmm.Ok("vm.reboot");
        var mark = vmm.Mark();

        old.Events.GuestExited(new GuestExit(GuestExitKind.Poweroff, "late exit from the old VM"));
        await vmm.Ok("vmm.ping");

        Assert.Empty(vmm.EventsSince(mark));
        Assert.Equal(VmmPhase.Running, await vmm.ObservedPhase());
    }

    [Fact]
    public async Task A_poweroff_during_a_slow_boot_is_applied_once_the_boot_completes()
    {
        await using var vmm = VmmHarness.Start(noShutdown: true);
        await vmm.Reach(VmmPhase.Created);
        vmm.Hypervisor.BootGate = new SemaphoreSlim(0);
        var boot = vmm.Send("vm.boot");
        Assert.True(await vmm.Hypervisor.BootStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var mark = vmm.Mark();

        vmm.Hypervisor.LastVm!.Events.GuestExited(new GuestExit(GuestExitKind.Poweroff, "powered off while booting"));
        await vmm.Ok("vmm.ping");
        vmm.Hypervisor.BootGate.Release();

        Assert.True((await boot).IsSuccess);
        await VmmHarness.Eventually(async () => await vmm.ObservedPhase() == VmmPhase.Created);
        Assert.Equal(["vm/booted", "vm/shutdown"], vmm.EventsSince(mark));
    }

    [Fact]
    public async Task Device_events_from_backend_threads_reach_the_event_monitor()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        var mark = vmm.Mark();

        await Task.Run(() => vmm.Hypervisor.LastVm!.Events.DeviceEvent(Events.Guest.Panic, new Dictionary<string, string> { ["event"] = "panic" }));

        var record = Assert.Single(vmm.Records(), r => r.Seq >= mark);
        Assert.Equal(("guest", "panic", "panic"), (record.Source, record.Event, record.Properties!["event"]));
    }

    [Fact]
    public async Task A_shutdown_request_from_a_signal_deletes_the_vm_and_ends_the_loop()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);
        var mark = vmm.Mark();

        vmm.Loop.RequestShutdown();

        Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["vm/shutdown", "vm/deleted", "vmm/shutdown"], vmm.EventsSince(mark));
    }
}
