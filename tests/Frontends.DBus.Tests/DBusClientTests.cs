#if DBUS_API
using System.Text.Json;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>The client ch-remote will use, against the real server on a private bus.</summary>
public sealed class DBusClientTests : IAsyncLifetime
{
    private ServedVmm _vmm = null!;

    public async Task InitializeAsync() => _vmm = await ServedVmm.StartAsync();

    public async Task DisposeAsync() => await _vmm.DisposeAsync();

    [Fact]
    public void The_client_gets_a_reply_string_no_value_or_an_error_name_with_its_message()
    {
        using var client = DBusClient.Connect(_vmm.ServiceName, _vmm.ObjectPath, address: _vmm.Bus.Address);

        var info = client.Call("VmInfo");
        var create = client.Call("VmCreate", """{"payload":{"kernel":"/k"}}""");
        var ping = client.Call("VmmPing");

        Assert.Equal(new DBusCallResult(null, DBusErrors.NotCreated, "Error from API: The VM info is not available: VM is not created"), info);
        Assert.Equal(ApiErrorKind.NotCreated, DBusErrors.KindOf(info.ErrorName!));
        Assert.Equal(new DBusCallResult(null, null, null), create);
        Assert.False(ping.IsError);
        Assert.Equal(Environment.ProcessId, JsonDocument.Parse(ping.Value!).RootElement.GetProperty("pid").GetInt64());
    }

    [Fact]
    public void The_client_reports_standard_errors_by_name()
    {
        using var client = DBusClient.Connect(_vmm.ServiceName, _vmm.ObjectPath, address: _vmm.Bus.Address);

        var unknown = client.Call("VmExplode");
        var wrong = client.Call("VmmPing", "unexpected");

        Assert.Equal("org.freedesktop.DBus.Error.UnknownMethod", unknown.ErrorName);
        Assert.Equal("org.freedesktop.DBus.Error.InvalidArgs", wrong.ErrorName);
    }

    [Fact]
    public void The_client_fails_clearly_when_the_bus_is_unreachable()
    {
        var e = Assert.Throws<DBusClientException>(() => DBusClient.Connect("org.x.Y", "/x", address: "unix:path=/nonexistent/bus"));

        Assert.Equal("Cannot connect to the D-Bus unix:path=/nonexistent/bus: No such file or directory", e.Message);
    }

    [Fact]
    public async Task The_listener_receives_each_event_record_in_order()
    {
        var received = new List<string>();
        using var client = DBusClient.Connect(_vmm.ServiceName, _vmm.ObjectPath, address: _vmm.Bus.Address);
        using var listener = client.ListenForEvents(e =>
        {
            lock (received)
            {
                received.Add(e);
            }
        });

        Assert.False(client.Call("VmCreate", """{"payload":{"kernel":"/k"}}""").IsError);
        Assert.False(client.Call("VmBoot").IsError);
        Assert.False(client.Call("VmShutdown").IsError);

        Assert.True(await Tools.EventuallyAsync(
            () =>
            {
                lock (received)
                {
                    return Task.FromResult(received.Count >= 3);
                }
            },
            TimeSpan.FromSeconds(20)));
        lock (received)
        {
            Assert.Equal(
                ["booting", "booted", "shutdown"],
                received.Select(r => JsonDocument.Parse(r).RootElement.GetProperty("event").GetString()));
            Assert.Equal(
                received.Select(r => JsonDocument.Parse(r).RootElement.GetProperty("seq").GetInt64()).Order(),
                received.Select(r => JsonDocument.Parse(r).RootElement.GetProperty("seq").GetInt64()));
        }
    }

    [Fact]
    public void Thousands_of_calls_in_a_row_on_one_connection_each_get_their_own_reply()
    {
        // Speed is measured by bench/run.sh; this checks that replies never get mixed up or lost.
        using var client = DBusClient.Connect(_vmm.ServiceName, _vmm.ObjectPath, address: _vmm.Bus.Address);
        Assert.False(client.Call("VmCreate", """{"payload":{"kernel":"/k"}}""").IsError);

        for (var i = 0; i < 2000; i++)
        {
            var ping = client.Call("VmmPing");
            var info = client.Call("VmInfo");
            var wrong = client.Call("VmCreate", "{}");

            Assert.Equal(Environment.ProcessId, JsonDocument.Parse(ping.Value!).RootElement.GetProperty("pid").GetInt64());
            Assert.Equal("Created", JsonDocument.Parse(info.Value!).RootElement.GetProperty("state").GetString());
            Assert.True(wrong.IsError);
        }
    }
}
#endif
