using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>DESIGN.md rule 3: long work runs off the loop; reads answer at once, conflicts answer Busy.</summary>
public sealed class OperationTests
{
    private static async Task<(VmmHarness Vmm, Task<ApiResult> Boot)> StartSlowBoot()
    {
        var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        vmm.Hypervisor.BootGate = new SemaphoreSlim(0);
        var boot = vmm.Send("vm.boot");
        Assert.True(await vmm.Hypervisor.BootStarted.WaitAsync(TimeSpan.FromSeconds(10)), "boot never started");
        return (vmm, boot);
    }

    [Fact]
    public async Task During_a_slow_boot_ping_info_and_counters_answer_at_once()
    {
        var (vmm, boot) = await StartSlowBoot();
        await using var _ = vmm;

        // The boot cannot finish before the gate opens, so answers now prove the reads did not wait.
        var ping = await vmm.Ok("vmm.ping");
        var info = await vmm.Ok("vm.info");
        var counters = await vmm.Send("vm.counters");

        Assert.False(boot.IsCompleted);
        Assert.Equal("54.0.0", JsonDocument.Parse(ping.Json!).RootElement.GetProperty("version").GetString());
        Assert.Equal("Created", JsonDocument.Parse(info.Json!).RootElement.GetProperty("state").GetString());
        Assert.Equal(ApiErrorKind.InvalidState, counters.Error!.Kind);

        vmm.Hypervisor.BootGate!.Release();
        Assert.True((await boot).IsSuccess);
        Assert.Equal(VmmPhase.Running, await vmm.ObservedPhase());
    }

    [Fact]
    public async Task During_a_slow_boot_pause_answers_Busy_naming_vm_boot()
    {
        var (vmm, boot) = await StartSlowBoot();
        await using var _ = vmm;

        var pause = await vmm.Send("vm.pause");
        var create = await vmm.Send("vm.create", "{}");

        Assert.Equal(ApiErrorKind.Busy, pause.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be paused", "vm.boot is in progress"], pause.Error.Chain);
        Assert.Equal(ApiErrorKind.Busy, create.Error!.Kind);
        vmm.Hypervisor.BootGate!.Release();
        Assert.True((await boot).IsSuccess);
        await vmm.Ok("vm.pause");
    }

    [Fact]
    public async Task Vmm_shutdown_during_a_slow_boot_waits_for_the_boot_then_shuts_everything_down()
    {
        var (vmm, boot) = await StartSlowBoot();
        await using var _ = vmm;
        var mark = vmm.Mark();

        var shutdown = vmm.Send("vmm.shutdown");
        await vmm.Ok("vmm.ping");
        Assert.False(shutdown.IsCompleted);
        vmm.Hypervisor.BootGate!.Release();

        Assert.True((await boot).IsSuccess);
        Assert.True((await shutdown).IsSuccess);
        Assert.Equal(0, await vmm.Run);
        Assert.Equal(["vm/booted", "vm/shutdown", "vm/deleted", "vmm/shutdown"], vmm.EventsSince(mark));
        Assert.True(vmm.Hypervisor.LastVm!.Disposed);
    }

    [Fact]
    public async Task A_boot_whose_vm_cannot_be_built_leaves_no_vm_object_and_boot_can_be_retried()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        vmm.Hypervisor.FailNextCreate = new Hypervisor.HypervisorException("Failed to open /dev/kvm", ["Permission denied"]);
        var mark = vmm.Mark();

        var failed = await vmm.Send("vm.boot");

        Assert.Equal(["Error from API", "The VM could not boot", "Failed to open /dev/kvm", "Permission denied"], failed.Error!.Chain);
        Assert.Equal(["vm/booting"], vmm.EventsSince(mark));
        Assert.Equal(VmmPhase.Created, await vmm.ObservedPhase());
        await vmm.Ok("vm.boot");
    }

