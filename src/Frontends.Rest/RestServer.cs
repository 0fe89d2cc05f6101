using CloudHypervisor.Frontends.Rest.Transport;
using CloudHypervisor.InternalApi;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using EventMonitorHub = CloudHypervisor.EventMonitor.EventMonitor;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>
/// Upstream's REST API (contract §1) on a Unix socket. Threading model: our Unix socket transport
/// (<see cref="UnixSocketTransport"/>: recvmsg, so SCM_RIGHTS descriptors arrive) feeds Kestrel,
/// which parses HTTP/1.1 and runs one terminal request delegate
/// (<see cref="RestApplication"/>; no MVC, routing middleware or DI pipeline) that turns the
/// request into an <see cref="ApiCommand"/> through <see cref="ApiCatalog"/>, sends it to the
/// control loop through <see cref="IApiSender"/> and awaits the single answer. Requests on
/// different connections run in parallel; the control loop serializes them. The event stream
/// (<c>GET /api/v1/events</c>) reads an <see cref="CloudHypervisor.EventMonitor.EventSubscription"/>.
/// </summary>
public sealed class RestServer : IAsyncDisposable
{
    private readonly KestrelServer _kestrel;
    private readonly RestApplication _application;
    private readonly ApiSocket? _socket;
    private readonly TimeSpan _stopTimeout;
    private readonly Serilog.ILogger _log;
    private readonly Lock _stopLock = new();
    private Task? _stopped;

    private RestServer(KestrelServer kestrel, RestApplication application, ApiSocket? socket, TimeSpan stopTimeout, Serilog.ILogger log)
    {
        _kestrel = kestrel;
        _application = application;
        _socket = socket;
        _stopTimeout = stopTimeout;
        _log = log;
    }

    /// <summary>The socket path in path mode, null in fd mode.</summary>
    public string? SocketPath => _socket?.Path;

    /// <summary>
    /// Binds (path mode: lock, remove a stale socket, bind, chmod 0600) or adopts (fd mode) the
    /// socket and starts serving. Throws <see cref="ApiSocketInUseException"/> when another live
    /// instance holds <c>&lt;path&gt;.lock</c>.
    /// </summary>
    public static async Task<RestServer> StartAsync(
        RestServerOptions options, IApiSender api, EventMonitorHub events, Serilog.ILogger log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(log);
        log = log.ForContext("SourceContext", "rest");

        ulong listenFd;
        ApiSocket? socket = null;
        if (options.ListenFd is { } fd)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(fd, nameof(options.ListenFd));
            listenFd = (ulong)fd;
        }
        else if (options.SocketPath is { } path)
        {
            socket = ApiSocket.Bind(path);
            listenFd = (ulong)socket.ListenFd;
        }
        else
        {
            throw new ArgumentException("RestServerOptions needs SocketPath or ListenFd", nameof(options));
        }

        var rejections = new RejectionNotes();
        var loggerFactory = new KestrelLog(log, rejections);
        var kestrelOptions = new KestrelServerOptions
        {
            // We send upstream's "Server: Cloud Hypervisor API" ourselves.
            AddServerHeader = false,
            ApplicationServices = new ServiceCollection().BuildServiceProvider(),
        };
        // The 4 MiB limit is checked by RestApplication so the 413 carries our JSON body.
        kestrelOptions.Limits.MaxRequestBodySize = null;
        kestrelOptions.ListenHandle(listenFd, listen => listen.Protocols = HttpProtocols.Http1);

        var transport = new UnixSocketTransport(rejections, log);
        var kestrel = new KestrelServer(Options.Create(kestrelOptions), transport, loggerFactory);
        var application = new RestApplication(api, events, options, log);
        try
        {
            await kestrel.StartAsync(application, ct);
        }
        catch
        {
            kestrel.Dispose();
            socket?.Dispose();
            throw;
        }

        log.Information("REST API listening on {Socket}", socket?.Path ?? $"fd {listenFd}");
        return new RestServer(kestrel, application, socket, options.StopTimeout, log);
    }

    /// <summary>
    /// Stops accepting, ends event streams, lets in-flight requests finish and flush their
    /// responses (vmm.shutdown's 200 reaches the client), then removes the socket file and
    /// releases the lock. Safe to call more than once.
    /// </summary>
    public Task StopAsync()
    {
        lock (_stopLock)
        {
            return _stopped ??= StopCoreAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StopCoreAsync()
    {
        _application.BeginStop();
        using var timeout = new CancellationTokenSource(_stopTimeout);
        try
        {
            await _kestrel.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _log.Warning("REST API: requests still running after {Timeout}; closing their connections", _stopTimeout);
        }
        finally
        {
            _kestrel.Dispose();
            _socket?.Dispose();
            _application.Dispose();
        }
    }
}
