/* virtio 1.x over PCI (the modern transport, virtio spec 4.1) with split virtqueues (2.7).
 * Initialisation follows 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (read back),
 * queues, DRIVER_OK. MSI-X entries are programmed (Cloud Hypervisor offers no INTx for
 * virtio-pci) and counted; completion is found by polling the used ring between interrupts or
 * PIT ticks, so a missing interrupt slows a request down but never hangs it. */
#include "kit.h"

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* struct virtio_pci_common_cfg */
#define VC_DFSELECT 0x00
#define VC_DF 0x04
#define VC_GFSELECT 0x08
#define VC_GF 0x0C
#define VC_MSIX 0x10
#define VC_NUMQ 0x12
#define VC_STATUS 0x14
#define VC_CFGGEN 0x15
#define VC_Q_SELECT 0x16
#define VC_Q_SIZE 0x18
#define VC_Q_MSIX 0x1A
#define VC_Q_ENABLE 0x1C
#define VC_Q_NOFF 0x1E
#define VC_Q_DESCLO 0x20
#define VC_Q_DESCHI 0x24
#define VC_Q_AVAILLO 0x28
#define VC_Q_AVAILHI 0x2C
#define VC_Q_USEDLO 0x30
#define VC_Q_USEDHI 0x34

#define VIRTIO_MSI_NO_VECTOR 0xFFFF

u16 virtio_pci_type(const struct pci_dev *d)
{
    if (d->vendor != VIRTIO_PCI_VENDOR || d->device < VIRTIO_PCI_DEVICE_BASE || d->device > 0x107F)
        return 0;
    return (u16)(d->device - VIRTIO_PCI_DEVICE_BASE);
}

struct pci_dev *virtio_find(u16 type, int nth)
{
    for (int i = 0; i < pci_ndevs; i++)
        if (!pci_devs[i].gone && virtio_pci_type(&pci_devs[i]) == type && nth-- == 0)
            return &pci_devs[i];
    return NULL;
}

bool virtio_has(const struct virtio_dev *v, u32 bit) { return (v->features >> bit) & 1; }

u8 virtio_status(struct virtio_dev *v) { return mmio_read8(v->common + VC_STATUS); }

static void set_status(struct virtio_dev *v, u8 bits)
{
    mmio_write8(v->common + VC_STATUS, (u8)(virtio_status(v) | bits));
}

void virtio_reset(struct virtio_dev *v)
{
    mmio_write8(v->common + VC_STATUS, 0);
    /* 4.1.4.3.2: the reset is complete when device_status reads 0. */
    for (int i = 0; i < 1000000 && virtio_status(v) != 0; i++)
        cpu_relax();
}

static u64 cap_address(struct pci_dev *pci, u8 cap, const char *who)
{
    u8 bar = pci_read8(pci, (u8)(cap + 4));
    u32 off = pci_read32(pci, (u8)(cap + 8));
    u32 len = pci_read32(pci, (u8)(cap + 12));
    if (bar > 5 || !pci->bar[bar].size || pci->bar[bar].io || (u64)off + len > pci->bar[bar].size) {
        kit_printf("%s: FAIL %s capability at 0x%x names BAR%u offset 0x%x length 0x%x outside a memory BAR\n", who,
                   pci_bdf(pci), cap, bar, off, len);
        return 0;
    }
    u64 a = pci->bar[bar].addr + off;
    kit_map(a, len);
    return a;
}

static void setup_msix(struct virtio_dev *v)
{
    struct pci_dev *pci = v->pci;
    int i = pci_find_cap(pci, PCI_CAP_ID_MSIX, 0);
    if (i < 0)
        return;
    u8 cap = pci->caps[i];
    u16 ctrl = pci_read16(pci, (u8)(cap + 2));
    u32 table = pci_read32(pci, (u8)(cap + 4));
    struct pci_bar *b = &pci->bar[table & 7];
    if ((table & 7) > 5 || !b->size)
        return;
    v->msix_size = (u16)((ctrl & 0x7FF) + 1);
    v->msix_table = b->addr + (table & ~7u);
    kit_map(v->msix_table, 16UL * v->msix_size);
    /* Every entry masked until the kit points one at a vector; then MSI-X on, function unmasked. */
    for (u16 e = 0; e < v->msix_size; e++)
        mmio_write32(v->msix_table + 16UL * e + 12, 1);
    pci_write16(pci, (u8)(cap + 2), (u16)((ctrl | 0x8000) & ~0x4000));
}

