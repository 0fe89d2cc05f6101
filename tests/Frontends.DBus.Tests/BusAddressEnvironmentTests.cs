#if DBUS_API
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>Runs alone: these tests change the process environment that the bus address is read from.</summary>
[CollectionDefinition(nameof(NativeEnvironment), DisableParallelization = true)]
public sealed class NativeEnvironment;

/// <summary>
/// The production path (no explicit address): the session bus is found through
/// DBUS_SESSION_BUS_ADDRESS and the system bus through DBUS_SYSTEM_BUS_ADDRESS, read again at
/// every connection.
/// </summary>
[Collection(nameof(NativeEnvironment))]
public sealed class BusAddressEnvironmentTests
{
    [Theory]
    [InlineData("DBUS_SESSION_BUS_ADDRESS", false)]
    [InlineData("DBUS_SYSTEM_BUS_ADDRESS", true)]
    public async Task The_bus_is_found_through_its_environment_variable(string variable, bool systemBus)
    {
        await using var bus = await PrivateBus.StartAsync();
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        await using var vmm = RunningVmm.Start(events);
        var name = "org.cloudhypervisor.Env" + (systemBus ? "System" : "Session");
        Environment.SetEnvironmentVariable(variable, bus.Address);
        try
        {
            var server = await DBusServer.StartAsync(
                new DBusServerOptions { ServiceName = name, ObjectPath = "/org/cloudhypervisor/Env", SystemBus = systemBus },
                vmm.Channel, events, new LogCollector().Logger, CancellationToken.None);
            try
            {
                var ping = await Tools.RunAsync("busctl", "--address=" + bus.Address, "call", name, "/org/cloudhypervisor/Env", DBusInterface.Name, "VmmPing");
                Assert.True(ping.ExitCode == 0, ping.ToString());
            }
            finally
            {
                await server.StopAsync();
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Without_a_reachable_session_bus_start_fails_naming_the_bus()
    {
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        Environment.SetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/session_bus");
        try
        {
            var e = await Assert.ThrowsAsync<DBusServerException>(() => DBusServer.StartAsync(
                new DBusServerOptions { ServiceName = "org.cloudhypervisor.Nowhere", ObjectPath = "/x" },
                new InternalApi.ApiChannel(), events, new LogCollector().Logger, CancellationToken.None));

            Assert.StartsWith("Cannot connect to the D-Bus session bus", e.Message);
            Assert.EndsWith(": No such file or directory", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS", null);
        }
    }
}
#endif
