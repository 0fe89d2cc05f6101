#if DBUS_API
using System.Text.Json;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>Peer, Properties and Introspectable on our object, as a D-Bus user (busctl, gdbus) expects them.</summary>
public sealed class StandardInterfacesTests : IAsyncLifetime
{
    private ServedVmm _vmm = null!;

    public async Task InitializeAsync() => _vmm = await ServedVmm.StartAsync();

    public async Task DisposeAsync() => await _vmm.DisposeAsync();

    [Fact]
    public async Task Peer_Ping_answers_and_GetMachineId_is_this_machines_id()
    {
        var ping = await CallAsync("org.freedesktop.DBus.Peer", "Ping");
        var id = await CallAsync("org.freedesktop.DBus.Peer", "GetMachineId");

        Assert.True(ping.ExitCode == 0, ping.ToString());
        Assert.True(id.ExitCode == 0, id.ToString());
        using var reply = JsonDocument.Parse(id.Stdout);
        Assert.Equal((await File.ReadAllTextAsync("/etc/machine-id")).Trim(), reply.RootElement.GetProperty("data")[0].GetString());
    }

    [Fact]
    public async Task Properties_lists_none_and_names_what_does_not_exist()
    {
        var all = await CallAsync("org.freedesktop.DBus.Properties", "GetAll", "s", "org.cloudhypervisor.DBusApi1");
        var get = await CallAsync("org.freedesktop.DBus.Properties", "Get", "ss", "org.cloudhypervisor.DBusApi1", "State");
        var set = await CallAsync("org.freedesktop.DBus.Properties", "Set", "ssv", "org.cloudhypervisor.DBusApi1", "State", "s", "x");
        var other = await CallAsync("org.freedesktop.DBus.Properties", "GetAll", "s", "org.example.Nothing");

        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Equal("""{"type":"a{sv}","data":[{}]}""", all.Stdout.Trim());
        Assert.Contains("Unknown property 'State'", get.Stderr);
        Assert.Contains("Unknown property 'State'", set.Stderr);
        Assert.Contains("Unknown interface 'org.example.Nothing'", other.Stderr);
    }

    [Fact]
    public async Task Introspection_lists_the_standard_interfaces_and_the_parent_paths_their_child()
    {
        var own = await Tools.RunAsync("busctl", "--address=" + _vmm.Bus.Address, "introspect", _vmm.ServiceName, _vmm.ObjectPath);
        var parent = await Tools.RunAsync("busctl", "--address=" + _vmm.Bus.Address, "tree", _vmm.ServiceName);

        Assert.True(own.ExitCode == 0, own.ToString());
        foreach (var iface in new[] { "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Peer", "org.freedesktop.DBus.Properties", "org.cloudhypervisor.DBusApi1" })
        {
            Assert.Contains(iface + " ", own.Stdout);
        }

        Assert.True(parent.ExitCode == 0, parent.ToString());
        Assert.Contains(_vmm.ObjectPath.Split('/')[^1], parent.Stdout);
    }

    [Fact]
    public async Task The_interface_element_a_client_receives_is_the_interface_files_byte_for_byte()
    {
        var result = await Tools.RunAsync("dbus-send", "--bus=" + _vmm.Bus.Address, "--print-reply=literal", "--dest=" + _vmm.ServiceName,
            _vmm.ObjectPath, "org.freedesktop.DBus.Introspectable.Introspect");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(InterfaceElement(File.ReadAllText(RepoFiles.PathOf("dbus/org.cloudhypervisor.DBusApi1.xml"))), InterfaceElement(result.Stdout));
    }

    [Fact]
    public async Task A_wrong_signature_on_a_standard_interface_is_InvalidArgs()
    {
        var result = await CallAsync("org.freedesktop.DBus.Properties", "GetAll", "i", "5");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("expecting 's'", result.Stderr);
    }

    /// <summary>From <c>&lt;interface name="org.cloudhypervisor.DBusApi1"&gt;</c> to its <c>&lt;/interface&gt;</c> line, inclusive.</summary>
    private static string InterfaceElement(string xml)
    {
        var start = xml.IndexOf("<interface name=\"org.cloudhypervisor.DBusApi1\">", StringComparison.Ordinal);
        Assert.True(start >= 0, xml);
        var end = xml.IndexOf("</interface>\n", start, StringComparison.Ordinal);
        return xml[start..(end + "</interface>\n".Length)];
    }

    private Task<ToolResult> CallAsync(string iface, string member, params string[] arguments) =>
        Tools.RunAsync("busctl", ["--address=" + _vmm.Bus.Address, "--json=short", "call", _vmm.ServiceName, _vmm.ObjectPath, iface, member, .. arguments]);
}
#endif