/* MSI-X entry e -> the kit vector of index n on the BSP (fixed, edge); returns n or -1. */
static int msix_route(struct virtio_dev *v, u16 e)
{
    if (!v->msix_table || e >= v->msix_size)
        return -1;
    int n = kit_msi_vector_alloc();
    if (n < 0)
        return -1;
    u64 ent = v->msix_table + 16UL * e;
    mmio_write32(ent + 0, 0xFEE00000u);
    mmio_write32(ent + 4, 0);
    mmio_write32(ent + 8, KIT_MSI_VECTOR_BASE + (u32)n);
    mmio_write32(ent + 12, 0);
    return n;
}

int virtio_init(struct virtio_dev *v, struct pci_dev *pci, u64 wanted, const char *who)
{
    memset(v, 0, sizeof *v);
    v->pci = pci;
    v->type = virtio_pci_type(pci);
    v->config_msi = -1;
    pci_enable(pci);
    for (int i = 0; i < pci->ncaps; i++) {
        u8 cap = pci->caps[i];
        if (pci_read8(pci, cap) != PCI_CAP_ID_VNDR)
            continue;
        u8 type = pci_read8(pci, (u8)(cap + 3));
        u64 *slot = type == VIRTIO_PCI_CAP_COMMON_CFG   ? &v->common
                    : type == VIRTIO_PCI_CAP_NOTIFY_CFG ? &v->notify
                    : type == VIRTIO_PCI_CAP_ISR_CFG    ? &v->isr
                    : type == VIRTIO_PCI_CAP_DEVICE_CFG ? &v->device
                                                        : NULL;
        /* 4.1.4: the first capability of each type is the one to use. */
        if (!slot || *slot)
            continue;
        *slot = cap_address(pci, cap, who);
        if (!*slot)
            return -1;
        if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
            v->notify_mul = pci_read32(pci, (u8)(cap + 16));
    }
    if (!v->common || !v->notify || !v->isr) {
        kit_printf("%s: FAIL %s lacks a virtio capability (common %s, notify %s, isr %s)\n", who, pci_bdf(pci),
                   v->common ? "yes" : "no", v->notify ? "yes" : "no", v->isr ? "yes" : "no");
        return -1;
    }
    setup_msix(v);

    virtio_reset(v);
    set_status(v, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(v, VIRTIO_STATUS_DRIVER);
    mmio_write32(v->common + VC_DFSELECT, 0);
    u64 lo = mmio_read32(v->common + VC_DF);
    mmio_write32(v->common + VC_DFSELECT, 1);
    u64 hi = mmio_read32(v->common + VC_DF);
    v->device_features = hi << 32 | lo;
    if (!((v->device_features >> VIRTIO_F_VERSION_1) & 1)) {
        kit_printf("%s: FAIL %s does not offer VIRTIO_F_VERSION_1 (features 0x%lx)\n", who, pci_bdf(pci),
                   v->device_features);
        set_status(v, VIRTIO_STATUS_FAILED);
        return -1;
    }
    wanted |= 1UL << VIRTIO_F_VERSION_1 | 1UL << VIRTIO_F_INDIRECT_DESC | 1UL << VIRTIO_F_EVENT_IDX;
    if (kit_flag("kit.noindirect"))
        wanted &= ~(1UL << VIRTIO_F_INDIRECT_DESC);
    if (kit_flag("kit.noeventidx"))
        wanted &= ~(1UL << VIRTIO_F_EVENT_IDX);
    v->features = v->device_features & wanted;
    mmio_write32(v->common + VC_GFSELECT, 0);
    mmio_write32(v->common + VC_GF, (u32)v->features);
    mmio_write32(v->common + VC_GFSELECT, 1);
    mmio_write32(v->common + VC_GF, (u32)(v->features >> 32));
    set_status(v, VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_status(v) & VIRTIO_STATUS_FEATURES_OK)) {
        kit_printf("%s: FAIL %s refused features 0x%lx (status 0x%x)\n", who, pci_bdf(pci), v->features,
                   virtio_status(v));
        set_status(v, VIRTIO_STATUS_FAILED);
        return -1;
    }
    v->num_queues = mmio_read16(v->common + VC_NUMQ);
    if (v->msix_table) {
        int n = msix_route(v, 0);
        mmio_write16(v->common + VC_MSIX, n < 0 ? VIRTIO_MSI_NO_VECTOR : 0);
        v->config_msi = n >= 0 && mmio_read16(v->common + VC_MSIX) == 0 ? n : -1;
    }
    return 0;
}

