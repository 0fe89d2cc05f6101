/* pci-hotplug scenario: watches PCI segment 0 for functions that come and go. It rescans every
 * 100 ms and at once on a GED interrupt (GSI 5, the event register at GedStart), reads a
 * hot-added virtio-blk's capacity and sector 0, and answers eject requests the way upstream's
 * AML does: with the hot-plug controller PHPR (PCIU at 0, PCID at 4, B0EJ at 8, PSEG at 12,
 * DWord access) it resets the device in each slot PCID names, writes PSEG = 0 and
 * B0EJ = 1 << slot. PHPR's address comes from hp.phpr=ADDR, else from the DSDT (the first
 * memory descriptor after the name PHPR). It stops after hp.adds=N (1) additions and
 * hp.removes=M (0) removals, or hp.timeout=S (60) seconds. */
#include "kit.h"

#define GED_IRQ 5
#define PIC_VECTOR_BASE 0x20
#define TIMEOUT_TICKS 1000

extern volatile u64 kit_ged_events;
extern void kit_ged_isr(void);

static u64 phpr;

static const u8 *acpi_table(const char sig[4])
{
    u64 rsdp;
    __asm__ volatile("call find_rsdp" : "=a"(rsdp) : : "memory", "cc");
    if (!rsdp)
        return NULL;
    const u8 *r = (const u8 *)rsdp;
    bool x = r[15] >= 2 && *(const u64 *)(r + 24);
    const u8 *sdt = (const u8 *)(x ? *(const u64 *)(r + 24) : (u64) * (const u32 *)(r + 16));
    u32 len = *(const u32 *)(sdt + 4);
    for (u32 off = 36; off + (x ? 8 : 4) <= len; off += x ? 8 : 4) {
        const u8 *t = (const u8 *)(x ? *(const u64 *)(sdt + off) : (u64) * (const u32 *)(sdt + off));
        if (memcmp(t, sig, 4) == 0)
            return t;
    }
    return NULL;
}

/* A byte scan, not an AML interpreter: after "PHPR" the first Memory32Fixed (0x86), DWord
 * (0x87) or QWord (0x8A) memory descriptor gives the base. */
static u64 phpr_from_dsdt(void)
{
    const u8 *fadt = acpi_table("FACP");
    if (!fadt)
        return 0;
    u32 flen = *(const u32 *)(fadt + 4);
    const u8 *dsdt = (const u8 *)(flen >= 148 && *(const u64 *)(fadt + 140) ? *(const u64 *)(fadt + 140)
                                                                               : (u64) * (const u32 *)(fadt + 40));
    if (!dsdt || memcmp(dsdt, "DSDT", 4) != 0)
        return 0;
    u32 len = *(const u32 *)(dsdt + 4);
    for (u32 i = 36; i + 4 <= len; i++) {
        if (memcmp(dsdt + i, "PHPR", 4) != 0)
            continue;
        for (u32 j = i + 4; j + 46 <= len && j < i + 512; j++) {
            const u8 *d = dsdt + j;
            if (d[0] == 0x86 && d[1] == 9 && d[2] == 0)
                return *(const u32 *)(d + 4);
            if (d[0] == 0x87 && d[1] == 0x17 && d[2] == 0 && d[3] == 0)
                return *(const u32 *)(d + 10);
            if (d[0] == 0x8A && d[1] == 0x2B && d[2] == 0 && d[3] == 0)
                return *(const u64 *)(d + 14);
        }
    }
    return 0;
}

static void probe_disk(struct pci_dev *pci)
{
    static struct virtio_dev v;
    const char *bdf = pci_bdf(pci);
    if (virtio_init(&v, pci, 0, "pci-hotplug") < 0 || virtio_setup_queue(&v, 0, 16, "pci-hotplug") < 0)
        return;
    virtio_driver_ok(&v);
    u64 capacity = virtio_config64(&v, 0);
    struct { u32 type, reserved; u64 sector; } *hdr = kit_alloc(16, 16);
    u8 *data = kit_alloc(512, 512), *status = kit_alloc(1, 16);
    *status = 0xFF;
    struct vbuf b[3] = { { (u64)hdr, 16, false }, { (u64)data, 512, true }, { (u64)status, 1, true } };
    vq_add(&v.vq[0], b, 3, hdr);
    vq_kick(&v.vq[0]);
    if (!vq_wait(&v.vq[0], NULL, TIMEOUT_TICKS) || *status != 0) {
        kit_printf("pci-hotplug: FAIL %s read of sector 0 %s\n", bdf, *status == 0xFF ? "timed out" : "failed");
        return;
    }
    kit_printf("pci-hotplug: ok %s capacity %lu sectors, sector 0 begins ", bdf, capacity);
    kit_hexdump_line("", data, 16);
}

