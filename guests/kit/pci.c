/* PCI segment 0 through the configuration mechanism #1 ports (0xCF8 address, 0xCFC data), as
 * firmware and Linux do before they have the MCFG: bus 0 and the buses behind PCI-PCI bridges
 * (every bus 0-255 with the command-line word pci.allbuses). BARs are sized the standard way
 * (decode off, write all ones, read the mask, restore) and assigned only when they read as 0:
 * a VMM such as Cloud Hypervisor places them itself, SeaBIOS does on QEMU. */
#include "kit.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC

#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SECONDARY_BUS 0x19
#define PCI_CAPABILITY_LIST 0x34

/* Fallback windows for BARs nobody placed: the 32-bit device area below the MMIO hole's
 * fixed devices (Cloud Hypervisor's 3 GiB start; QEMU's q35 hole starts there too for small
 * RAM) and ports above the legacy ISA range. */
#define KIT_MMIO_WINDOW_START 0xC0000000UL
#define KIT_MMIO_WINDOW_END 0xE0000000UL
#define KIT_IO_WINDOW_START 0xC000
#define KIT_IO_WINDOW_END 0x10000

struct pci_dev pci_devs[PCI_MAX_DEVS];
int pci_ndevs;

static u32 address(u8 bus, u8 dev, u8 fn, u8 off)
{
    return 0x80000000u | (u32)bus << 16 | (u32)dev << 11 | (u32)fn << 8 | (off & 0xFC);
}

static u32 raw_read32(u8 bus, u8 dev, u8 fn, u8 off)
{
    outl(PCI_CONFIG_ADDRESS, address(bus, dev, fn, off));
    return inl(PCI_CONFIG_DATA);
}

u32 pci_read32(const struct pci_dev *d, u8 off) { return raw_read32(d->bus, d->dev, d->fn, off); }

u16 pci_read16(const struct pci_dev *d, u8 off)
{
    outl(PCI_CONFIG_ADDRESS, address(d->bus, d->dev, d->fn, off));
    return inw((u16)(PCI_CONFIG_DATA + (off & 2)));
}

u8 pci_read8(const struct pci_dev *d, u8 off)
{
    outl(PCI_CONFIG_ADDRESS, address(d->bus, d->dev, d->fn, off));
    return inb((u16)(PCI_CONFIG_DATA + (off & 3)));
}

void pci_write32(const struct pci_dev *d, u8 off, u32 v)
{
    outl(PCI_CONFIG_ADDRESS, address(d->bus, d->dev, d->fn, off));
    outl(PCI_CONFIG_DATA, v);
}

void pci_write16(const struct pci_dev *d, u8 off, u16 v)
{
    outl(PCI_CONFIG_ADDRESS, address(d->bus, d->dev, d->fn, off));
    outw((u16)(PCI_CONFIG_DATA + (off & 2)), v);
}

void pci_write8(const struct pci_dev *d, u8 off, u8 v)
{
    outl(PCI_CONFIG_ADDRESS, address(d->bus, d->dev, d->fn, off));
    outb((u16)(PCI_CONFIG_DATA + (off & 3)), v);
}

const char *pci_bdf(const struct pci_dev *d)
{
    static char bufs[4][12];
    static int next;
    char *b = bufs[next++ & 3];
    kit_snprintf(b, sizeof bufs[0], "%02x:%02x.%x", d->bus, d->dev, d->fn);
    return b;
}

u8 pci_cap_id(const struct pci_dev *d, int i) { return pci_read8(d, d->caps[i]); }

int pci_find_cap(const struct pci_dev *d, u8 id, int start)
{
    for (int i = start; i < d->ncaps; i++)
        if (pci_cap_id(d, i) == id)
            return i;
    return -1;
}

