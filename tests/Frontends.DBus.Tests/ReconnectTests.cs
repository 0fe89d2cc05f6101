#if DBUS_API
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>The bus daemon dies while the VMM runs: the VMM keeps running and D-Bus comes back.</summary>
public sealed class ReconnectTests
{
    [Fact]
    public async Task Killing_and_restarting_the_bus_daemon_brings_the_name_back_and_calls_work_again()
    {
        await using var vmm = await ServedVmm.StartAsync();
        Assert.Equal(0, (await vmm.BusctlAsync("VmCreate", """{"payload":{"kernel":"/k"}}""")).ExitCode);

        await vmm.Bus.KillDaemonAsync();

        Assert.True(
            await Tools.EventuallyAsync(() => Task.FromResult(vmm.Log.Lines.Any(l => l.StartsWith("Warning: D-Bus connection", StringComparison.Ordinal) && l.Contains("lost"))), TimeSpan.FromSeconds(20)),
            "no warning about the lost connection: " + string.Join("\n", vmm.Log.Lines));
        // The VMM (and so REST) keeps answering while the bus is gone.
        var ping = await vmm.Channel.SendAsync(new VmmPingCommand(), ApiOrigin.Rest).WaitAsync(TimeSpan.FromSeconds(2));
        Assert.True(ping.IsSuccess);
        await Task.Delay(600); // a few failed reconnection attempts

        await vmm.Bus.StartDaemonAsync();

        Assert.True(
            await Tools.EventuallyAsync(async () => (await vmm.BusctlAsync("VmmPing")).ExitCode == 0, TimeSpan.FromSeconds(10)),
            "the name did not come back: " + string.Join("\n", vmm.Log.Lines));
        var info = await vmm.DBusSendAsync("VmInfo");
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("\"state\":\"Created\"", info.Stdout);
        Assert.Contains(vmm.Log.Lines, l => l.Contains("D-Bus connection restored", StringComparison.Ordinal));

        // Signals flow again on the new daemon.
        var received = new List<string>();
        using var client = DBusClient.Connect(vmm.ServiceName, vmm.ObjectPath, address: vmm.Bus.Address);
        using var listener = client.ListenForEvents(e =>
        {
            lock (received)
            {
                received.Add(e);
            }
        });
        Assert.Equal(0, (await vmm.BusctlAsync("VmBoot")).ExitCode);
        Assert.True(await Tools.EventuallyAsync(
            () =>
            {
                lock (received)
                {
                    return Task.FromResult(received.Any(r => r.Contains("\"event\": \"booted\"", StringComparison.Ordinal)));
                }
            },
            TimeSpan.FromSeconds(20)));
    }
}
#endif
