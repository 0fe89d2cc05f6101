using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>Edits of a created VM's config (contract §1.5) and the messages a user reads.</summary>
public sealed class ConfigEditTests
{
    private static async Task<JsonElement> Config(VmmHarness vmm)
    {
        var info = await vmm.Ok("vm.info");
        return JsonDocument.Parse(info.Json!).RootElement.GetProperty("config").Clone();
    }

    [Fact]
    public async Task Create_with_an_empty_object_is_accepted_but_boot_then_names_the_missing_payload()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", "{}");

        var boot = await vmm.Send("vm.boot");

        Assert.Equal(ApiErrorKind.InvalidArgument, boot.Error!.Kind);
        Assert.Equal(
            ["Error from API", "The VM could not boot", "Failed to validate config", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"],
            boot.Error.Chain);
        Assert.Empty(vmm.Hypervisor.Vms);
    }

    [Fact]
    public async Task Create_with_an_invalid_config_is_InvalidArgument_and_stores_nothing()
    {
        await using var vmm = VmmHarness.Start();

        var create = await vmm.Send("vm.create", """{"cpus":{"boot_vcpus":4,"max_vcpus":2}}""");

        Assert.Equal(ApiErrorKind.InvalidArgument, create.Error!.Kind);
        Assert.Equal("The VM could not be created", create.Error.Message);
        Assert.Contains("Max CPUs lower than boot CPUs", create.Error.Causes);
        Assert.Equal(ApiErrorKind.NotCreated, (await vmm.Send("vm.info")).Error!.Kind);
    }

    [Fact]
    public async Task Create_twice_is_InvalidState_VM_is_already_created()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", "{}");

        var again = await vmm.Send("vm.create", "{}");

