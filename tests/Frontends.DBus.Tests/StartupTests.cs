#if DBUS_API
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>What the CLI prints when D-Bus cannot start (it exits 1 with the message).</summary>
public sealed class StartupTests
{
    [Fact]
    public async Task A_name_already_owned_fails_start_with_a_clear_message()
    {
        await using var vmm = await ServedVmm.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();

        var e = await Assert.ThrowsAsync<DBusServerException>(() =>
            DBusServer.StartAsync(vmm.Options with { ObjectPath = "/other" }, new ApiChannel(), events, vmm.Log.Logger, CancellationToken.None));

        Assert.Equal($"The D-Bus name '{vmm.ServiceName}' is already owned by another connection on the D-Bus bus {vmm.Bus.Address}", e.Message);
        // The first owner is untouched.
        Assert.Equal(0, (await vmm.BusctlAsync("VmmPing")).ExitCode);
    }

    [Fact]
    public async Task An_unreachable_bus_fails_start_with_a_clear_message()
    {
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        var options = new DBusServerOptions { ServiceName = "org.cloudhypervisor.X", ObjectPath = "/x", Address = "unix:path=/nonexistent/bus" };

        var e = await Assert.ThrowsAsync<DBusServerException>(() =>
            DBusServer.StartAsync(options, new ApiChannel(), events, new LogCollector().Logger, CancellationToken.None));

        Assert.Equal("Cannot connect to the D-Bus bus unix:path=/nonexistent/bus: No such file or directory", e.Message);
    }

    [Fact]
    public async Task An_invalid_object_path_fails_start_naming_it()
    {
        await using var vmm = await ServedVmm.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();

        var e = await Assert.ThrowsAsync<DBusServerException>(() =>
            DBusServer.StartAsync(vmm.Options with { ServiceName = "org.cloudhypervisor.Other", ObjectPath = "no-slash" }, new ApiChannel(), events, vmm.Log.Logger, CancellationToken.None));

        Assert.Equal("Invalid D-Bus object path 'no-slash'", e.Message);
    }

    [Fact]
    public async Task An_invalid_service_name_fails_start_naming_it()
    {
        await using var vmm = await ServedVmm.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();

        var e = await Assert.ThrowsAsync<DBusServerException>(() =>
            DBusServer.StartAsync(vmm.Options with { ServiceName = "not a name", ObjectPath = "/ok" }, new ApiChannel(), events, vmm.Log.Logger, CancellationToken.None));

        Assert.Equal("Invalid D-Bus service name 'not a name'", e.Message);
    }

    [Fact]
    public async Task Stopping_releases_the_name_for_the_next_owner()
    {
        await using var vmm = await ServedVmm.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        await vmm.Server.StopAsync();

        var second = await DBusServer.StartAsync(vmm.Options, vmm.Channel, events, vmm.Log.Logger, CancellationToken.None);
        try
        {
            Assert.Equal(0, (await vmm.BusctlAsync("VmmPing")).ExitCode);
        }
        finally
        {
            await second.StopAsync();
        }
    }
}
#endif
