using CloudHypervisor.EventMonitor;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Emits every event as the <c>Event</c> signal with the record exactly as the event file holds
/// it (contract §4.4, plus our <c>seq</c>). The event monitor feeds it from a bounded queue, and
/// each write waits only until the bus thread has handed the signal to sd-bus, so a slow bus
/// fills that queue and drops events there instead of blocking the VMM.
/// </summary>
internal sealed class DBusEventSink(DBusServer server) : IEventSink
{
    public string Name => "dbus signal " + server.Options.ObjectPath;

    public ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken) =>
        new(server.EmitEventAsync(EventFormat.Pretty(record)).WaitAsync(cancellationToken));
}
