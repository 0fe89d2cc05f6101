#if DBUS_API
using System.Xml.Linq;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;
using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>dbus/org.cloudhypervisor.DBusApi1.xml is what a client sees, and covers the catalog.</summary>
public sealed class IntrospectionTests
{
    private static readonly string InterfaceFile = RepoFiles.PathOf("dbus/org.cloudhypervisor.DBusApi1.xml");

    [Fact]
    public async Task Live_introspection_through_busctl_equals_the_interface_file()
    {
        await using var vmm = await ServedVmm.StartAsync();

        var result = await Tools.RunAsync("busctl", "--address=" + vmm.Bus.Address, "--xml-interface", "introspect", vmm.ServiceName, vmm.ObjectPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Canonical(OurInterface(XDocument.Parse(File.ReadAllText(InterfaceFile)))), Canonical(OurInterface(XDocument.Parse(result.Stdout))));
    }

    [Fact]
    public async Task Gdbus_introspect_shows_every_method_with_its_argument_names()
    {
        await using var vmm = await ServedVmm.StartAsync();

        var result = await Tools.RunAsync("gdbus", "introspect", "--address", vmm.Bus.Address, "--dest", vmm.ServiceName, "--object-path", vmm.ObjectPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("VmCreate(in  s vm_config);", result.Stdout);
        Assert.Contains("VmAddDisk(in  s disk_config,", result.Stdout);
        Assert.Contains("VmResizeDisk(in  s vm_resize_disk);", result.Stdout);
        Assert.Contains("VmNmi();", result.Stdout);
        Assert.Contains("Event(s event);", result.Stdout);
    }

    [Fact]
    public void The_interface_file_has_one_method_per_catalog_action_with_upstreams_argument_names()
    {
        var iface = OurInterface(XDocument.Load(InterfaceFile));

        var methods = iface.Elements("method").ToDictionary(m => (string)m.Attribute("name")!);

        Assert.Equal(ApiCatalog.All.Select(a => a.DBusMethod).Order(), methods.Keys.Order());
        foreach (var action in ApiCatalog.All)
        {
            var args = methods[action.DBusMethod].Elements("arg").ToList();
            var @in = args.Where(a => (string?)a.Attribute("direction") == "in").Select(a => (string?)a.Attribute("name")).ToList();
            var @out = args.Where(a => (string?)a.Attribute("direction") == "out").ToList();
            Assert.Equal(action.DBusArgument is null ? [] : [action.DBusArgument], @in);
            Assert.Equal(action.Reply is ApiReplyKind.Json or ApiReplyKind.OptionalJson ? 1 : 0, @out.Count);
            Assert.All(args, a => Assert.Equal("s", (string?)a.Attribute("type")));
        }

        var signal = Assert.Single(iface.Elements("signal"));
        Assert.Equal("Event", (string?)signal.Attribute("name"));
        Assert.Equal("event", (string?)Assert.Single(signal.Elements("arg")).Attribute("name"));
    }

    private static XElement OurInterface(XDocument document) =>
        document.Root!.Elements("interface").Single(i => (string?)i.Attribute("name") == DBusInterface.Name);

    /// <summary>Methods and signals sorted by name, attributes sorted, whitespace dropped.</summary>
    private static string Canonical(XElement iface) =>
        string.Join("\n", iface.Elements()
            .OrderBy(e => e.Name.LocalName).ThenBy(e => (string?)e.Attribute("name"), StringComparer.Ordinal)
            .Select(e => $"{e.Name.LocalName} {e.Attribute("name")?.Value}: " + string.Join(", ", e.Elements().Select(a =>
                a.Name.LocalName + "(" + string.Join(" ", a.Attributes().OrderBy(x => x.Name.LocalName).Select(x => $"{x.Name.LocalName}={x.Value}")) + ")"))));
}
#endif
