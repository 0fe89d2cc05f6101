namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>
/// The first line each bundled guest prints on COM1 (without the "\r\n" the guests end lines
/// with), the line a boot test waits for. The KVM tests share this table.
/// </summary>
public static class GuestOutput
{
    public static string FirstLine(string guest) => guest switch
    {
        "banner" => "banner: hello from the cloud-hypervisor test guest",
        "echo" => "echo: ready",
        "ticks" => "ticks: start",
        "poweroff" => "poweroff: hello",
        "reset" => "reset: hello",
        "powerbutton" => "powerbutton: waiting for the GED interrupt",
        "smp" => "cpus in the MADT",
        "nmi" => "nmi: ready",
        "triplefault" => "triplefault: loading an empty IDT and faulting",
        "hotplug" => "hotplug: waiting for the GED interrupt",
        "pci-list" => "pci-list: start",
        "pci-hotplug" => "pci-hotplug: start",
        "cpl3" => "cpl3: start",
        "virtio-blk" => "virtio-blk: start",
        "virtio-rng" => "virtio-rng: start",
        "virtio-console" => "virtio-console: start",
        "virtio-net" => "virtio-net: start",
        "virtio-vsock" => "virtio-vsock: start",
        "virtio-pmem" => "virtio-pmem: start",
        "virtio-balloon" => "virtio-balloon: start",
        "virtio-hostile" => "virtio-hostile: start",
        "memfill" => "memfill: start",
        _ => throw new ArgumentOutOfRangeException(nameof(guest), guest, "not a bundled guest"),
    };
}
