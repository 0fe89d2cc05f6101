using Tmds.DBus.Protocol;

namespace CloudHypervisor.Bench;

/// <summary>
/// A blocking D-Bus client on one connection opened once: each call is one method call and its
/// reply through dbus-daemon, awaited before the next, so a sample is the D-Bus round trip and
/// nothing else (no process per call). Its own few lines rather than the product's DBusClient,
/// because the bare floor calls org.freedesktop.DBus.Peer.Ping, which DBusClient (bound to our
/// interface) cannot, and both figures should come from the same code path.
/// </summary>
internal sealed class DBusCaller : IDisposable
{
    private readonly DBusConnection _connection;

    private DBusCaller(DBusConnection connection) => _connection = connection;

    public static DBusCaller Open(string address)
    {
        var connection = new DBusConnection(address);
        try
        {
            connection.ConnectAsync().AsTask().GetAwaiter().GetResult();
            return new DBusCaller(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Calls a method without arguments; a D-Bus error throws, so a broken service cannot pass as fast.</summary>
    public void Call(string destination, string path, string @interface, string member)
    {
        MessageBuffer message;
        using (var writer = _connection.GetMessageWriter())
        {
            writer.WriteMethodCallHeader(destination, path, @interface, member);
            message = writer.CreateMessage();
        }

        _connection.CallMethodAsync(message).WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
    }

    public void Dispose() => _connection.Dispose();
}
