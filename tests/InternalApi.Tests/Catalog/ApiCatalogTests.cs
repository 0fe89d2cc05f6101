using System.Reflection;
using System.Text;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.TestSupport;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Catalog;

/// <summary>
/// DESIGN.md rule 1: one catalog entry per action, one command record per entry, one handler
/// method per command, and D-Bus names that equal upstream's (contract §4.2) plus VmNmi and VmResizeDisk.
/// </summary>
public sealed class ApiCatalogTests
{

    /// <summary>Contract §4.2 (method, in-argument) plus our VmNmi and VmResizeDisk.</summary>
    private static readonly Dictionary<string, string?> DBus = new(StringComparer.Ordinal)
    {
        ["VmmPing"] = null,
        ["VmmShutdown"] = null,
        ["VmAddDevice"] = "device_config",
        ["VmAddDisk"] = "disk_config",
        ["VmAddFs"] = "fs_config",
        ["VmAddGenericVhostUser"] = "generic_vhost_user_config",
        ["VmAddNet"] = "net_config",
        ["VmAddPmem"] = "pmem_config",
        ["VmAddUserDevice"] = "vm_add_user_device",
        ["VmAddVdpa"] = "vdpa_config",
        ["VmAddVsock"] = "vsock_config",
        ["VmBoot"] = null,
#if GUEST_DEBUG
        ["VmCoredump"] = "vm_coredump_data",
#endif
        ["VmCounters"] = null,
        ["VmCreate"] = "vm_config",
        ["VmDelete"] = null,
        ["VmInfo"] = null,
        ["VmPause"] = null,
        ["VmPowerButton"] = null,
        ["VmReboot"] = null,
        ["VmRemoveDevice"] = "vm_remove_device",
        ["VmResize"] = "vm_resize",
        ["VmResizeZone"] = "vm_resize_zone",
        ["VmRestore"] = "restore_config",
        ["VmReceiveMigration"] = "receive_migration_data",
        ["VmSendMigration"] = "send_migration_data",
        ["VmResume"] = null,
        ["VmShutdown"] = null,
        ["VmSnapshot"] = "vm_snapshot_config",
        ["VmNmi"] = null,
        ["VmResizeDisk"] = "vm_resize_disk",
    };

    public static TheoryData<string> ActionNames()
    {
        var data = new TheoryData<string>();
        foreach (var action in ApiCatalog.All)
        {
            data.Add(action.Name);
        }

        return data;
    }

    private static ApiCommandOrError Parse(ApiAction action, string body) => action.Parse(Encoding.UTF8.GetBytes(body));

    [Theory]
    [MemberData(nameof(ActionNames))]
    public void Every_action_parses_a_valid_body_into_its_own_command(string name)
    {
        var action = ApiCatalog.Find(name)!;
        var parsed = Parse(action, SampleBodies.Valid[name]);
        Assert.Null(parsed.Error);
        Assert.Same(action, parsed.Command!.Action);
    }

    [Theory]
    [MemberData(nameof(ActionNames))]
    public void Every_action_rejects_a_bad_body_with_the_documented_error(string name)
    {
        var action = ApiCatalog.Find(name)!;
        if (action.TakesBody)
        {
            var missing = Parse(action, "").Error!;
            Assert.Equal(["Bad Request", "this action needs a JSON request body"], missing.Chain);
            var unknown = Parse(action, """{"surely_not_a_field":1}""").Error!;
            Assert.Equal(ApiErrorKind.InvalidArgument, unknown.Kind);
            Assert.Equal(["Failed to deserialize JSON", "unknown field `surely_not_a_field` at $.surely_not_a_field"], unknown.Chain);
            Assert.Equal(ApiJson.DeserializeFailed, Parse(action, "{").Error!.Message);
        }
        else if (action == ApiCatalog.VmmPing || action == ApiCatalog.VmInfo || action == ApiCatalog.VmmShutdown)
        {
            // Upstream ignores any body on these three (contract §1.5).
            Assert.Null(Parse(action, "{}").Error);
            Assert.Null(Parse(action, "not json").Error);
        }
        else
        {
            var extra = Parse(action, "{}").Error!;
            Assert.Equal(ApiErrorKind.InvalidArgument, extra.Kind);
            Assert.Equal(["Bad Request", "this action takes no request body"], extra.Chain);
        }
    }

    [Fact]
    public void The_parsed_command_carries_the_body()
    {
        var command = Assert.IsType<VmAddDiskCommand>(Parse(ApiCatalog.VmAddDisk, SampleBodies.Valid["vm.add-disk"]).Command);
        Assert.Equal("/tmp/disk.img", command.Config.Path);
        var create = Assert.IsType<VmCreateCommand>(Parse(ApiCatalog.VmCreate, "{}").Command);
        Assert.Null(create.Config.Payload);
    }

