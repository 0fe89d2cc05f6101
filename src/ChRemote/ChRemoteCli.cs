using System.CommandLine;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Options;

namespace CloudHypervisor.ChRemote;

/// <summary>
/// The command tree: one subcommand per action with upstream's names and argument syntax
/// (contract §7.2), plus <c>events</c> and <c>wait-for</c>. Global options may stand before or
/// after the subcommand.
/// </summary>
internal static partial class ChRemoteCli
{
    private static readonly Option<string> ApiSocket = new("--api-socket")
    {
        Description = "Path of the VMM's API socket (REST)",
        Recursive = true,
    };

    private static readonly Option<double?> Timeout = new("--timeout")
    {
        Description = "Seconds to wait for the answer (or, for wait-for, the event); default: no limit",
        Recursive = true,
    };

#if DBUS_API
    private static readonly Option<string> DBusServiceName = new("--dbus-service-name")
    {
        Description = "Well-known D-Bus name of the VMM",
        Recursive = true,
    };

    private static readonly Option<string> DBusObjectPath = new("--dbus-object-path")
    {
        Description = "D-Bus object path of the VMM",
        Recursive = true,
    };

    private static readonly Option<bool> DBusSystemBus = new("--dbus-system-bus")
    {
        Description = "Use the system bus instead of the session bus",
        Recursive = true,
    };
#endif

    public static RootCommand Build()
    {
        var root = new RootCommand("Remotely control a cloud-hypervisor VMM over its REST API or D-Bus.\n\n" + ExitCodes.Table);
        root.Options.Add(ApiSocket);
        root.Options.Add(Timeout);
#if DBUS_API
        root.Options.Add(DBusServiceName);
        root.Options.Add(DBusObjectPath);
        root.Options.Add(DBusSystemBus);
#endif
        foreach (var command in Subcommands())
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    private static IEnumerable<Command> Subcommands()
    {
        yield return NoBody("ping", ApiCatalog.VmmPing, "Ping the VMM to check for API server availability");
        yield return NoBody("shutdown-vmm", ApiCatalog.VmmShutdown, "Shut the VMM down");
        yield return NoBody("boot", ApiCatalog.VmBoot, "Boot a created VM");
        yield return NoBody("delete", ApiCatalog.VmDelete, "Delete a VM");
        yield return NoBody("shutdown", ApiCatalog.VmShutdown, "Shut the VM down");
        yield return NoBody("reboot", ApiCatalog.VmReboot, "Reboot the VM");
        yield return NoBody("pause", ApiCatalog.VmPause, "Pause the VM");
        yield return NoBody("resume", ApiCatalog.VmResume, "Resume the VM");
        yield return NoBody("power-button", ApiCatalog.VmPowerButton, "Trigger a power button in the VM");
        yield return NoBody("nmi", ApiCatalog.VmNmi, "Trigger an NMI in the VM");
        yield return NoBody("info", ApiCatalog.VmInfo, "Info on the VM");
        yield return NoBody("counters", ApiCatalog.VmCounters, "Counters from the VM");
        yield return Create();
        yield return WithArgument("remove-device", ApiCatalog.VmRemoveDevice, "id", "Remove a device from the VM",
            id => BodyOrError.Of(ApiJson.Serialize(RemoteOptions.RemoveDevice(id), ApiJsonContext.Default.VmRemoveDevice)));
        yield return WithArgument("snapshot", ApiCatalog.VmSnapshot, "destination_url", "Create a snapshot of the VM",
            url => BodyOrError.Of(ApiJson.Serialize(RemoteOptions.Snapshot(url), ApiJsonContext.Default.VmSnapshotConfig)));
#if GUEST_DEBUG
        yield return WithArgument("coredump", ApiCatalog.VmCoredump, "file_path", "Create a coredump of the VM",
            path => BodyOrError.Of(ApiJson.Serialize(RemoteOptions.Coredump(path), ApiJsonContext.Default.VmCoredumpData)));
#endif
        foreach (var command in OptionStringCommands())
        {
            yield return command;
        }

        foreach (var command in ResizeCommands())
        {
            yield return command;
        }

        yield return Events();
        yield return WaitFor();
    }

    private static Command NoBody(string name, ApiAction action, string description)
    {
        var command = new Command(name, description);
        command.SetAction((result, ct) => RunAsync(result, action, null, ct));
        return command;
    }

    private static Command WithArgument(string name, ApiAction action, string argument, string description, Func<string, BodyOrError> body)
    {
        var command = new Command(name, description);
        var value = new Argument<string>(argument);
        command.Arguments.Add(value);
        command.SetAction((result, ct) => RunAsync(result, action, body(result.GetValue(value)!), ct));
        return command;
    }

    private static Command Create()
    {
        var command = new Command("create", "Create a VM from a JSON configuration file (- or nothing: standard input)");
        var path = new Argument<string>("path") { Arity = ArgumentArity.ZeroOrOne };
        command.Arguments.Add(path);
        command.SetAction(async (result, ct) =>
        {
            var file = result.GetValue(path);
            string text;
            try
            {
                // Sent verbatim, as upstream: the VMM's parser gives the errors.
                text = file is null or "-" ? await Console.In.ReadToEndAsync(ct) : await File.ReadAllTextAsync(file, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Fail(ExitCodes.Usage, ["Error reading the VM configuration", e.Message]);
            }

            return await RunAsync(result, ApiCatalog.VmCreate, BodyOrError.Of(text), ct);
        });
        return command;
    }
}

/// <summary>
/// A request body and the descriptors of this process to pass with it (SCM_RIGHTS), or the usage
/// error that kept it from being built.
/// </summary>
internal readonly record struct BodyOrError(string? Body, IReadOnlyList<string>? Error)
{
    public IReadOnlyList<int> Fds { get; init; } = [];

    public static BodyOrError Of(string body) => new(body, null);

    public static BodyOrError Fail(params string[] chain) => new(null, chain);
}
