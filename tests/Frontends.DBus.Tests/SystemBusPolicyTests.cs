#if DBUS_API
using System.Diagnostics;
using System.Text.RegularExpressions;
using CloudHypervisor.Frontends.DBus.Tests.Support;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Frontends.DBus.Tests;

/// <summary>
/// dbus/org.cloudhypervisor.DBusApi.conf on a system-type dbus-daemon whose default policy is
/// Debian's own (taken from /usr/share/dbus-1/system.conf): root owns and calls, a member of the
/// configured group calls, anyone else is denied.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class SystemBusPolicyTests
{
    private const string Name = "org.cloudhypervisor.DBusApi";
    private const string ObjectPath = "/org/cloudhypervisor/DBusApi";
    private const int Nobody = 65534;
    private const int UsersGroup = 100;

    [Fact]
    public async Task Root_owns_the_name_a_group_member_may_call_and_others_are_denied()
    {
        Assert.True(Environment.UserName == "root", "the system-bus policy test runs as root (it switches users with setpriv)");
        var dir = Directory.CreateTempSubdirectory("ch-dbus-policy-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var socket = Path.Combine(dir, "system_bus_socket");
        var policy = File.ReadAllText(RepoFiles.PathOf("dbus/org.cloudhypervisor.DBusApi.conf"))
            .Replace("group=\"cloud-hypervisor\"", "group=\"users\"", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "policy.conf"), policy);
        File.WriteAllText(Path.Combine(dir, "bus.conf"), $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <listen>unix:path={socket}</listen>
              <auth>EXTERNAL</auth>
              {DefaultPolicy().Match(File.ReadAllText("/usr/share/dbus-1/system.conf")).Value}
              <include>{dir}/policy.conf</include>
            </busconfig>
            """);
        using var daemon = Process.Start(new ProcessStartInfo(Tools.Require("dbus-daemon"), ["--config-file=" + Path.Combine(dir, "bus.conf"), "--nofork", "--print-address"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            Assert.NotNull(await daemon.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
            await using var events = new CloudHypervisor.EventMonitor.EventMonitor();
            await using var vmm = RunningVmm.Start(events);
            var server = await DBusServer.StartAsync(
                new DBusServerOptions { ServiceName = Name, ObjectPath = ObjectPath, SystemBus = true, Address = "unix:path=" + socket },
                vmm.Channel, events, new LogCollector().Logger, CancellationToken.None);
            try
            {
                var asRoot = await Tools.RunAsync("busctl", "--address=unix:path=" + socket, "call", Name, ObjectPath, DBusInterface.Name, "VmmPing");
                var asMember = await AsNobodyAsync(socket, $"--groups={UsersGroup}");
                var asOther = await AsNobodyAsync(socket, "--clear-groups");
                var ownAsOther = await Tools.RunAsync("setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups",
                    Tools.Require("dbus-send"), "--bus=unix:path=" + socket, "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.RequestName", "string:" + Name, "uint32:4");

                Assert.True(asRoot.ExitCode == 0, asRoot.ToString());
                Assert.True(asMember.ExitCode == 0, asMember.ToString());
                Assert.Contains("build_version", asMember.Stdout);
                Assert.NotEqual(0, asOther.ExitCode);
                Assert.Contains("org.freedesktop.DBus.Error.AccessDenied", asOther.Stderr);
                Assert.Contains("org.freedesktop.DBus.Error.AccessDenied", ownAsOther.Stderr);
            }
            finally
            {
                await server.StopAsync();
            }
        }
        finally
        {
            daemon.Kill();
            await daemon.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Task<ToolResult> AsNobodyAsync(string socket, string groups) =>
        Tools.RunAsync("setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", groups,
            Tools.Require("dbus-send"), "--bus=unix:path=" + socket, "--print-reply=literal", "--dest=" + Name, ObjectPath, DBusInterface.Name + ".VmmPing");

    [GeneratedRegex("<policy context=\"default\">.*?</policy>", RegexOptions.Singleline)]
    private static partial Regex DefaultPolicy();
}
#endif