static void list_changes(int from)
{
    for (int i = from; i < pci_ndevs; i++) {
        struct pci_dev *d = &pci_devs[i];
        kit_printf("pci-hotplug: added %s %04x:%04x\n", pci_bdf(d), d->vendor, d->device);
        if (virtio_pci_type(d) == VIRTIO_ID_BLOCK)
            probe_disk(d);
    }
}

void kit_main(void)
{
    kit_puts("pci-hotplug: start\n");
    kit_timer_start(100);
    kit_set_gate(PIC_VECTOR_BASE + GED_IRQ, kit_ged_isr, 0);
    __asm__ volatile("mov $5, %%edi; call pic_unmask" : : : "rdi", "rax", "memory", "cc");
    int n = pci_enumerate();
    if (!kit_arg("hp.phpr", &phpr))
        phpr = phpr_from_dsdt();
    u64 adds = 1, removes = 0, seconds = 60;
    kit_arg("hp.adds", &adds);
    kit_arg("hp.removes", &removes);
    kit_arg("hp.timeout", &seconds);
    if (phpr)
        kit_map(phpr, 16);
    kit_printf("pci-hotplug: %d functions at start, PHPR %s0x%lx, waiting for %lu additions and %lu removals\n", n,
               phpr ? "at " : "not found, ", phpr, adds, removes);

    u64 added = 0, removed = 0, until = ticks + seconds * 100, next_scan = 0;
    while ((added < adds || removed < removes) && ticks < until) {
        __asm__ volatile("cli");
        u64 ged = kit_ged_events;
        kit_ged_events = 0;
        __asm__ volatile("sti");
        if (ged)
            kit_printf("pci-hotplug: GED event 0x%lx\n", ged);
        if (phpr && ged) {
            u32 up = mmio_read32(phpr + 0), down = mmio_read32(phpr + 4);
            if (up || down)
                kit_printf("pci-hotplug: PCIU 0x%x PCID 0x%x\n", up, down);
            for (u32 slot = 0; slot < 32; slot++) {
                if (!(down >> slot & 1))
                    continue;
                for (int i = 0; i < pci_ndevs; i++) {
                    struct pci_dev *d = &pci_devs[i];
                    if (!d->gone && d->bus == 0 && d->dev == slot && virtio_pci_type(d)) {
                        struct virtio_dev v = { 0 };
                        v.pci = d;
                        /* The common config's address from a fresh init is not kept: reset by status. */
                        if (virtio_init(&v, d, 0, "pci-hotplug") == 0)
                            virtio_reset(&v);
                    }
                }
                mmio_write32(phpr + 12, 0);
                mmio_write32(phpr + 8, 1u << slot);
                kit_printf("pci-hotplug: ejected slot %u\n", slot);
            }
        }
        if (ged || ticks >= next_scan) {
            int before = pci_ndevs, a, r;
            pci_rescan(&a, &r);
            list_changes(before);
            for (int i = 0; i < before; i++)
                if (pci_devs[i].gone && !pci_devs[i].seen) {
                    pci_devs[i].seen = true; /* reported once */
                    kit_printf("pci-hotplug: %s is gone\n", pci_bdf(&pci_devs[i]));
                }
            added += (u64)a;
            removed += (u64)r;
            next_scan = ticks + 10;
        }
        kit_wait_tick();
    }
    if (added < adds || removed < removes)
        kit_printf("pci-hotplug: FAIL saw %lu of %lu additions and %lu of %lu removals within %lu s\n", added, adds, removed,
                   removes, seconds);
    else
        kit_printf("pci-hotplug: ok %lu additions and %lu removals\n", added, removed);
}
