/* pci-list: every PCI function the kit finds on segment 0, for debugging a VMM's PCI side.
 * One line per function, one per BAR that decodes, one with the capability ids in list order. */
#include "kit.h"

static const char *cap_name(u8 id)
{
    switch (id) {
    case 0x01: return "pm";
    case 0x05: return "msi";
    case 0x09: return "vendor";
    case 0x10: return "pcie";
    case 0x11: return "msix";
    default: return "?";
    }
}

void kit_main(void)
{
    kit_puts("pci-list: start\n");
    int n = pci_enumerate();
    for (int i = 0; i < n; i++) {
        struct pci_dev *d = &pci_devs[i];
        kit_printf("pci-list: %s %04x:%04x class %06x rev %02x header %02x", pci_bdf(d), d->vendor, d->device,
                   d->class_rev >> 8, d->class_rev & 0xFF, d->header_type);
        if ((d->header_type & 0x7F) == 0)
            kit_printf(" subsystem %04x:%04x pin %u", d->subsys_vendor, d->subsys, d->irq_pin);
        u16 vt = virtio_pci_type(d);
        if (vt)
            kit_printf(" virtio type %u", vt);
        kit_putc('\n');
        for (int j = 0; j < 6; j++) {
            struct pci_bar *b = &d->bar[j];
            if (!b->size)
                continue;
            kit_printf("pci-list: %s   BAR%d %s 0x%lx size 0x%lx%s%s\n", pci_bdf(d), j,
                       b->io ? "io" : b->mem64 ? "mem64" : "mem32", b->addr, b->size, b->prefetch ? " prefetchable" : "",
                       b->assigned_by_kit ? " (assigned by the kit)" : "");
        }
        if (d->ncaps) {
            kit_printf("pci-list: %s   caps", pci_bdf(d));
            for (int c = 0; c < d->ncaps; c++) {
                u8 id = pci_cap_id(d, c);
                kit_printf(" %02x@%02x:%s", id, d->caps[c], cap_name(id));
                if (id == 0x09 && vt)
                    kit_printf("/cfg%u", pci_read8(d, (u8)(d->caps[c] + 3)));
            }
            kit_putc('\n');
        }
    }
    kit_printf("pci-list: ok %d functions\n", n);
}
