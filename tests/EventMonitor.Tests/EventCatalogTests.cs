namespace CloudHypervisor.EventMonitor.Tests;

public sealed class EventCatalogTests
{
    /// <summary>../shared/reference/upstream-state.md section E: every event upstream emits.</summary>
    private static readonly string[] Upstream =
    [
        "vmm/starting", "vmm/shutdown",
        "vm/booting", "vm/booted", "vm/shutdown", "vm/rebooting", "vm/rebooted", "vm/deleted",
        "vm/migration-receive-ready", "vm/migration-receive-started", "vm/migration-receive-failed", "vm/migration-receive-finished",
        "vm/migration-memory-iteration", "vm/postcopy-migration-completed",
        "vm/migration-started", "vm/migration-finished", "vm/migration-failed",
        "vm/resizing", "vm/resized", "vm/restoring", "vm/restored", "vm/pausing", "vm/paused", "vm/resuming", "vm/resumed",
        "vm/snapshotting", "vm/snapshotted", "vm/coredumping",
        "vm/device-removed", "guest/panic",
        "virtio-device/activated", "virtio-device/reset",
        "vdpa/activated", "vdpa/reset",
    ];

    [Fact]
    public void The_catalog_holds_exactly_the_events_upstream_emits()
    {
        Assert.Equal(Upstream.Order(), Events.All.Select(e => e.ToString()).Order());
    }

    [Fact]
    public void Every_catalog_field_is_listed_in_All()
    {
        // A kind added as a field but forgotten in All would escape the comparison above.
        var fields = typeof(Events).GetNestedTypes()
            .SelectMany(t => t.GetFields())
            .Where(f => f.FieldType == typeof(EventKind))
            .Select(f => (EventKind)f.GetValue(null)!);
        Assert.Equal(fields.Select(f => f.ToString()).Order(), Events.All.Select(e => e.ToString()).Order());
    }
}
