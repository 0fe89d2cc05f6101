using Tmds.DBus.Protocol;

namespace CloudHypervisor.Frontends.DBus;

// The connection: connect, register, own the name; notice a loss and reconnect with backoff.
public sealed partial class DBusServer
{
    /// <summary>
    /// Opens a connection, registers the object, then requests the name (so the first call after
    /// the name appears finds the object).
    /// </summary>
    private async Task<DBusConnection> ConnectAsync(CancellationToken ct)
    {
        if (!DBusNames.IsValidObjectPath(_options.ObjectPath))
        {
            throw new DBusServerException($"Invalid D-Bus object path '{_options.ObjectPath}'");
        }

        if (!DBusNames.IsValidWellKnownName(_options.ServiceName))
        {
            throw new DBusServerException($"Invalid D-Bus service name '{_options.ServiceName}'");
        }

        DBusConnection connection;
        try
        {
            connection = await BusConnections.ConnectAsync(BusConnections.Resolve(_options.Address, _options.SystemBus), ct).ConfigureAwait(false);
        }
        catch (BusUnreachableException e)
        {
            throw new DBusServerException($"Cannot connect to the {_options.BusDescription}: {e.Message}");
        }

        try
        {
            connection.AddMethodHandler(_handler);
            bool owned;
            try
            {
                // DoNotQueue, no replacement either way: a second VMM must not take over a running one's name.
                owned = await BusConnections.Detach(connection.TryRequestNameAsync(_options.ServiceName, RequestNameOptions.None))
                    .WaitAsync(BusConnections.ConnectTimeout, ct).ConfigureAwait(false);
            }
            catch (DBusErrorReplyException e)
            {
                // The system bus's policy says no (AccessDenied), for one.
                throw new DBusServerException(
                    $"Cannot acquire the D-Bus name '{_options.ServiceName}' on the {_options.BusDescription}: {e.ErrorMessage}");
            }

            return owned
                ? connection
                : throw new DBusServerException(
                    $"The D-Bus name '{_options.ServiceName}' is already owned by another connection on the {_options.BusDescription}");
        }
        catch (Exception e) when (e is not DBusServerException and not OperationCanceledException)
        {
            connection.Dispose();
            throw new DBusServerException($"D-Bus setup failed on the {_options.BusDescription}: {e.Message}");
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits for the connection to end; then reconnects with backoff, until the server stops.
    /// Calls in flight on a lost connection are answered into the void; events meanwhile are
    /// counted and reported when the connection is back.
    /// </summary>
    private async Task SuperviseAsync(DBusConnection connection)
    {
        var token = _stop.Token;
        try
        {
            while (true)
            {
                var reason = await BusConnections.Detach(connection.DisconnectedAsync()).WaitAsync(token).ConfigureAwait(false);
                Volatile.Write(ref _connection, null);
                connection.Dispose();
                _log.Warning(
                    "D-Bus connection to the {Bus} lost ({Reason}); REST keeps running, reconnecting",
                    _options.BusDescription, reason?.Message ?? "closed");

                var delay = _options.ReconnectMinDelay;
                for (var attempts = 1; ; attempts++)
                {
                    await Task.Delay(delay, token).ConfigureAwait(false);
                    try
                    {
                        connection = await ConnectAsync(token).ConfigureAwait(false);
                    }
                    catch (DBusServerException e)
                    {
                        _log.Debug("D-Bus reconnection attempt {Attempt} failed: {Reason}", attempts, e.Message);
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
                        continue;
                    }

                    Volatile.Write(ref _connection, connection);
                    _log.Information(
                        "D-Bus connection restored after {Attempts} attempt(s); {Name} owned again at {Path}, {Dropped} event signal(s) lost meanwhile",
                        attempts, _options.ServiceName, _options.ObjectPath, Interlocked.Exchange(ref _eventsWhileDisconnected, 0));
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopping: StopAsync closes whatever connection is current.
        }
#pragma warning disable CA1031 // The supervisor must end cleanly; the VMM and REST keep running.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Error(e, "The D-Bus supervisor failed; the D-Bus API is no longer served after a loss of the bus");
        }
    }

    /// <summary>
    /// Releases the name, then closes. The daemon answers ReleaseName after everything we sent
    /// before it, in order, so its reply also says that every reply queued before it is out.
    /// </summary>
    private async Task CloseAsync(DBusConnection connection)
    {
        try
        {
            await BusConnections.Detach(connection.ReleaseNameAsync(_options.ServiceName)).WaitAsync(StopAnswerGrace).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A bus that is gone or slow changes nothing: the connection closes either way.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Debug("D-Bus name not released before closing: {Reason}", e.Message);
        }

        connection.Dispose();
    }
}
