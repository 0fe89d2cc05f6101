#if DBUS_API
using System.Runtime.InteropServices;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>Runs alone: these tests change the native process environment that libsystemd reads.</summary>
[CollectionDefinition(nameof(NativeEnvironment), DisableParallelization = true)]
public sealed class NativeEnvironment;

/// <summary>
/// The production path (no explicit address): libsystemd finds the session bus through
/// DBUS_SESSION_BUS_ADDRESS and the system bus through DBUS_SYSTEM_BUS_ADDRESS. .NET's
/// Environment.SetEnvironmentVariable does not reach the native environment, so setenv(3) does.
/// </summary>
[Collection(nameof(NativeEnvironment))]
public sealed partial class BusAddressEnvironmentTests
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
        Assert.Equal(0, setenv(variable, bus.Address, 1));
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
            Assert.Equal(0, unsetenv(variable));
        }
    }

    [Fact]
    public async Task Without_a_reachable_session_bus_start_fails_naming_the_bus()
    {
        await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
        Assert.Equal(0, setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/session_bus", 1));
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
            Assert.Equal(0, unsetenv("DBUS_SESSION_BUS_ADDRESS"));
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);
}
#endif
