using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>
/// vm.snapshot and vm.restore as operations of the real loop (DESIGN.md rule 3) on the test
/// backend: the files they write and read, the answers and events, and reads during them.
/// </summary>
public sealed class SnapshotOperationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-snapshot-op-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Body(string directory) => $$"""{"destination_url":"file://{{directory}}"}""";

    [Fact]
    public async Task During_a_slow_snapshot_ping_and_info_answer_and_resume_answers_Busy_naming_vm_snapshot()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);
        vmm.Hypervisor.SnapshotGate = new SemaphoreSlim(0);
        var snapshot = vmm.Send("vm.snapshot", Body(_dir));
        Assert.True(await vmm.Hypervisor.SnapshotStarted.WaitAsync(TimeSpan.FromSeconds(10)), "the snapshot never started");

        // The snapshot cannot finish before the gate opens, so these answers did not wait for it.
        await vmm.Ok("vmm.ping");
        var info = await vmm.Ok("vm.info");
        var resume = await vmm.Send("vm.resume");

        Assert.False(snapshot.IsCompleted);
        Assert.Equal("Paused", JsonDocument.Parse(info.Json!).RootElement.GetProperty("state").GetString());
        Assert.Equal(ApiErrorKind.Busy, resume.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not resume", "vm.snapshot is in progress"], resume.Error.Chain);
        vmm.Hypervisor.SnapshotGate.Release();
        Assert.True((await snapshot).IsSuccess);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_snapshot_writes_three_owner_only_files_with_events_and_refuses_to_overwrite_them()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);
        var mark = vmm.Mark();

        await vmm.Ok("vm.snapshot", Body(_dir));
        var again = await vmm.Send("vm.snapshot", Body(_dir));

        Assert.Equal(["config.json", "memory-ranges", "state.json"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order());
        Assert.All(Directory.GetFiles(_dir), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
        Assert.Equal(2L << 20, new FileInfo(Path.Combine(_dir, "memory-ranges")).Length);
        Assert.Equal(ApiErrorKind.AlreadyExists, again.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be snapshotted", "Cannot send VM snapshot",
            $"Error creating VM config snapshot file {_dir}/config.json", "File exists (os error 17)"], again.Error.Chain);
        Assert.Equal(["vm/snapshotting", "vm/snapshotted", "vm/snapshotting"], vmm.EventsSince(mark));
        Assert.Equal(VmmPhase.Paused, await vmm.ObservedPhase());
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")));
        Assert.Equal("disk0", config.RootElement.GetProperty("disks")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_destination_that_is_not_a_file_URL_of_a_directory_is_refused_as_upstream_words_it()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);

        var scheme = await vmm.Send("vm.snapshot", """{"destination_url":"tcp:localhost:1"}""");
        var missing = await vmm.Send("vm.snapshot", """{"destination_url":"file:///nonexistent/dir"}""");

        Assert.Equal(["Error from API", "The VM could not be snapshotted", "Could not extract path from URL: tcp:localhost:1"], scheme.Error!.Chain);
        Assert.Equal(["Error from API", "The VM could not be snapshotted", "Destination is not a directory: \"/nonexistent/dir\""], missing.Error!.Chain);
        Assert.Equal(ApiErrorKind.InvalidArgument, missing.Error.Kind);
    }

    [Theory]
    [InlineData(false, "Paused", new[] { "vm/restoring", "vm/restored" })]
    [InlineData(true, "Running", new[] { "vm/restoring", "vm/restored", "vm/resuming", "vm/resumed" })]
    public async Task A_restore_into_a_fresh_VMM_is_paused_unless_resume_is_asked(bool resume, string state, string[] events)
    {
        await using (var source = VmmHarness.Start())
        {
            await source.Reach(VmmPhase.Paused);
            await source.Ok("vm.snapshot", Body(_dir));
        }

        await using var vmm = VmmHarness.Start();
        var mark = vmm.Mark();
        await vmm.Ok("vm.restore", $$"""{"source_url":"file://{{_dir}}","resume":{{(resume ? "true" : "false")}}}""");

        Assert.Equal(events, vmm.EventsSince(mark));
        var info = JsonDocument.Parse((await vmm.Ok("vm.info")).Json!).RootElement;
        Assert.Equal(state, info.GetProperty("state").GetString());
        Assert.Equal("/tmp/d0.img", info.GetProperty("config").GetProperty("disks")[0].GetProperty("path").GetString());
        Assert.Equal(ApiErrorKind.InvalidState, (await vmm.Send("vm.restore", $$"""{"source_url":"file://{{_dir}}"}""")).Error!.Kind);
    }

    [Fact]
    public async Task Restore_refuses_prefault_with_ondemand_in_upstreams_words()
    {
        await using var vmm = VmmHarness.Start();

        var both = await vmm.Send("vm.restore", $$"""{"source_url":"file://{{_dir}}","prefault":true,"memory_restore_mode":"OnDemand"}""");

        Assert.Equal(ApiErrorKind.InvalidArgument, both.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be restored", "'prefault' cannot be combined with 'memory_restore_mode=ondemand'"], both.Error.Chain);
        Assert.Equal(VmmPhase.NoConfig, await vmm.ObservedPhase());
    }
}
