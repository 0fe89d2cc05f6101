using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>The answer to one call: the string reply (null for a method without one), or a D-Bus error.</summary>
public sealed record DBusCallResult(string? Value, string? ErrorName, string? ErrorMessage)
{
    public bool IsError => ErrorName is not null;
}

/// <summary>The bus could not be reached or the call got no answer at all (not a D-Bus error reply).</summary>
public sealed class DBusClientException : Exception
{
    public DBusClientException()
    {
    }

    public DBusClientException(string message)
        : base(message)
    {
    }

    public DBusClientException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A client of <c>org.cloudhypervisor.DBusApi1</c> (for ch-remote and the tests): calls a method
/// with zero or one string argument, and listens to the Event signal. One connection, opened
/// once; calls may come from any thread and may overlap (the library matches each reply to its
/// call by serial).
/// </summary>
public sealed class DBusClient : IDisposable
{
    /// <summary>How long a call waits for its answer unless told otherwise: sd-bus's and libdbus's default.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(25);

    private readonly DBusConnection _connection;
    private readonly string? _address;
    private readonly bool _systemBus;

    private DBusClient(DBusConnection connection, string serviceName, string objectPath, string? address, bool systemBus)
    {
        _connection = connection;
        ServiceName = serviceName;
        ObjectPath = objectPath;
        _address = address;
        _systemBus = systemBus;
    }

    public string ServiceName { get; }
    public string ObjectPath { get; }

    /// <summary>
    /// Connects to the session bus (or the system bus, or <paramref name="address"/> when given);
    /// the default buses honour DBUS_SESSION_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS.
    /// </summary>
    public static DBusClient Connect(string serviceName, string objectPath, bool systemBus = false, string? address = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(objectPath);
        return new DBusClient(Open(address, systemBus), serviceName, objectPath, address, systemBus);
    }

    /// <summary>A connection of its own (for a listener), with the client's error on failure.</summary>
    internal static DBusConnection Open(string? address, bool systemBus)
    {
        try
        {
            return BusConnections.ConnectAsync(BusConnections.Resolve(address, systemBus), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (BusUnreachableException e)
        {
            throw new DBusClientException($"Cannot connect to the D-Bus {address ?? (systemBus ? "system bus" : "session bus")}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Calls <paramref name="method"/> of <c>org.cloudhypervisor.DBusApi1</c> with one string
    /// argument, or none when <paramref name="argument"/> is null, and waits for the answer.
    /// </summary>
    public DBusCallResult Call(string method, string? argument = null, TimeSpan? timeout = null) =>
        CallAsync(method, argument, timeout).GetAwaiter().GetResult();

    /// <summary>
    /// <see cref="Call"/> without blocking a thread. No answer within <paramref name="timeout"/>
    /// (<see cref="DefaultTimeout"/> by default) is the standard NoReply error, as sd-bus and libdbus report it.
    /// </summary>
    /// <exception cref="DBusClientException">The connection to the bus is lost.</exception>
    public async Task<DBusCallResult> CallAsync(string method, string? argument = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        MessageBuffer message;
        using (var writer = _connection.GetMessageWriter())
        {
            writer.WriteMethodCallHeader(ServiceName, ObjectPath, DBusInterface.Name, method, argument is null ? null : "s");
            if (argument is not null)
            {
                writer.WriteString(argument);
            }

            message = writer.CreateMessage();
        }

        var wait = timeout ?? DefaultTimeout;
        try
        {
            var value = await BusConnections.Detach(_connection.CallMethodAsync(message, static (reply, _) => ReadString(reply), null))
                .WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            return new DBusCallResult(value, null, null);
        }
        catch (DBusErrorReplyException e)
        {
            return new DBusCallResult(null, e.ErrorName, e.ErrorMessage ?? string.Empty);
        }
        catch (TimeoutException)
        {
            return new DBusCallResult(null, "org.freedesktop.DBus.Error.NoReply",
                $"{method} got no answer from {ServiceName} within {wait.TotalSeconds:0.###} s");
        }
        catch (DBusConnectionException e)
        {
            throw new DBusClientException($"{method} got no answer from {ServiceName}: {e.Message}", e);
        }
    }

    /// <summary>The one string of a reply or signal, or null when it carries none.</summary>
    internal static string? ReadString(Message message) =>
        message.SignatureAsString == "s" ? message.GetBodyReader().ReadString() : null;

    /// <summary>
    /// Starts listening to the Event signal of the service on a connection of its own; each
    /// record (the pretty JSON of the event file) goes to <paramref name="onEvent"/>, in order,
    /// one at a time. Dispose the listener to stop.
    /// </summary>
    public DBusEventListener ListenForEvents(Action<string> onEvent) =>
        DBusEventListener.Start(_address, _systemBus, ServiceName, ObjectPath, onEvent);

    public void Dispose() => _connection.Dispose();
}
