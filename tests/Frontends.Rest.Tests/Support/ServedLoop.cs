using CloudHypervisor.InternalApi;
using CloudHypervisor.TestSupport;
using CloudHypervisor.Vmm;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>
/// The real Vmm control loop (src/Vmm) behind a real <see cref="RestServer"/> on a temp socket,
/// with a hypervisor test double: the whole control plane as a user of the socket sees it.
/// </summary>
public sealed class ServedLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private RestServer _server = null!;

    private ServedLoop(string directory) => Directory = directory;

    public TestHypervisor Hypervisor { get; } = new();
    public EventMonitorHub Events { get; } = new();
    public string Directory { get; }
    public string Socket => Path.Combine(Directory, "api.sock");

    /// <summary>The loop's exit code once vmm.shutdown has been handled.</summary>
    public Task<int> Loop { get; private set; } = null!;

    public static async Task<ServedLoop> StartAsync()
    {
        var served = new ServedLoop(RestHost.NewDirectory());
        var channel = new ApiChannel();
        var loop = new VmmControlLoop(channel, served.Events, served.Hypervisor, Serilog.Core.Logger.None,
            new VmmOptions { BuildVersion = "v54.0.0", Version = "54.0.0", Features = ["kvm"] });
        served.Loop = loop.RunAsync(served._cancel.Token);
        served._server = await RestServer.StartAsync(new RestServerOptions { SocketPath = served.Socket }, channel, served.Events,
            Serilog.Core.Logger.None, CancellationToken.None);
        return served;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync();
        await _cancel.CancelAsync();
        try
        {
            await Loop;
        }
        catch (OperationCanceledException)
        {
        }

        await Events.DisposeAsync();
        _cancel.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
