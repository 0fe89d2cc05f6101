#if GUEST_DEBUG
using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>vm.coredump as an operation of the real loop on the test backend (DESIGN.md rule 3): answers, events, reads during it.</summary>
public sealed class CoredumpOperationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-coredump-op-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Body(string path) => $$"""{"destination_url":"file://{{path}}"}""";

    [Fact]
    public async Task During_a_slow_coredump_ping_and_info_answer_and_resume_answers_Busy_naming_vm_coredump()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);
        vmm.Hypervisor.SnapshotGate = new SemaphoreSlim(0);
        var core = Path.Combine(_dir, "core");
        var dump = vmm.Send("vm.coredump", Body(core));
        Assert.True(await vmm.Hypervisor.SnapshotStarted.WaitAsync(TimeSpan.FromSeconds(10)), "the core dump never started");

        await vmm.Ok("vmm.ping");
        var info = await vmm.Ok("vm.info");
        var resume = await vmm.Send("vm.resume");

        Assert.False(dump.IsCompleted);
        Assert.Equal("Paused", JsonDocument.Parse(info.Json!).RootElement.GetProperty("state").GetString());
        Assert.Equal(ApiErrorKind.Busy, resume.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not resume", "vm.coredump is in progress"], resume.Error.Chain);
        Assert.False(File.Exists(core), "the core is visible before it is complete");
        vmm.Hypervisor.SnapshotGate.Release();
        Assert.True((await dump).IsSuccess);
        Assert.Equal(ElfCoreLength(1, 2 << 20), new FileInfo(core).Length);
        Assert.Equal([core], Directory.GetFileSystemEntries(_dir));
    }

    private static long ElfCoreLength(int cpus, long ram) => CloudHypervisor.Vmm.Debug.ElfCore.MemoryOffset(cpus, 1) + ram;

    [Fact]
    public async Task A_running_VM_is_paused_for_the_dump_and_resumed_after_it_as_upstream_does()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);
        var mark = vmm.Mark();

        await vmm.Ok("vm.coredump", Body(Path.Combine(_dir, "core")));

        Assert.Equal(["vm/coredumping", "vm/pausing", "vm/paused", "vm/resuming", "vm/resumed"], vmm.EventsSince(mark));
        Assert.Equal(VmmPhase.Running, await vmm.ObservedPhase());
    }

    [Fact]
    public async Task An_existing_file_a_bad_URL_and_a_VM_that_is_not_running_are_refused_in_upstreams_words()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Created);
        var created = await vmm.Send("vm.coredump", Body(Path.Combine(_dir, "core")));
        await vmm.Ok("vm.boot");
        await vmm.Ok("vm.pause");
        var existing = Path.Combine(_dir, "existing");
        await File.WriteAllTextAsync(existing, "mine");

        var exists = await vmm.Send("vm.coredump", Body(existing));
        var scheme = await vmm.Send("vm.coredump", """{"destination_url":"/tmp/core"}""");

        Assert.Equal(ApiErrorKind.InvalidState, created.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be coredumped", "VM is not running"], created.Error.Chain);
        Assert.Equal(ApiErrorKind.AlreadyExists, exists.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be coredumped", "Cannot coredump VM", $"Error creating coredump file {existing}", "File exists (os error 17)"], exists.Error.Chain);
        Assert.Equal("mine", await File.ReadAllTextAsync(existing));
        Assert.Equal(ApiErrorKind.InvalidArgument, scheme.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be coredumped", "Could not extract file from URL: /tmp/core"], scheme.Error.Chain);
        Assert.Equal(VmmPhase.Paused, await vmm.ObservedPhase());
    }
}
#endif