    [Fact]
    public async Task A_vm_whose_boot_failed_is_kept_until_shutdown_as_upstream()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.BootFailed);

        var again = await vmm.Send("vm.boot");
        await vmm.Ok("vm.shutdown");

        Assert.Equal(["Error from API", "The VM could not boot", "VM is already created"], again.Error!.Chain);
        Assert.True(vmm.Hypervisor.Vms[0].Disposed);
        await vmm.Ok("vm.boot");
        Assert.Equal(VmmPhase.Running, await vmm.ObservedPhase());
    }

    [Fact]
    public async Task An_unexpected_exception_becomes_an_Internal_error_and_the_loop_keeps_running()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        vmm.Hypervisor.LastVm!.CountersFailure = new InvalidOperationException("counter page unmapped");

        var counters = await vmm.Send("vm.counters");

        Assert.Equal(ApiErrorKind.Internal, counters.Error!.Kind);
        Assert.Equal(["Error from API", "The VM info is not available", "counter page unmapped"], counters.Error.Chain);
        await vmm.Ok("vmm.ping");
        await vmm.Ok("vm.pause");
    }

    [Fact]
    public async Task Info_of_a_running_vm_has_state_memory_and_device_tree_and_counters_come_from_the_vm()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);

        var info = JsonDocument.Parse((await vmm.Ok("vm.info")).Json!).RootElement;
        var counters = JsonDocument.Parse((await vmm.Ok("vm.counters")).Json!).RootElement;

        Assert.Equal("Running", info.GetProperty("state").GetString());
        Assert.Equal(536870912, info.GetProperty("memory_actual_size").GetInt64());
        Assert.Equal(["disk0", "_disk0", "__serial"], info.GetProperty("device_tree").EnumerateObject().Select(p => p.Name));
        Assert.True(counters.GetProperty("_disk0").GetProperty("read_ops").GetInt64() >= 1);
    }

    [Fact]
    public async Task Ping_reports_build_version_version_pid_and_features_in_order()
    {
        await using var vmm = VmmHarness.Start();

        var ping = (await vmm.Ok("vmm.ping")).Json!;

        Assert.Equal(
            $$"""{"build_version":"v54.0.0-test","version":"54.0.0","pid":{{Environment.ProcessId}},"features":["kvm"]}""",
            ping);
    }

    [Fact]
    public async Task Requests_left_in_the_channel_after_vmm_shutdown_are_answered_and_new_ones_refused()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Created);
        vmm.Hypervisor.BootGate = new SemaphoreSlim(0);
        var boot = vmm.Send("vm.boot");
        Assert.True(await vmm.Hypervisor.BootStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var shutdown = vmm.Send("vmm.shutdown");
        var second = vmm.Send("vmm.shutdown");
        vmm.Hypervisor.BootGate.Release();

        Assert.True((await shutdown).IsSuccess);
        Assert.True((await second).IsSuccess);
        Assert.Equal(0, await vmm.Run);
        var late = await vmm.Send("vmm.ping");
        Assert.Equal(["Error from API", "", "The VMM is shutting down"], late.Error!.Chain);
        Assert.True((await boot).IsSuccess);
    }

    private static async Task<(VmmHarness Vmm, Task<ApiResult> Boot)> StartEndlessBoot(TimeSpan? cancelGrace = null)
    {
        var vmm = VmmHarness.Start(cancelGrace: cancelGrace);
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        vmm.Hypervisor.CreateGate = new SemaphoreSlim(0);
        var boot = vmm.Send("vm.boot");
        Assert.True(await vmm.Hypervisor.CreateStarted.WaitAsync(TimeSpan.FromSeconds(10)), "the VM build never started");
        return (vmm, boot);
    }

    [Fact]
    public async Task Vm_delete_during_a_boot_that_cannot_finish_cancels_the_boot_and_deletes_the_vm()
    {
        // Issue 14 item 9: a boot reading a FIFO answered vm.delete 429 for ever.
        var (vmm, boot) = await StartEndlessBoot();
        await using var _ = vmm;
        var mark = vmm.Mark();

        var delete = await vmm.Send("vm.delete");

        Assert.True(delete.IsSuccess, delete.Error?.ToString());
        var cancelled = (await boot).Error!;
        Assert.Equal(ApiErrorKind.InvalidState, cancelled.Kind);
        Assert.Equal(["Error from API", "The VM could not boot", "vm.boot was cancelled by vm.delete"], cancelled.Chain);
        Assert.Equal(VmmPhase.NoConfig, await vmm.ObservedPhase());
        Assert.Equal(["vm/deleted"], vmm.EventsSince(mark));
        Assert.Empty(vmm.Hypervisor.Vms);
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
    }

    [Fact]
    public async Task Vmm_shutdown_during_a_boot_that_cannot_finish_cancels_it_and_the_vmm_exits()
    {
        var (vmm, boot) = await StartEndlessBoot();
        await using var _ = vmm;

        var shutdown = await vmm.Send("vmm.shutdown");

        Assert.True(shutdown.IsSuccess, shutdown.Error?.ToString());
        Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal("vm.boot was cancelled by vmm.shutdown", (await boot).Error!.Causes[^1]);
    }

    [Fact]
    public async Task A_signal_during_a_boot_that_cannot_finish_cancels_it_and_the_vmm_exits()
    {
        var (vmm, boot) = await StartEndlessBoot();
        await using var _ = vmm;

        vmm.Loop.RequestShutdown();

        Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal("vm.boot was cancelled by vmm.shutdown", (await boot).Error!.Causes[^1]);
    }

    [Fact]
    public async Task Vmm_shutdown_gives_up_on_a_boot_that_ignores_cancellation_and_the_vmm_still_exits()
    {
        var vmm = VmmHarness.Start(cancelGrace: TimeSpan.FromMilliseconds(200));
        await using var _ = vmm;
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        vmm.Hypervisor.BootGate = new SemaphoreSlim(0);
        var boot = vmm.Send("vm.boot");
        Assert.True(await vmm.Hypervisor.BootStarted.WaitAsync(TimeSpan.FromSeconds(10)));
        var mark = vmm.Mark();

        var shutdown = await vmm.Send("vmm.shutdown");

        Assert.True(shutdown.IsSuccess, shutdown.Error?.ToString());
        Assert.Equal(0, await vmm.Run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(["Error from API", "The VM could not boot", "The VMM is shutting down"], (await boot).Error!.Chain);
        Assert.Equal(["vm/deleted", "vmm/shutdown"], vmm.EventsSince(mark));
        vmm.Hypervisor.BootGate.Release();
    }
}
