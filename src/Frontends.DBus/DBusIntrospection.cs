using System.Text;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// The introspection XML of <c>org.cloudhypervisor.DBusApi1</c>, written from
/// <see cref="DBusInterface.Methods"/> in the layout of <c>dbus/org.cloudhypervisor.DBusApi1.xml</c>,
/// whose interface element tests compare with what a client receives, byte for byte. The
/// in-arguments carry upstream's names (its contract); the JSON answer is unnamed, as upstream's.
/// </summary>
internal static class DBusIntrospection
{
    /// <summary>The interface element, UTF-8, as it is sent inside the <c>&lt;node&gt;</c>.</summary>
    public static ReadOnlyMemory<byte> Interface { get; } = Encoding.UTF8.GetBytes(Write());

    private static string Write()
    {
        var xml = new StringBuilder();
        xml.Append("<interface name=\"").Append(DBusInterface.Name).Append("\">\n");
        foreach (var method in DBusInterface.Methods)
        {
            if (method.InArgument is null && !method.HasOutArgument)
            {
                xml.Append("  <method name=\"").Append(method.Name).Append("\"/>\n");
                continue;
            }

            xml.Append("  <method name=\"").Append(method.Name).Append("\">\n");
            if (method.InArgument is { } name)
            {
                xml.Append("    <arg type=\"s\" name=\"").Append(name).Append("\" direction=\"in\"/>\n");
            }

            if (method.HasOutArgument)
            {
                xml.Append("    <arg type=\"s\" direction=\"out\"/>\n");
            }

            xml.Append("  </method>\n");
        }

        xml.Append("  <signal name=\"").Append(DBusInterface.EventSignal).Append("\">\n")
            .Append("    <arg type=\"s\" name=\"").Append(DBusInterface.EventArgument).Append("\"/>\n")
            .Append("  </signal>\n")
            .Append("</interface>\n");
        return xml.ToString();
    }
}
