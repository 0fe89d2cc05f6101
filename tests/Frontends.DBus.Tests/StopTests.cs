using CloudHypervisor.EventMonitor;
#if DBUS_API
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.InternalApi;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>Stopping a bus thread while it is busy, with no further traffic to wake it.</summary>
public sealed class StopTests
{
    // The host stops the D-Bus server right after the control loop ended; the loop's last answer
    // (vmm.shutdown's own reply) reaches the server from the thread pool just then. busctl once got
    // "Remote peer disconnected" instead of the reply to VmmShutdown.
    [Fact]
    public async Task An_answer_the_VMM_gives_as_the_server_stops_still_reaches_the_caller()
    {
        await using var bus = await PrivateBus.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        for (var round = 0; round < 10; round++)
        {
            // No control loop: the test answers the request itself, then stops the server at once.
            var channel = new ApiChannel();
            var options = new DBusServerOptions { ServiceName = "org.cloudhypervisor.Stop" + round, ObjectPath = "/org/cloudhypervisor/Stop", Address = bus.Address };
            var server = await DBusServer.StartAsync(options, channel, events, new LogCollector().Logger, CancellationToken.None);
            using var client = DBusClient.Connect(options.ServiceName, options.ObjectPath, address: bus.Address);
            var call = Task.Run(() => client.Call("VmmShutdown", timeout: TimeSpan.FromSeconds(20)));
            var request = await channel.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));

            request.Answer(ApiResult.Ok());
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));

            var reply = await call.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(!reply.IsError, $"round {round}: {reply.ErrorName}: {reply.ErrorMessage}");
        }
    }

    // The event callback runs inside the thread's processing step, so holding it there puts the stop
    // exactly where CI once hung the server: between the loop's stop check and its wait. A wake-up
    // drained after the check was lost, and with no more traffic the thread slept on forever.
    [Fact]
    public async Task Dispose_ends_the_listener_thread_when_it_lands_while_an_event_is_being_handled()
    {
        await using var vmm = await ServedVmm.StartAsync();
        using var client = DBusClient.Connect(vmm.ServiceName, vmm.ObjectPath, address: vmm.Bus.Address);
        using var inCallback = new SemaphoreSlim(0);
        using var release = new SemaphoreSlim(0);
        var listener = client.ListenForEvents(_ =>
        {
            inCallback.Release();
            release.Wait();
        });
        vmm.Events.Publish(Events.Vm.Booting);
        Assert.True(await inCallback.WaitAsync(TimeSpan.FromSeconds(20)), "no event reached the listener");

        var disposing = Task.Run(listener.Dispose);
        await Task.Delay(200);
        release.Release();
        await disposing;

        Assert.True(listener.Completion.IsCompleted, "the listener's thread kept running after Dispose");
        Assert.Null(await listener.Completion);
    }
}
#endif
