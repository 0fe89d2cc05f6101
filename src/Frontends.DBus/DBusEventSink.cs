using CloudHypervisor.EventMonitor;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// Emits every event as the <c>Event</c> signal with the record exactly as the event file holds
/// it (contract §4.4, plus our <c>seq</c>). Emitting only queues the signal on the connection,
/// so a slow or frozen bus never holds up the event monitor's pump or the VMM.
/// </summary>
internal sealed class DBusEventSink(DBusServer server) : IEventSink
{
    public string Name => "dbus signal " + server.Options.ObjectPath;

    public ValueTask WriteAsync(EventRecord record, CancellationToken cancellationToken)
    {
        server.EmitEvent(EventFormat.Pretty(record));
        return ValueTask.CompletedTask;
    }
}
