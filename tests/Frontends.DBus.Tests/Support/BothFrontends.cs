#if DBUS_API
using System.Text.Json;
using CloudHypervisor.EventMonitor.Sinks;
using CloudHypervisor.Frontends.Rest;
using CloudHypervisor.InternalApi;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests.Support;

/// <summary>One answer as a user sees it, in a form both frontends can be compared in.</summary>
/// <param name="Body">The JSON body on success (null for none), or the error chain joined with ": ".</param>
/// <param name="Status">The HTTP status, or for D-Bus the status its error kind has over REST (200/204 on success).</param>
public sealed record Answer(int Status, string? Body);

/// <summary>
/// One VMM (real control loop, fake hypervisor) served by REST and D-Bus at once, as the CLI
/// wires them, with the event file written by the real file sink.
/// </summary>
public sealed class BothFrontends : IAsyncDisposable
{
    private readonly RunningVmm _vmm;
    private readonly FileEventSink _file;

    private BothFrontends(PrivateBus bus, string dir, CloudHypervisor.EventMonitor.EventMonitor events, RunningVmm vmm, FileEventSink file)
    {
        Bus = bus;
        Dir = dir;
        Events = events;
        _vmm = vmm;
        _file = file;
    }

    public PrivateBus Bus { get; }
    public string Dir { get; }
    public CloudHypervisor.EventMonitor.EventMonitor Events { get; }
    public ApiChannel Channel => _vmm.Channel;
    public RestServer Rest { get; private set; } = null!;
    public DBusServer DBus { get; private set; } = null!;
    public string SocketPath => Path.Combine(Dir, "api.sock");
    public string EventFile => Path.Combine(Dir, "events.json");
    public string ServiceName { get; } = "org.cloudhypervisor.B" + Guid.NewGuid().ToString("N")[..12];
    public string ObjectPath { get; } = "/org/cloudhypervisor/Both";

    public static async Task<BothFrontends> StartAsync()
    {
        var bus = await PrivateBus.StartAsync();
        var dir = Directory.CreateTempSubdirectory("ch-both-").FullName;
        var events = new CloudHypervisor.EventMonitor.EventMonitor();
        var file = FileEventSink.OpenPath(Path.Combine(dir, "events.json"));
        events.AddSink(file);
        events.Publish(CloudHypervisor.EventMonitor.Events.Vmm.Starting);
        var both = new BothFrontends(bus, dir, events, RunningVmm.Start(events), file);
        var log = new LogCollector().Logger;
        both.Rest = await RestServer.StartAsync(new RestServerOptions { SocketPath = both.SocketPath }, both.Channel, events, log, CancellationToken.None);
        both.DBus = await DBusServer.StartAsync(
            new DBusServerOptions { ServiceName = both.ServiceName, ObjectPath = both.ObjectPath, Address = bus.Address },
            both.Channel, events, log, CancellationToken.None);
        return both;
    }

    /// <summary>The action over REST with curl; <paramref name="body"/> null sends none.</summary>
    public async Task<Answer> RestAsync(ApiAction action, string? body)
    {
        List<string> args = ["-s", "--unix-socket", SocketPath, "-X", action.Verb == ApiVerb.Get ? "GET" : "PUT", "-w", "\n%{http_code}"];
        if (body is not null)
        {
            args.AddRange(["-H", "Content-Type: application/json", "--data-binary", body]);
        }

        args.Add("http://localhost" + action.Path);
        var result = await Tools.RunAsync("curl", [.. args]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var cut = result.Stdout.LastIndexOf('\n');
        var status = int.Parse(result.Stdout[(cut + 1)..]);
        var text = cut <= 0 ? string.Empty : result.Stdout[..cut];
        if (status >= 400)
        {
            using var chain = JsonDocument.Parse(text);
            return new Answer(status, string.Join(": ", chain.RootElement.EnumerateArray().Select(e => e.GetString())));
        }

        return new Answer(status, text.Length == 0 ? null : text);
    }

    /// <summary>
    /// The action over D-Bus with dbus-send, which prints a string reply as is and an error as
    /// "Error NAME: MESSAGE".
    /// </summary>
    public async Task<Answer> DBusAsync(ApiAction action, string? body)
    {
        List<string> args = ["--bus=" + Bus.Address, "--print-reply=literal", "--dest=" + ServiceName, ObjectPath, DBusInterface.Name + "." + action.DBusMethod];
        if (action.TakesBody)
        {
            args.Add("string:" + (body ?? string.Empty));
        }

        var result = await Tools.RunAsync("dbus-send", [.. args]);
        if (result.ExitCode != 0)
        {
            const string prefix = "Error ";
            var line = result.Stderr.Trim();
            Assert.StartsWith(prefix, line);
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            var name = line[prefix.Length..colon];
            var kind = DBusErrors.KindOf(name) ?? throw new InvalidOperationException("not one of our errors: " + line);
            return new Answer(HttpStatusOf(kind), line[(colon + 2)..]);
        }

        var value = result.Stdout.Trim();
        return action.Reply switch
        {
            ApiReplyKind.EmptyOk => new Answer(200, null),
            ApiReplyKind.NoContent => new Answer(204, null),
            ApiReplyKind.Json or ApiReplyKind.OptionalJson => value.Length == 0 ? new Answer(204, null) : new Answer(200, value),
        };
    }

    /// <summary>DESIGN.md "Error kinds": what REST answers for a kind.</summary>
    public static int HttpStatusOf(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.NotCreated or ApiErrorKind.NotFound => 404,
        ApiErrorKind.InvalidState or ApiErrorKind.AlreadyExists => 409,
        ApiErrorKind.InvalidArgument => 400,
        ApiErrorKind.PayloadTooLarge => 413,
        ApiErrorKind.Busy => 429,
        ApiErrorKind.Internal => 500,
    };

    /// <summary>The records in the event file, as upstream's tests read it.</summary>
    public async Task<List<string>> EventFileRecordsAsync()
    {
        await Events.FlushAsync(TimeSpan.FromSeconds(5));
        return [.. (await File.ReadAllTextAsync(EventFile)).Trim().Split("\n\n")];
    }

    public async ValueTask DisposeAsync()
    {
        await DBus.StopAsync();
        await Rest.StopAsync();
        await _vmm.DisposeAsync();
        await Events.DisposeAsync();
        _file.Dispose();
        await Bus.DisposeAsync();
        Directory.Delete(Dir, recursive: true);
    }
}
#endif
