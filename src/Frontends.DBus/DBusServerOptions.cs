namespace CloudHypervisor.Frontends.DBus;

/// <summary>Where the D-Bus API is served (the <c>--dbus-*</c> flags).</summary>
public sealed record DBusServerOptions
{
    /// <summary>The well-known name to own, e.g. <c>org.cloudhypervisor.DBusApi</c>.</summary>
    public required string ServiceName { get; init; }

    /// <summary>The object path, e.g. <c>/org/cloudhypervisor/DBusApi</c>.</summary>
    public required string ObjectPath { get; init; }

    /// <summary>The system bus instead of the session bus (<c>--dbus-system-bus</c>).</summary>
    public bool SystemBus { get; init; }

    /// <summary>
    /// An explicit bus address (e.g. <c>unix:path=/tmp/bus</c>) that overrides the session/system
    /// choice. Null in production, where DBUS_SESSION_BUS_ADDRESS or DBUS_SYSTEM_BUS_ADDRESS
    /// (or the default socket) says where the bus is; tests point it at a private daemon.
    /// </summary>
    public string? Address { get; init; }

    /// <summary>The first and the longest wait between reconnection attempts after the bus is lost.</summary>
    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The largest message the bus carries: the specification's 128 MiB, which dbus-daemon
    /// enforces by default. Tests lower it together with a daemon's <c>max_message_size</c>.
    /// </summary>
    internal long MaxMessageSize { get; init; } = BusConnections.MaxMessageSize;

    internal string BusDescription =>
        Address is not null ? $"D-Bus bus {Address}"
        : SystemBus ? "D-Bus system bus" + EnvAddress("DBUS_SYSTEM_BUS_ADDRESS")
        : "D-Bus session bus" + EnvAddress("DBUS_SESSION_BUS_ADDRESS");

    private static string EnvAddress(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? $" ({value})" : string.Empty;
}

/// <summary>
/// The D-Bus API could not start: the bus is unreachable, the name is owned by another
/// connection, or the name or path is invalid. The message is meant for the user as is and is
/// complete (it names the errno where there is one), so there is no inner exception to print.
/// </summary>
public sealed class DBusServerException : Exception
{
    public DBusServerException()
    {
    }

    public DBusServerException(string message)
        : base(message)
    {
    }

    public DBusServerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
