using CloudHypervisor.InternalApi;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// A real <see cref="RestServer"/> on a temp Unix socket, fed through a real
/// <see cref="ApiChannel"/> whose single reader dispatches to the given handler, as the Vmm
/// control loop does. After answering vmm.shutdown it stops the server at once, as the
/// composition root does, so tests see whether the 200 still reaches the client.
/// </summary>
public sealed class RestHost : IAsyncDisposable
{
    private readonly ApiChannel _channel;
    private readonly Task _loop;
    private readonly bool _ownsEvents;

    private RestHost(string directory, ApiChannel channel, RestServer server, EventMonitorHub events, bool ownsEvents, Func<RestHost, Task> loop)
    {
        Directory = directory;
        _channel = channel;
        Server = server;
        Events = events;
        _ownsEvents = ownsEvents;
        _loop = loop(this);
    }

    public string Directory { get; }
    public string Socket => Path.Combine(Directory, "api.sock");
    public RestServer Server { get; }
    public EventMonitorHub Events { get; }

    /// <summary>A fresh temp directory whose socket path fits sun_path.</summary>
    public static string NewDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ch-rest-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    public static async Task<RestHost> StartAsync(IRequestHandler handler, EventMonitorHub? events = null, string? directory = null)
    {
        directory ??= NewDirectory();
        var channel = new ApiChannel();
        var ownsEvents = events is null;
        events ??= new EventMonitorHub();
        var server = await RestServer.StartAsync(
            new RestServerOptions { SocketPath = Path.Combine(directory, "api.sock") },
            channel, events, Serilog.Core.Logger.None, CancellationToken.None);
        return new RestHost(directory, channel, server, events, ownsEvents, host => host.RunLoopAsync(handler));
    }

    public Task<CurlResponse> CurlAsync(params string[] args) => Curl.RunAsync(Socket, args);

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        _channel.Complete();
        await _loop;
        if (_ownsEvents)
        {
            await Events.DisposeAsync();
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private async Task RunLoopAsync(IRequestHandler handler)
    {
        await foreach (var request in _channel.Reader.ReadAllAsync())
        {
            request.Answer(await request.Command.Dispatch(handler));
            if (request.Command is VmmShutdownCommand)
            {
                await Server.StopAsync();
            }
        }
    }
}