void pci_enable(const struct pci_dev *d)
{
    u16 cmd = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void read_caps(struct pci_dev *d)
{
    d->ncaps = 0;
    if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return;
    u8 p = pci_read8(d, PCI_CAPABILITY_LIST) & 0xFC;
    /* A bounded walk: a looping or wild list ends after 48 entries (all fit in 256 bytes). */
    while (p >= 0x40 && d->ncaps < ARRAY_SIZE(d->caps)) {
        d->caps[d->ncaps++] = p;
        p = pci_read8(d, (u8)(p + 1)) & 0xFC;
    }
}

static void size_bars(struct pci_dev *d, int nbars)
{
    u16 cmd = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (int i = 0; i < nbars; i++) {
        u8 off = (u8)(PCI_BAR0 + 4 * i);
        struct pci_bar *b = &d->bar[i];
        u32 orig = pci_read32(d, off);
        pci_write32(d, off, 0xFFFFFFFF);
        u32 mask = pci_read32(d, off);
        pci_write32(d, off, orig);
        if (orig & 1) {
            b->io = true;
            b->addr = orig & ~3u;
            u32 m = mask & ~3u & 0xFFFF;
            b->size = m ? (~m & 0xFFFF) + 1 : 0;
            continue;
        }
        b->prefetch = (orig & 8) != 0;
        b->addr = orig & ~0xFu;
        u64 m = mask & ~0xFu;
        if ((orig & 6) == 4 && i + 1 < nbars) {
            b->mem64 = true;
            u8 hi = (u8)(off + 4);
            u32 orig_hi = pci_read32(d, hi);
            pci_write32(d, hi, 0xFFFFFFFF);
            u32 mask_hi = pci_read32(d, hi);
            pci_write32(d, hi, orig_hi);
            b->addr |= (u64)orig_hi << 32;
            m |= (u64)mask_hi << 32;
            b->size = m ? ~m + 1 : 0;
            i++; /* the upper half is not a BAR of its own */
        } else {
            b->size = m ? (~m & 0xFFFFFFFFu) + 1 : 0;
        }
    }
    pci_write16(d, PCI_COMMAND, cmd);
}

static void scan_bus(u8 bus, bool recurse, int parent);

static int find(u8 bus, u8 dev, u8 fn, u32 id)
{
    for (int i = 0; i < pci_ndevs; i++) {
        struct pci_dev *d = &pci_devs[i];
        if (!d->gone && d->bus == bus && d->dev == dev && d->fn == fn && d->vendor == (u16)id && d->device == (u16)(id >> 16))
            return i;
    }
    return -1;
}

static void probe(u8 bus, u8 dev, u8 fn, bool recurse, int parent)
{
    u32 id = raw_read32(bus, dev, fn, 0);
    u16 vendor = (u16)id;
    if (vendor == 0xFFFF || vendor == 0)
        return;
    int known = find(bus, dev, fn, id);
    if (known >= 0) {
        struct pci_dev *k = &pci_devs[known];
        k->seen = true;
        if ((k->header_type & 0x7F) == 1 && recurse) {
            u8 secondary = pci_read8(k, PCI_SECONDARY_BUS);
            if (secondary > bus)
                scan_bus(secondary, true, known);
        }
        return;
    }
    if (pci_ndevs == PCI_MAX_DEVS) {
        kit_printf("pci: more than %d functions, ignoring %02x:%02x.%x\n", PCI_MAX_DEVS, bus, dev, fn);
        return;
    }
    int index = pci_ndevs++;
    struct pci_dev *d = &pci_devs[index];
    memset(d, 0, sizeof *d);
    d->seen = true;
    d->parent = parent;
    d->bus = bus;
    d->dev = dev;
    d->fn = fn;
    d->vendor = vendor;
    d->device = (u16)(id >> 16);
    d->class_rev = pci_read32(d, 0x08);
    d->header_type = pci_read8(d, PCI_HEADER_TYPE);
    int kind = d->header_type & 0x7F;
    if (kind == 0) {
        u32 sub = pci_read32(d, 0x2C);
        d->subsys_vendor = (u16)sub;
        d->subsys = (u16)(sub >> 16);
        d->irq_pin = pci_read8(d, 0x3D);
        size_bars(d, 6);
    } else if (kind == 1) {
        size_bars(d, 2);
    }
    read_caps(d);
    if (kind == 1 && recurse) {
        u8 secondary = pci_read8(d, PCI_SECONDARY_BUS);
        if (secondary > bus)
            scan_bus(secondary, true, index);
    }
}

static void scan_bus(u8 bus, bool recurse, int parent)
{
    for (u8 dev = 0; dev < 32; dev++) {
        u32 id = raw_read32(bus, dev, 0, 0);
        if ((u16)id == 0xFFFF || (u16)id == 0)
            continue;
        bool multi = (raw_read32(bus, dev, 0, PCI_HEADER_TYPE & 0xFC) >> 16 & 0x80) != 0;
        for (u8 fn = 0; fn < (multi ? 8 : 1); fn++)
            probe(bus, dev, fn, recurse, parent);
    }
}

/* The window a BAR of d must be placed in: the bridge's forwarding window when d sits behind
 * one (I/O 0x1C/0x1D, memory 0x20/0x22, prefetchable 0x24/0x26 with upper halves 0x28/0x2C,
 * PCI-to-PCI bridge spec 3.2.5), else the kit's fallback windows. False when the bridge
 * forwards nothing of that kind. */
static bool window_of(const struct pci_dev *d, const struct pci_bar *b, u64 *start, u64 *end)
{
    if (d->parent < 0) {
        *start = b->io ? KIT_IO_WINDOW_START : KIT_MMIO_WINDOW_START;
        *end = b->io ? KIT_IO_WINDOW_END : KIT_MMIO_WINDOW_END;
        return true;
    }
    const struct pci_dev *br = &pci_devs[d->parent];
    if (b->io) {
        *start = (u64)(pci_read8(br, 0x1C) & 0xF0) << 8;
        *end = ((u64)(pci_read8(br, 0x1D) & 0xF0) << 8) + 0x1000;
    } else {
        u16 pbase = pci_read16(br, 0x24), plimit = pci_read16(br, 0x26);
        u64 ps = (u64)(pbase & 0xFFF0) << 16 | (u64)pci_read32(br, 0x28) << 32;
        u64 pe = ((u64)(plimit & 0xFFF0) << 16 | (u64)pci_read32(br, 0x2C) << 32) + 0x100000;
        if (b->prefetch && ps < pe) {
            *start = ps;
            *end = pe;
        } else {
            *start = (u64)(pci_read16(br, 0x20) & 0xFFF0) << 16;
            *end = ((u64)(pci_read16(br, 0x22) & 0xFFF0) << 16) + 0x100000;
        }
    }
    return *start < *end;
}

/* The first address in [start, end) aligned to size that overlaps no placed BAR. */
static u64 place(u64 start, u64 end, u64 size, bool io)
{
    for (u64 at = ALIGN_UP(start, size); at + size <= end; at += size) {
        bool clash = false;
        for (int i = 0; i < pci_ndevs && !clash; i++) {
            if (pci_devs[i].gone)
                continue;
            for (int j = 0; j < 6; j++) {
                struct pci_bar *o = &pci_devs[i].bar[j];
                if (o->size && o->addr && o->io == io && o->addr < at + size && at < o->addr + o->size) {
                    clash = true;
                    at = ALIGN_UP(o->addr + o->size, size) - size; /* the loop adds size */
                    break;
                }
            }
        }
        if (!clash)
            return at;
    }
    return 0;
}

static void assign_bars(void)
{
    for (int i = 0; i < pci_ndevs; i++) {
        struct pci_dev *d = &pci_devs[i];
        if (d->gone)
            continue;
        for (int j = 0; j < 6; j++) {
            struct pci_bar *b = &d->bar[j];
            if (!b->size || b->addr)
                continue;
            u64 start, end, at = 0;
            if (window_of(d, b, &start, &end))
                at = place(start, end, b->size, b->io);
            if (!at) {
                kit_printf("pci: no room for BAR%d of %s (size 0x%lx)\n", j, pci_bdf(d), b->size);
                continue;
            }
            u8 off = (u8)(PCI_BAR0 + 4 * j);
            u32 low = pci_read32(d, off) & (b->io ? 3u : 0xFu);
            pci_write32(d, off, (u32)at | low);
            if (b->mem64)
                pci_write32(d, (u8)(off + 4), (u32)(at >> 32));
            b->addr = at;
            b->assigned_by_kit = true;
        }
    }
}

int pci_enumerate(void)
{
    pci_ndevs = 0;
    int added, removed;
    pci_rescan(&added, &removed);
    return pci_ndevs;
}

void pci_rescan(int *added, int *removed)
{
    int before = pci_ndevs;
    for (int i = 0; i < pci_ndevs; i++)
        if (!pci_devs[i].gone)
            pci_devs[i].seen = false; /* a gone one keeps its flag for its reporter */
    if (kit_flag("pci.allbuses")) {
        for (int bus = 0; bus < 256; bus++)
            scan_bus((u8)bus, false, -1);
    } else {
        scan_bus(0, true, -1);
    }
    *added = pci_ndevs - before;
    *removed = 0;
    for (int i = 0; i < before; i++)
        if (!pci_devs[i].gone && !pci_devs[i].seen) {
            pci_devs[i].gone = true;
            (*removed)++;
        }
    assign_bars();
}
