using System.Runtime.InteropServices;
using CloudHypervisor.Cli;
using CloudHypervisor.EventMonitor;
using CloudHypervisor.EventMonitor.Sinks;
using CloudHypervisor.Frontends.Rest;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Logging;
using CloudHypervisor.Sandbox;
using CloudHypervisor.Vmm.Kvm;
using Serilog;
using EventHub = CloudHypervisor.EventMonitor.EventMonitor;
#if DBUS_API
using CloudHypervisor.Frontends.DBus;
#endif

namespace CloudHypervisor;

/// <summary>
/// The composition root (DESIGN.md rule 4): wires the event monitor, the control loop, the
/// hypervisor and the frontends in upstream's startup order (contract §6.3), then waits for the
/// loop to end (vmm.shutdown from any frontend, SIGTERM/SIGINT, guest poweroff) and tears down:
/// STOPPING=1, events flushed, D-Bus and REST stopped (REST lets the vmm.shutdown reply reach its
/// client and removes the socket), exit code from the loop.
/// </summary>
public sealed class VmmHost(CliArguments arguments, ILogger log) : IAsyncDisposable
{
    private static readonly TimeSpan EventFlushTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan LoopStopTimeout = TimeSpan.FromSeconds(10);

    private readonly ILogger _log = log.ForContext("SourceContext", "vmm");
    private readonly EventHub _events = new();
    private readonly ApiChannel _channel = new();
    private readonly SdNotify _notify = SdNotify.FromEnvironment(log);
    private readonly CancellationTokenSource _stop = new();
    private readonly KvmHypervisor _hypervisor = new(log.ForContext("SourceContext", "kvm"));
    private Task<int>? _loop;
    private Vmm.VmmControlLoop? _controlLoop;
    private RestServer? _rest;
#if DBUS_API
    private DBusServer? _dbus;
#endif

    /// <summary>Runs the VMM until it shuts down; returns the exit code. Throws <see cref="FatalErrorException"/>.</summary>
    public async Task<int> RunAsync()
    {
        var eventTarget = arguments.EventMonitor is { } eventOption ? Composition.ParseEventMonitor(eventOption) : null;
        var dbus = Composition.DBusOptions(arguments);
        var apiSocket = arguments.ApiSocket is { } socketOption ? Composition.ParseApiSocket(socketOption) : null;

        using var dropLogger = new DroppedEventLogger(_events, _log);
        try
        {
            // 1-2: the monitor and its sinks exist before the first event (vmm/starting is seq 0).
            if (eventTarget is not null)
            {
                _events.AddSink(Composition.OpenEventSink(eventTarget, _log.ForContext("SourceContext", "event_monitor")));
            }
            else if (dbus is null)
            {
                _events.AddSink(new LogEventSink(_log.ForContext("SourceContext", "event_monitor")));
            }

            _events.Publish(Events.Vmm.Starting);
            _log.Information("{Version} starting", BuildInfo.Version);

            // 3: the control loop.
            // KvmHypervisor opens /dev/kvm per VM build, so the API serves even where KVM is missing
            // and vm.boot answers the error.
            _loop = Composition.StartControlLoop(_channel, _events, _hypervisor, log, arguments, _stop.Token, out _controlLoop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

            // 4: D-Bus, then HTTP.
#if DBUS_API
            if (dbus is not null)
            {
                _dbus = await StartFrontend(() => DBusServer.StartAsync(dbus, _channel, _events, log, _stop.Token));
            }
#endif
            if (apiSocket is not null)
            {
                _rest = await StartFrontend(() => RestServer.StartAsync(apiSocket, _channel, _events, log, _stop.Token));
            }

            // The VMM has started: from here on every thread, the runtime's later ones included,
            // runs under the seccomp filter (--seccomp), before READY=1 and before any VM exists.
            SeccompSandbox.Apply(arguments.Seccomp, _log);
            _notify.Notify(SdNotify.Ready);

            // 5: the CLI's own VM, through the same channel as every frontend.
            if (arguments.HasPayload)
            {
                var config = Composition.BuildVmConfig(arguments);
                await SendOrFail(new VmCreateCommand(config));
                await SendOrFail(new VmBootCommand());
            }
            else if (arguments.Restore is { } restore)
            {
                await SendOrFail(new VmRestoreCommand(Composition.ParseRestore(restore)));
            }

            var exitCode = await _loop;
            _log.Information("VMM exited with code {ExitCode}", exitCode);
            return exitCode;
        }
        finally
        {
            await TeardownAsync();
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Upstream handles SIGTERM/SIGINT like an exit event: a full vmm.shutdown, exit code 0.
        context.Cancel = true;
        _log.Information("Received signal {Signal}, shutting down", context.Signal.ToString());
        _controlLoop?.RequestShutdown();
    }

    private async Task SendOrFail(ApiCommand command)
    {
        var result = await _channel.SendAsync(command, ApiOrigin.Cli);
        if (result.Error is { } error)
        {
            throw new FatalErrorException([error.Message, .. error.Causes]);
        }
    }

    private static async Task<T> StartFrontend<T>(Func<Task<T>> start)
    {
        try
        {
            return await start();
        }
        catch (ApiSocketInUseException e)
        {
            throw new FatalErrorException(e.Message);
        }
#if DBUS_API
        catch (DBusServerException e)
        {
            throw new FatalErrorException(["Failed to start the VMM thread", .. FatalErrorException.ChainOf(e)]);
        }
#endif
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            // Upstream starts its HTTP thread inside the VMM thread: "Failed to start the VMM thread",
            // "Error creation API server's socket", then the OS error.
            throw new FatalErrorException(["Failed to start the VMM thread", .. FatalErrorException.ChainOf(e)]);
        }
    }

    private async Task TeardownAsync()
    {
        _notify.Notify(SdNotify.Stopping);
        if (_loop is { IsCompleted: false } loop)
        {
            // A fatal startup error after the loop started: shut the VMM down as vmm.shutdown would.
            _ = _channel.SendAsync(new VmmShutdownCommand(), ApiOrigin.Internal);
            try
            {
                await loop.WaitAsync(LoopStopTimeout);
            }
            catch (TimeoutException)
            {
                _log.Warning("Control loop did not stop within {Timeout}", LoopStopTimeout);
                await _stop.CancelAsync();
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _events.FlushAsync(EventFlushTimeout);
#if DBUS_API
        if (_dbus is not null)
        {
            await _dbus.StopAsync();
        }
#endif
        if (_rest is not null)
        {
            await _rest.StopAsync();
        }

    }

    public async ValueTask DisposeAsync()
    {
        await _events.DisposeAsync();
        _hypervisor.Dispose();
        _stop.Dispose();
    }
}