int virtio_setup_queue(struct virtio_dev *v, u16 index, u16 max_size, const char *who)
{
    if (index >= v->num_queues || index >= ARRAY_SIZE(v->vq)) {
        kit_printf("%s: FAIL %s has %u queues, queue %u wanted\n", who, pci_bdf(v->pci), v->num_queues, index);
        return -1;
    }
    struct virtq *q = &v->vq[index];
    memset(q, 0, sizeof *q);
    q->vdev = v;
    q->index = index;
    q->msi = -1;
    mmio_write16(v->common + VC_Q_SELECT, index);
    u16 size = mmio_read16(v->common + VC_Q_SIZE);
    if (size == 0) {
        kit_printf("%s: FAIL %s queue %u is not available (size 0)\n", who, pci_bdf(v->pci), index);
        return -1;
    }
    while (size > max_size)
        size /= 2; /* sizes are powers of 2 for split rings */
    q->size = size;
    mmio_write16(v->common + VC_Q_SIZE, size);

    /* The three parts of a split ring (2.7: alignments 16, 2 and 4), with used_event and
     * avail_event after the rings. */
    q->desc = kit_alloc_dirty(16UL * size, 16);
    q->avail = kit_alloc(6 + 2UL * size, 2);
    q->used = kit_alloc(6 + 8UL * size, 4);
    q->indirect = virtio_has(v, VIRTIO_F_INDIRECT_DESC) ? kit_alloc_dirty(16UL * VQ_MAX_SG * size, 16) : NULL;
    q->token = kit_alloc(sizeof(void *) * size, 8);
    q->chain_len = kit_alloc(2UL * size, 2);
    for (u16 i = 0; i < size; i++)
        q->desc[i].next = (u16)(i + 1);
    q->free_head = 0;
    q->num_free = size;

    if (v->msix_table) {
        int n = msix_route(v, (u16)(1 + index));
        mmio_write16(v->common + VC_Q_MSIX, n < 0 ? VIRTIO_MSI_NO_VECTOR : (u16)(1 + index));
        q->msi = n >= 0 && mmio_read16(v->common + VC_Q_MSIX) == 1 + index ? n : -1;
    }
    mmio_write32(v->common + VC_Q_DESCLO, (u32)(u64)q->desc);
    mmio_write32(v->common + VC_Q_DESCHI, (u32)((u64)q->desc >> 32));
    mmio_write32(v->common + VC_Q_AVAILLO, (u32)(u64)q->avail);
    mmio_write32(v->common + VC_Q_AVAILHI, (u32)((u64)q->avail >> 32));
    mmio_write32(v->common + VC_Q_USEDLO, (u32)(u64)q->used);
    mmio_write32(v->common + VC_Q_USEDHI, (u32)((u64)q->used >> 32));
    u16 noff = mmio_read16(v->common + VC_Q_NOFF);
    q->notify_addr = v->notify + (u64)noff * v->notify_mul;
    mmio_write16(v->common + VC_Q_ENABLE, 1);
    return 0;
}

void virtio_driver_ok(struct virtio_dev *v) { set_status(v, VIRTIO_STATUS_DRIVER_OK); }

void virtio_read_config(struct virtio_dev *v, u32 off, void *buf, u32 len)
{
    u8 *out = buf;
    for (int tries = 0; tries < 100; tries++) {
        u8 gen = mmio_read8(v->common + VC_CFGGEN);
        for (u32 i = 0; i < len; i++)
            out[i] = mmio_read8(v->device + off + i);
        if (mmio_read8(v->common + VC_CFGGEN) == gen)
            return;
    }
}

u8 virtio_config8(struct virtio_dev *v, u32 off) { return mmio_read8(v->device + off); }

u32 virtio_config32(struct virtio_dev *v, u32 off) { return mmio_read32(v->device + off); }

u64 virtio_config64(struct virtio_dev *v, u32 off)
{
    u64 r;
    virtio_read_config(v, off, &r, 8);
    return r;
}

/* ---- split virtqueue ---- */

