#if DBUS_API
using System.Diagnostics;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.InternalApi;
using CloudHypervisor.TestSupport;

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

    // StartAsync's last await is the bus daemon's answer to RequestName, which the library
    // completes on the connection's read loop; the caller's code after `await StartAsync` ran
    // there too, so a host (or a test) that then did something synchronous held up every call:
    // busctl timed out and a test's own first call got NoReply after 25 s.
    [Fact]
    public async Task A_caller_that_blocks_right_after_start_does_not_hold_up_calls()
    {
        await using var bus = await PrivateBus.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        await using var vmm = RunningVmm.Start(events);
        var options = new DBusServerOptions { ServiceName = "org.cloudhypervisor.Blocking", ObjectPath = "/org/cloudhypervisor/Blocking", Address = bus.Address };

        // Task.Run has no captured context: after the await the code runs wherever StartAsync's completion ran it.
        var (exited, exitCode, stderr) = await Task.Run(async () =>
        {
            var server = await DBusServer.StartAsync(options, vmm.Channel, events, new LogCollector().Logger, CancellationToken.None);
            try
            {
                using var busctl = Process.Start(new ProcessStartInfo(Tools.Require("busctl"),
                    ["--address=" + bus.Address, "--timeout=10", "call", options.ServiceName, options.ObjectPath, DBusInterface.Name, "VmmPing"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!;
                // Blocks this thread, as synchronous start-up work would.
                var exited = busctl.WaitForExit(30_000);
                return (exited, exited ? busctl.ExitCode : -1, exited ? await busctl.StandardError.ReadToEndAsync() : string.Empty);
            }
            finally
            {
                await server.StopAsync();
            }
        });

        Assert.True(exited, "busctl did not return");
        Assert.True(exitCode == 0, stderr);
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
