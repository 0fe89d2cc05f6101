using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Opening a connection to a bus for the server and the client: which address (the
/// environment variables sd-bus and libdbus honour), the machine id <c>Peer.GetMachineId</c>
/// answers, and the reason a user reads when the bus cannot be reached.
/// </summary>
internal static class BusConnections
{
    /// <summary>The D-Bus specification's limit on one message, header included (2^27 bytes).</summary>
    public const long MaxMessageSize = 128L << 20;

    /// <summary>How long connecting, authenticating and Hello may take before the bus counts as unreachable.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Connects to <paramref name="address"/>; a failure is a <see cref="BusUnreachableException"/> with the reason.</summary>
    public static async Task<DBusConnection> ConnectAsync(string address, CancellationToken cancellationToken)
    {
        var connection = new DBusConnection(new ConnectionOptions(address));
        try
        {
            await Detach(connection.ConnectAsync().AsTask()).WaitAsync(ConnectTimeout, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            connection.Dispose();
            throw new BusUnreachableException(Reason(e, address), e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="task"/>, but whoever awaits it continues on the thread pool. The library
    /// completes its tasks on a connection's read loop, and an await continues inline on the
    /// completing thread: the caller's code after the await (a host's whole start-up, a test that
    /// then blocks on a call) would run on that loop, and the connection would read nothing more
    /// until it returned. Every task of the library we await goes through here.
    /// </summary>
    public static Task<T> Detach<T>(Task<T> task)
    {
        var detached = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        task.ContinueWith(
            static (t, state) =>
            {
                var detached = (TaskCompletionSource<T>)state!;
                if (t.IsCanceled)
                {
                    detached.TrySetCanceled();
                }
                else if (t.Exception is { } e)
                {
                    detached.TrySetException(e.InnerExceptions);
                }
                else
                {
                    detached.TrySetResult(t.Result);
                }
            },
            detached, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return detached.Task;
    }

    /// <inheritdoc cref="Detach{T}(Task{T})"/>
    public static Task Detach(Task task) => Detach(task.ContinueWith(
        static t => t.IsCompletedSuccessfully ? true : t.IsCanceled ? throw new TaskCanceledException(t) : throw t.Exception!.InnerException!,
        CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default));

    /// <summary>
    /// The address to connect to: an explicit one, or the session or system bus as sd-bus finds
    /// them (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus; DBUS_SYSTEM_BUS_ADDRESS, else
    /// /run/dbus/system_bus_socket). Read at every connection, so a reconnection sees changes.
    /// </summary>
    public static string Resolve(string? address, bool systemBus)
    {
        if (address is not null)
        {
            return address;
        }

        if (systemBus)
        {
            return Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } system
                ? system
                : "unix:path=/run/dbus/system_bus_socket";
        }

        if (Environment.GetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS") is { Length: > 0 } session)
        {
            return session;
        }

        return Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime
            ? "unix:path=" + Escape(Path.Combine(runtime, "bus"))
            : throw new BusUnreachableException("neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set", null);
    }

    /// <summary>
    /// What went wrong, in the words of the errno where there is one. .NET reports connect(2)'s
    /// ENOENT on a Unix socket path as EADDRNOTAVAIL ("Cannot assign requested address"), which
    /// tells a user nothing: a path that does not exist is named as such.
    /// </summary>
    private static string Reason(Exception e, string address)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode == SocketError.AddressNotAvailable && UnixPath(address) is { } path && !File.Exists(path)
                    ? "No such file or directory"
                    : socket.Message;
            }
        }

        return e is TimeoutException ? $"no answer within {ConnectTimeout.TotalSeconds:F0} s" : e.Message;
    }

    /// <summary>The path of the first <c>unix:path=</c> entry of an address, unescaped.</summary>
    private static string? UnixPath(string address)
    {
        foreach (var entry in address.Split(';'))
        {
            if (!entry.StartsWith("unix:", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var pair in entry["unix:".Length..].Split(','))
            {
                if (pair.StartsWith("path=", StringComparison.Ordinal))
                {
                    return Uri.UnescapeDataString(pair["path=".Length..]);
                }
            }
        }

        return null;
    }

    /// <summary>D-Bus address escaping: every byte outside <c>[-0-9A-Za-z_/.\*]</c> as %xx.</summary>
    private static string Escape(string value)
    {
        var text = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'/' or (byte)'.' or (byte)'\\' or (byte)'*')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("x2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Tmds.DBus.Protocol reads the machine id from /var/lib/dbus/machine-id only; systemd and
    /// sd-bus use /etc/machine-id, which every current system has, so Peer.GetMachineId answers
    /// what <c>busctl</c> and the bus daemon report for this machine.
    /// </summary>
    private sealed class ConnectionOptions(string address) : DBusConnectionOptions(address)
    {
        private static readonly string? MachineId = ReadMachineId();

        protected override async ValueTask<SetupResult> SetupAsync(CancellationToken cancellationToken)
        {
            var result = await base.SetupAsync(cancellationToken).ConfigureAwait(false);
            // Nothing here needs descriptors passed: the API carries JSON strings only.
            result.SupportsFdPassing = false;
            if (MachineId is not null)
            {
                result.MachineId = MachineId;
            }

            return result;
        }

        private static string? ReadMachineId()
        {
            foreach (var path in new[] { "/etc/machine-id", "/var/lib/dbus/machine-id" })
            {
                try
                {
                    var id = File.ReadAllText(path).Trim();
                    if (id.Length == 32 && id.All(char.IsAsciiHexDigitLower))
                    {
                        return id;
                    }
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }

            return null;
        }
    }
}

/// <summary>The bus could not be reached; the message is the reason, ready to follow "Cannot connect to …: ".</summary>
internal sealed class BusUnreachableException(string reason, Exception? inner) : Exception(reason, inner);