    [Fact]
    public void Dbus_methods_and_argument_names_are_upstreams_plus_nmi_and_resize_disk()
    {
        var actual = ApiCatalog.All.ToDictionary(a => a.DBusMethod, a => a.DBusArgument, StringComparer.Ordinal);
        Assert.Equal(DBus.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.All(ApiCatalog.All, a => Assert.Equal(a.TakesBody, a.DBusArgument is not null));
    }

    [Fact]
    public void Names_paths_and_dbus_methods_are_unique_and_findable()
    {
        Assert.Equal(ApiCatalog.All.Count, ApiCatalog.All.Select(a => a.Name).Distinct().Count());
        Assert.Equal(ApiCatalog.All.Count, ApiCatalog.All.Select(a => a.DBusMethod).Distinct().Count());
        foreach (var action in ApiCatalog.All)
        {
            Assert.Same(action, ApiCatalog.Find(action.Name));
            Assert.Same(action, ApiCatalog.FindByDBusMethod(action.DBusMethod));
            Assert.Equal("/api/v1/" + action.Name, action.Path);
        }

#if GUEST_DEBUG
        Assert.Equal(31, ApiCatalog.All.Count);
#else
        Assert.Equal(30, ApiCatalog.All.Count);
        Assert.Null(ApiCatalog.Find("vm.coredump"));
#endif
    }

    [Fact]
    public void Only_ping_info_and_counters_are_GET()
    {
        var gets = ApiCatalog.All.Where(a => a.Verb == ApiVerb.Get).Select(a => a.Name);
        Assert.Equal(["vmm.ping", "vm.info", "vm.counters"], gets);
    }

    [Theory]
    [InlineData("vmm.shutdown", "The VMM could not shutdown")]
    [InlineData("vm.create", "The VM could not be created")]
    [InlineData("vm.boot", "The VM could not boot")]
    [InlineData("vm.pause", "The VM could not be paused")]
    [InlineData("vm.resume", "The VM could not resume")]
    [InlineData("vm.power-button", "Error triggering power button")]
    [InlineData("vm.nmi", "Error triggering NMI")]
    [InlineData("vm.counters", "The VM info is not available")]
    [InlineData("vm.resize-disk", "The disk could not be resized")]
    [InlineData("vm.add-user-device", "The user device could not be added to the VM")]
    [InlineData("vm.add-generic-vhost-user", "The generic vhost-user device could not be added to the VM")]
    [InlineData("vm.add-vdpa", "The vDPA device could not be added to the VM")]
    [InlineData("vm.remove-device", "The device could not be removed from the VM")]
    [InlineData("vm.receive-migration", "Error receiving migration")]
    [InlineData("vm.send-migration", "Error dispatching the migration worker")]
    public void Per_action_error_messages_are_upstreams(string name, string message) =>
        Assert.Equal(message, ApiCatalog.Find(name)!.ErrorMessage);

    [Fact]
    public void Every_command_record_has_exactly_one_catalog_entry_and_one_handler_method()
    {
        var commandTypes = typeof(ApiCommand).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(ApiCommand)) && !t.IsAbstract)
            .ToHashSet();
        Assert.All(commandTypes, t => Assert.True(t.IsSealed, $"{t.Name} is not sealed"));

        var fromCatalog = ApiCatalog.All.Select(a => Parse(a, SampleBodies.Valid[a.Name]).Command!.GetType()).ToList();
        Assert.Equal(fromCatalog.Count, fromCatalog.Distinct().Count());
        Assert.Equal(commandTypes.OrderBy(t => t.Name), fromCatalog.OrderBy(t => t.Name));

        var methods = typeof(IRequestHandler).GetMethods();
        Assert.Equal(commandTypes.Count, methods.Length);
        foreach (var method in methods)
        {
            var parameter = Assert.Single(method.GetParameters());
            Assert.Contains(parameter.ParameterType, commandTypes);
            Assert.Equal(typeof(ValueTask<ApiResult>), method.ReturnType);
        }

        Assert.Equal(commandTypes.Count, methods.Select(m => m.GetParameters()[0].ParameterType).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(ActionNames))]
    public async Task Dispatch_calls_the_handler_method_named_after_the_action(string name)
    {
        var action = ApiCatalog.Find(name)!;
        var command = Parse(action, SampleBodies.Valid[name]).Command!;
        var handler = RecordingHandler.Create();
        var result = await command.Dispatch(handler);
        var recorder = (RecordingHandler)(object)handler;
        Assert.Equal(action.DBusMethod, recorder.Called!.Name);
        Assert.Same(command, recorder.Argument);
        Assert.True(result.IsSuccess);
    }

    /// <summary>An IRequestHandler that records which method a command dispatched to.</summary>
    public class RecordingHandler : DispatchProxy
    {
        public MethodInfo? Called { get; private set; }
        public object? Argument { get; private set; }

        public static IRequestHandler Create() => Create<IRequestHandler, RecordingHandler>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            Called = targetMethod;
            Argument = args?[0];
            // DispatchProxy returns object; the boxed ValueTask is what the interface method returns.
#pragma warning disable CA2012
            return ValueTask.FromResult(ApiResult.Ok());
#pragma warning restore CA2012
        }
    }
}
