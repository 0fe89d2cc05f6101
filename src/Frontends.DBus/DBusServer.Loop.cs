using System.Runtime.InteropServices;
using CloudHypervisor.Frontends.DBus.Interop;

namespace CloudHypervisor.Frontends.DBus;

// The bus thread: connect, serve, and reconnect after the bus is lost.
public sealed partial class DBusServer
{
    private BusSession? _session;
    private long _eventsWhileDisconnected;

    private void Run()
    {
        try
        {
            _session = Connect();
            _started.TrySetResult();
        }
        catch (DBusServerException e)
        {
            _started.TrySetException(e);
            _exited.TrySetResult();
            return;
        }

        try
        {
            Serve();
        }
#pragma warning disable CA1031 // The bus thread must end cleanly; the VMM and REST keep running.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _log.Error(e, "The D-Bus thread failed; the D-Bus API is no longer served");
        }
        finally
        {
            DeliverLastAnswers();
            _session?.Dispose();
            _session = null;
            ReleasePendingCalls();
            // Work posted meanwhile only completes its waiters now: no session, no pending calls.
            RunPostedWork();
            _exited.TrySetResult();
        }
    }

    private void Serve()
    {
        var delay = _options.ReconnectMinDelay;
        var attempts = 0;
        while (!_stopping)
        {
            if (_session is null)
            {
                BusConnection.WaitWake(_wake, (int)delay.TotalMilliseconds);
                _wake.Drain();
                RunPostedWork();
                if (_stopping)
                {
                    break;
                }

                attempts++;
                try
                {
                    _session = Connect();
                    _log.Information(
                        "D-Bus connection restored after {Attempts} attempt(s); {Name} owned again at {Path}, {Dropped} event signal(s) lost meanwhile",
                        attempts, _options.ServiceName, _options.ObjectPath, Interlocked.Exchange(ref _eventsWhileDisconnected, 0));
                    delay = _options.ReconnectMinDelay;
                    attempts = 0;
                }
                catch (DBusServerException e)
                {
                    _log.Debug("D-Bus reconnection attempt {Attempt} failed: {Reason}", attempts, e.Message);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
                }

                continue;
            }

            // Drain the wake-up before looking at what it announces: a stop or post that lands
            // after the drain leaves the eventfd readable, so the wait below returns at once.
            _wake.Drain();
            if (_stopping)
            {
                break;
            }

            RunPostedWork();
            var r = _session.Bus.ProcessAll();
            if (r < 0 || !_session.Bus.Wait(_wake, -1))
            {
                _log.Warning(
                    "D-Bus connection to the {Bus} lost ({Reason}); REST keeps running, reconnecting",
                    _options.BusDescription, r < 0 ? Libc.StrError(-r) : "cannot poll");
                _session.Dispose();
                _session = null;
                delay = _options.ReconnectMinDelay;
            }
        }
    }

    private void RunPostedWork()
    {
        while (_work.TryDequeue(out var work))
        {
            work();
        }
    }

    /// <summary>Opens a connection, registers the object, then requests the name (so the first call after the name appears finds the object).</summary>
    private BusSession Connect()
    {
        BusConnection bus;
        try
        {
            bus = BusConnection.Open(_options.Address, _options.SystemBus);
        }
        catch (BusException e)
        {
            throw new DBusServerException($"Cannot connect to the {_options.BusDescription}: {Libc.StrError(e.Errno)}");
        }

        try
        {
            SdBusSlotHandle slot;
            try
            {
                slot = bus.AddObjectVTable(_options.ObjectPath, DBusInterface.Name, _vtable, GCHandle.ToIntPtr(_self));
            }
            catch (BusException e) when (e.Errno == BusConnection.EINVAL)
            {
                throw new DBusServerException($"Invalid D-Bus object path '{_options.ObjectPath}'");
            }

            try
            {
                bus.RequestName(_options.ServiceName);
            }
            catch (BusException e)
            {
                slot.Dispose();
                throw e.Errno switch
                {
                    BusConnection.EEXIST => new DBusServerException(
                        $"The D-Bus name '{_options.ServiceName}' is already owned by another connection on the {_options.BusDescription}"),
                    BusConnection.EINVAL => new DBusServerException($"Invalid D-Bus service name '{_options.ServiceName}'"),
                    _ => new DBusServerException(
                        $"Cannot acquire the D-Bus name '{_options.ServiceName}' on the {_options.BusDescription}: {Libc.StrError(e.Errno)}"),
                };
            }

            return new BusSession(bus, slot);
        }
        catch (BusException e)
        {
            bus.Dispose();
            throw new DBusServerException($"D-Bus setup failed on the {_options.BusDescription}: {e.Message}");
        }
        catch
        {
            bus.Dispose();
            throw;
        }
    }

    private void EmitEvent(string record)
    {
        if (_session is not { } session)
        {
            Interlocked.Increment(ref _eventsWhileDisconnected);
            return;
        }

        try
        {
            session.Bus.EmitSignal(_options.ObjectPath, DBusInterface.Name, DBusInterface.EventSignal, record);
        }
        catch (BusException e)
        {
            // The next ProcessAll notices a lost connection; a full send queue drops this one signal.
            _log.Debug("Event signal not sent: {Reason}", e.Message);
        }
    }

    /// <summary>One connection with our object registered on it.</summary>
    private sealed class BusSession(BusConnection bus, SdBusSlotHandle slot) : IDisposable
    {
        public BusConnection Bus { get; } = bus;

        public void Dispose()
        {
            slot.Dispose();
            Bus.Dispose();
        }
    }
}