        Assert.Equal(ApiErrorKind.InvalidState, again.Error!.Kind);
        Assert.Equal(["Error from API", "The VM could not be created", "VM is already created"], again.Error.Chain);
    }

    [Fact]
    public async Task Create_prepares_the_consoles_and_vm_info_shows_the_pty_path()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", """{"serial":{"mode":"Pty"}}""");

        Assert.Equal(1, vmm.Hypervisor.ConsolesPrepared);
        Assert.Equal("/dev/pts/test", (await Config(vmm)).GetProperty("serial").GetProperty("file").GetString());
    }

    [Fact]
    public async Task Cold_add_appends_the_disk_without_an_id_and_boot_assigns_upstream_ids()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);

        var add = await vmm.Ok("vm.add-disk", """{"path":"/tmp/d2.img"}""");

        Assert.Null(add.Json);
        var disks = (await Config(vmm)).GetProperty("disks");
        Assert.Equal(3, disks.GetArrayLength());
        Assert.False(disks[2].TryGetProperty("id", out _));

        await vmm.Ok("vm.boot");
        var ids = (await Config(vmm)).GetProperty("disks").EnumerateArray().Select(d => d.GetProperty("id").GetString());
        Assert.Equal(["disk0", "_disk0", "_disk1"], ids);
        Assert.Equal(["disk0", "_disk0", "_disk1"], vmm.Hypervisor.LastVm!.Config.Disks!.Select(d => d.Id));
    }

    [Fact]
    public async Task Cold_add_of_a_duplicate_id_is_AlreadyExists_with_the_validation_chain()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);

        var add = await vmm.Send("vm.add-disk", """{"path":"/tmp/other.img","id":"disk0"}""");

        Assert.Equal(ApiErrorKind.AlreadyExists, add.Error!.Kind);
        Assert.Equal(
            ["Error from API", "The disk could not be added to the VM", "Failed to validate config", "Identifier disk0 is not unique"],
            add.Error.Chain);
        Assert.Equal(2, (await Config(vmm)).GetProperty("disks").GetArrayLength());
    }

    [Fact]
    public async Task Cold_add_to_a_VM_created_without_payload_fails_validation_as_upstream()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", "{}");

        var add = await vmm.Send("vm.add-net", """{"tap":"tap0"}""");

        Assert.Equal(ApiErrorKind.InvalidArgument, add.Error!.Kind);
        Assert.Equal(
            ["Error from API", "The network device could not be added to the VM", "Failed to validate config", "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel"],
            add.Error.Chain);
    }

    [Fact]
    public async Task A_second_vsock_is_refused_with_Too_many_virtio_vsock_devices()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        await vmm.Ok("vm.add-vsock", """{"cid":3,"socket":"/tmp/v1.sock"}""");

        var second = await vmm.Send("vm.add-vsock", """{"cid":4,"socket":"/tmp/v2.sock"}""");

        Assert.Equal(ApiErrorKind.AlreadyExists, second.Error!.Kind);
        Assert.Equal(["Error from API", "The vsock device could not be added to the VM", "Too many virtio-vsock devices"], second.Error.Chain);
        Assert.Equal(3, (await Config(vmm)).GetProperty("vsock").GetProperty("cid").GetInt32());
    }

    [Fact]
    public async Task Remove_device_on_a_created_VM_edits_the_config_and_an_unknown_id_is_NotFound()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);

        await vmm.Ok("vm.remove-device", """{"id":"disk0"}""");
        var missing = await vmm.Send("vm.remove-device", """{"id":"disk0"}""");

        Assert.Equal(1, (await Config(vmm)).GetProperty("disks").GetArrayLength());
        Assert.Equal(ApiErrorKind.NotFound, missing.Error!.Kind);
        Assert.Equal(["Error from API", "The device could not be removed from the VM", "No device with id \"disk0\" to remove"], missing.Error.Chain);
    }

    [Fact]
    public async Task Resize_of_a_created_VM_sets_boot_vcpus_memory_and_balloon()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", """{"cpus":{"boot_vcpus":1,"max_vcpus":4},"balloon":{"size":0}}""");

        await vmm.Ok("vm.resize", """{"desired_vcpus":3,"desired_ram":1073741824,"desired_balloon":268435456}""");

        var config = await Config(vmm);
        Assert.Equal(3, config.GetProperty("cpus").GetProperty("boot_vcpus").GetInt32());
        Assert.Equal(1073741824, config.GetProperty("memory").GetProperty("size").GetInt64());
        Assert.Equal(268435456, config.GetProperty("balloon").GetProperty("size").GetInt64());
        var info = JsonDocument.Parse((await vmm.Ok("vm.info")).Json!).RootElement;
        Assert.Equal(1073741824, info.GetProperty("memory_actual_size").GetInt64());
    }

    [Fact]
    public async Task Resize_beyond_max_vcpus_is_refused_and_leaves_the_config_alone()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", """{"cpus":{"boot_vcpus":1,"max_vcpus":2}}""");

        var resize = await vmm.Send("vm.resize", """{"desired_vcpus":3}""");

        Assert.Equal(ApiErrorKind.InvalidArgument, resize.Error!.Kind);
        Assert.Equal("The VM could not be resized", resize.Error.Message);
        Assert.Equal(1, (await Config(vmm)).GetProperty("cpus").GetProperty("boot_vcpus").GetInt32());
    }

    [Fact]
    public async Task Resize_zone_of_a_created_VM_edits_the_zone_and_an_unknown_zone_is_NotFound()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", """{"memory":{"size":0,"zones":[{"id":"z0","size":268435456}]}}""");

        await vmm.Ok("vm.resize-zone", """{"id":"z0","desired_ram":536870912}""");
        var unknown = await vmm.Send("vm.resize-zone", """{"id":"z9","desired_ram":536870912}""");

        var zone = (await Config(vmm)).GetProperty("memory").GetProperty("zones")[0];
        Assert.Equal(536870912, zone.GetProperty("size").GetInt64());
        Assert.Equal(ApiErrorKind.NotFound, unknown.Error!.Kind);
        Assert.Equal("Failed resizing a memory zone", unknown.Error.Causes[0]);
    }

    [Fact]
    public async Task Resize_disk_before_boot_fails_as_upstream()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);

        var resize = await vmm.Send("vm.resize-disk", """{"id":"disk0","desired_size":1048576}""");

        Assert.Equal(["Error from API", "The disk could not be resized", "Failed resizing a disk image"], resize.Error!.Chain);
    }

    [Fact]
    public async Task Hot_plug_into_a_running_VM_says_it_is_not_supported_and_changes_nothing()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Ok("vm.create", VmmHarness.BootableConfig);
        await vmm.Ok("vm.boot");

        var add = await vmm.Send("vm.add-disk", """{"path":"/tmp/d9.img"}""");
        var duplicate = await vmm.Send("vm.add-disk", """{"path":"/tmp/d9.img","id":"_disk0"}""");

        Assert.Equal(ApiErrorKind.Internal, add.Error!.Kind);
        Assert.Equal("Hot-plugging a device into a booted VM is not supported by this VMM yet", add.Error.Causes[^1]);
        Assert.Equal(ApiErrorKind.AlreadyExists, duplicate.Error!.Kind);
        Assert.Equal(2, (await Config(vmm)).GetProperty("disks").GetArrayLength());
    }

    [Fact]
    public async Task Pause_when_paused_names_the_invalid_transition()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Paused);

        var pause = await vmm.Send("vm.pause");

        Assert.Equal(ApiErrorKind.InvalidState, pause.Error!.Kind);
        Assert.Equal(
            ["Error from API", "The VM could not be paused", "Cannot pause VM", "Failed to pause migratable component", "Invalid transition: InvalidStateTransition(Paused, Paused)"],
            pause.Error.Chain);
    }

    [Fact]
    public async Task Resume_when_running_names_the_invalid_transition()
    {
        await using var vmm = VmmHarness.Start();
        await vmm.Reach(VmmPhase.Running);

        var resume = await vmm.Send("vm.resume");

        Assert.Equal("Invalid transition: InvalidStateTransition(Running, Running)", resume.Error!.Causes[^1]);
    }

    [Fact]
    public async Task Boot_without_config_says_VM_config_is_missing_and_reboot_says_VM_is_not_created()
    {
        await using var vmm = VmmHarness.Start();

        Assert.Equal(["Error from API", "The VM could not boot", "VM config is missing"], (await vmm.Send("vm.boot")).Error!.Chain);
        Assert.Equal(["Error from API", "The VM could not reboot", "VM is not created"], (await vmm.Send("vm.reboot")).Error!.Chain);
        Assert.Equal(["Error from API", "The VM info is not available", "VM is not created"], (await vmm.Send("vm.info")).Error!.Chain);
        Assert.Equal(["Error from API", "The VM could not be paused", "VM is not running"], (await vmm.Send("vm.pause")).Error!.Chain);
    }
}
