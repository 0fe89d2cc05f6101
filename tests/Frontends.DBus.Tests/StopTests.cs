#if DBUS_API
using CloudHypervisor.Frontends.DBus.Tests.Support;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>Stopping a bus thread while it is busy, with no further traffic to wake it.</summary>
public sealed class StopTests
{
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
        vmm.Events.Publish("vm", "booting");
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