static u16 *used_event(struct virtq *q) { return &q->avail->ring[q->size]; }
static volatile u16 *avail_event(struct virtq *q) { return (volatile u16 *)&q->used->ring[q->size]; }

int vq_add(struct virtq *q, const struct vbuf *bufs, int n, void *token)
{
    if (n <= 0 || n > VQ_MAX_SG)
        return -1;
    bool indirect = q->indirect && n > 1;
    u16 need = indirect ? 1 : (u16)n;
    if (q->num_free < need)
        return -1;
    u16 head = q->free_head;
    if (indirect) {
        struct vring_desc *t = &q->indirect[(u64)head * VQ_MAX_SG];
        for (int i = 0; i < n; i++) {
            t[i].addr = bufs[i].addr;
            t[i].len = bufs[i].len;
            t[i].flags = (u16)((bufs[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
            t[i].next = (u16)(i + 1);
        }
        q->free_head = q->desc[head].next;
        q->desc[head].addr = (u64)t;
        q->desc[head].len = (u32)(16 * n);
        q->desc[head].flags = VRING_DESC_F_INDIRECT;
    } else {
        u16 d = head, last = head;
        for (int i = 0; i < n; i++) {
            q->desc[d].addr = bufs[i].addr;
            q->desc[d].len = bufs[i].len;
            q->desc[d].flags = (u16)((bufs[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
            last = d;
            d = q->desc[d].next;
        }
        q->free_head = q->desc[last].next;
    }
    q->num_free = (u16)(q->num_free - need);
    q->chain_len[head] = need;
    q->token[head] = token;
    q->avail->ring[q->avail_shadow % q->size] = head;
    q->avail_shadow++;
    return 0;
}

/* 2.7.10 (vring_need_event): notify when the new index passed the device's avail_event. */
static bool need_event(u16 event, u16 new_idx, u16 old_idx)
{
    return (u16)(new_idx - event - 1) < (u16)(new_idx - old_idx);
}

void vq_kick(struct virtq *q)
{
    u16 old = q->kicked_at, now = q->avail_shadow;
    barrier(); /* descriptors and ring entries before the index (x86 keeps stores in order) */
    *(volatile u16 *)&q->avail->idx = now;
    mb();      /* the index is visible before the suppression state is read */
    q->kicked_at = now;
    bool notify = virtio_has(q->vdev, VIRTIO_F_EVENT_IDX) ? need_event(*avail_event(q), now, old)
                                                          : !(*(volatile u16 *)&q->used->flags & VRING_USED_F_NO_NOTIFY);
    if (notify) {
        mmio_write16(q->notify_addr, q->index);
        q->kicks++;
    } else {
        q->notify_skipped++;
    }
}

void *vq_get(struct virtq *q, u32 *len)
{
    u16 used_idx = *(volatile u16 *)&q->used->idx;
    if (used_idx == q->last_used)
        return NULL;
    barrier(); /* the element after the index */
    struct vring_used_elem e = *(volatile struct vring_used_elem *)&q->used->ring[q->last_used % q->size];
    q->last_used++;
    /* Interrupt on the next completion (2.7.7.2 with EVENT_IDX). */
    if (virtio_has(q->vdev, VIRTIO_F_EVENT_IDX))
        *(volatile u16 *)used_event(q) = q->last_used;
    if (e.id >= q->size || !q->chain_len[e.id]) {
        kit_printf("virtio: used ring of queue %u names descriptor %u, not a request in flight\n", q->index, e.id);
        return NULL;
    }
    u16 head = (u16)e.id, n = q->chain_len[head], last = head;
    for (u16 i = 1; i < n; i++)
        last = q->desc[last].next;
    q->desc[last].next = q->free_head;
    q->free_head = head;
    q->num_free = (u16)(q->num_free + n);
    q->chain_len[head] = 0;
    if (len)
        *len = e.len;
    q->completions++;
    return q->token[head];
}

void *vq_wait(struct virtq *q, u32 *len, u64 timeout_ticks)
{
    u64 until = ticks + timeout_ticks;
    bool user = at_cpl3();
    for (;;) {
        void *t = vq_get(q, len);
        if (t || ticks >= until)
            return t;
        /* CPL3 runs natively: spin on the ring. CPL0 is emulated: sleep until an interrupt. */
        if (user)
            cpu_relax();
        else
            kit_wait_tick();
    }
}
