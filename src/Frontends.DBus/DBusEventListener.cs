using System.Runtime.InteropServices;
using CloudHypervisor.Frontends.DBus.Interop;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Receives the <c>Event</c> signal of one service. One thread owns the listener's connection and
/// polls it with an eventfd that <see cref="Dispose"/> writes to stop it. When the bus goes away
/// the listener ends and <see cref="Completion"/> completes with the reason.
/// </summary>
public sealed class DBusEventListener : IDisposable
{
    private readonly Action<string> _onEvent;
    private readonly EventFdHandle _wake = EventFdHandle.Create();
    private readonly TaskCompletionSource<string?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private Exception? _callbackError;

    private DBusEventListener(Action<string> onEvent) => _onEvent = onEvent;

    /// <summary>Completes when listening ended: null after Dispose, otherwise why (e.g. the bus was lost or the callback threw).</summary>
    public Task<string?> Completion => _completion.Task;

    internal static DBusEventListener Start(string? address, bool systemBus, string serviceName, string objectPath, Action<string> onEvent)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        var listener = new DBusEventListener(onEvent);
        var thread = new Thread(() => listener.Run(address, systemBus, serviceName, objectPath)) { IsBackground = true, Name = "dbus-events" };
        thread.Start();
        try
        {
            // The match is in place once this returns, so no event published afterwards is missed.
            listener._subscribed.Task.GetAwaiter().GetResult();
        }
        catch
        {
            listener._wake.Dispose();
            throw;
        }

        return listener;
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _wake.Signal();
        _completion.Task.Wait(TimeSpan.FromSeconds(5));
        _wake.Dispose();
    }

    private unsafe void Run(string? address, bool systemBus, string serviceName, string objectPath)
    {
        var self = GCHandle.Alloc(this);
        BusConnection? bus = null;
        SdBusSlotHandle? match = null;
        string? reason = null;
        try
        {
            bus = BusConnection.Open(address, systemBus);
            var r = SdBus.MatchSignal(bus.Handle, out var slot, serviceName, objectPath, DBusInterface.Name, DBusInterface.EventSignal, &OnSignal, GCHandle.ToIntPtr(self));
            BusConnection.Check(r, "subscribe to the Event signal");
            match = new SdBusSlotHandle(slot);
            _subscribed.TrySetResult();

            while (true)
            {
                // Drain before checking: a Dispose after the drain leaves the eventfd readable.
                _wake.Drain();
                if (_stopping)
                {
                    break;
                }

                r = bus.ProcessAll();
                if (_callbackError is not null)
                {
                    break;
                }

                if (r < 0)
                {
                    reason = "D-Bus connection lost: " + Libc.StrError(-r);
                    break;
                }

                bus.Wait(_wake, -1);
            }

            reason ??= _callbackError?.Message;
        }
        catch (BusException e)
        {
            reason = e.Message;
            _subscribed.TrySetException(new DBusClientException("Cannot listen to D-Bus events: " + e.Message, e));
        }
        finally
        {
            match?.Dispose();
            bus?.Dispose();
            self.Free();
            _completion.TrySetResult(_stopping ? null : reason);
        }
    }

    [UnmanagedCallersOnly]
    private static int OnSignal(IntPtr message, IntPtr userdata, IntPtr error)
    {
        if (GCHandle.FromIntPtr(userdata).Target is not DBusEventListener listener)
        {
            return 0;
        }

        // An exception escaping an UnmanagedCallersOnly method ends the process: keep it and stop.
        try
        {
            if (Messages.Signature(message) == "s")
            {
                listener._onEvent(Messages.ReadString(message));
            }
        }
#pragma warning disable CA1031
        catch (Exception e)
#pragma warning restore CA1031
        {
            listener._callbackError = e;
        }

        return 0;
    }
}
