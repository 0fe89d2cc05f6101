#if DBUS_API
using System.Diagnostics;
using System.Text.Json;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;
using CloudHypervisor.InternalApi;
using Xunit.Abstractions;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>The client ch-remote will use, against the real server on a private bus.</summary>
public sealed class DBusClientTests(ITestOutputHelper output) : IAsyncLifetime
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
    public void VmmPing_and_VmInfo_round_trip_through_dbus_daemon_in_well_under_a_millisecond_at_the_median()
    {
        using var client = DBusClient.Connect(_vmm.ServiceName, _vmm.ObjectPath, address: _vmm.Bus.Address);
        Assert.False(client.Call("VmCreate", """{"payload":{"kernel":"/k"}}""").IsError);

        var ping = Measure(client, "VmmPing");
        var info = Measure(client, "VmInfo");

        output.WriteLine($"D-Bus round trips through dbus-daemon, 5000 calls each: VmmPing p50 {ping.P50:F0} us p99 {ping.P99:F0} us; VmInfo p50 {info.P50:F0} us p99 {info.P99:F0} us");
        Assert.True(ping.P50 < 1000, $"VmmPing p50 {ping.P50:F0} us");
        Assert.True(info.P50 < 1000, $"VmInfo p50 {info.P50:F0} us");
    }

    private static (double P50, double P99) Measure(DBusClient client, string method)
    {
        for (var i = 0; i < 500; i++)
        {
            client.Call(method);
        }

        var samples = new double[5000];
        for (var i = 0; i < samples.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var reply = client.Call(method);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            Assert.False(reply.IsError, reply.ErrorMessage);
        }

        Array.Sort(samples);
        return (samples[samples.Length / 2], samples[samples.Length * 99 / 100]);
    }
}
#endif
