/* virtio-hostile: a guest that breaks the virtio rules on purpose (virtio spec 2.7) to prove a
 * device survives it. Each case starts from a freshly reset device with a 16-entry queue, writes
 * one malformed request straight into the split ring, notifies, and waits up to a second for
 * what the device did: DEVICE_NEEDS_RESET set, the request answered (used ring), or nothing
 * (dropped). Any of those is allowed by the spec; a hang, a crashed VMM (no further lines) or a
 * device that does not work again after a reset is not. The cases run on the first virtio-blk
 * and the first virtio-rng device; at the end each device must still serve a good request.
 * hostile.only=NAME runs one case. */
#include "kit.h"

#define QSIZE 16
#define WAIT_TICKS 100 /* 1 s */

#define VIRTIO_BLK_T_IN 0

enum { GOOD_TIMEOUT = 1000 };

struct target {
    const char *name;
    struct pci_dev *pci;
    struct virtio_dev v;
    bool blk;
    u8 *hdr, *data, *status; /* blk: header, 512 data, status; rng: 64 data */
};

static u64 bad_addr;

/* The device's well-formed request as descriptors (without NEXT links). */
static int good_descs(struct target *t, struct vring_desc *d)
{
    if (t->blk) {
        u32 *h = (u32 *)t->hdr;
        h[0] = VIRTIO_BLK_T_IN;
        h[1] = 0;
        *(u64 *)(t->hdr + 8) = 0;
        *t->status = 0xFF;
        d[0] = (struct vring_desc){ (u64)t->hdr, 16, 0, 0 };
        d[1] = (struct vring_desc){ (u64)t->data, 512, VRING_DESC_F_WRITE, 0 };
        d[2] = (struct vring_desc){ (u64)t->status, 1, VRING_DESC_F_WRITE, 0 };
        return 3;
    }
    d[0] = (struct vring_desc){ (u64)t->data, 64, VRING_DESC_F_WRITE, 0 };
    return 1;
}

static void link(struct vring_desc *d, int n)
{
    for (int i = 0; i + 1 < n; i++) {
        d[i].flags |= VRING_DESC_F_NEXT;
        d[i].next = (u16)(i + 1);
    }
}

static int reinit(struct target *t)
{
    if (virtio_init(&t->v, t->pci, 0, "virtio-hostile") < 0 || virtio_setup_queue(&t->v, 0, QSIZE, "virtio-hostile") < 0)
        return -1;
    virtio_driver_ok(&t->v);
    return 0;
}

/* A good request through the kit's normal queue path. */
static bool works(struct target *t)
{
    struct vring_desc d[3];
    int n = good_descs(t, d);
    struct vbuf b[3];
    for (int i = 0; i < n; i++)
        b[i] = (struct vbuf){ d[i].addr, d[i].len, (d[i].flags & VRING_DESC_F_WRITE) != 0 };
    struct virtq *q = &t->v.vq[0];
    if (vq_add(q, b, n, t) < 0)
        return false;
    vq_kick(q);
    u32 len = 0;
    if (!vq_wait(q, &len, GOOD_TIMEOUT))
        return false;
    return t->blk ? *t->status == 0 : len > 0;
}

/* Publishes head as the one available entry (avail idx = idx) and notifies. */
static void publish(struct target *t, u16 head, u16 idx)
{
    struct virtq *q = &t->v.vq[0];
    q->avail->ring[0] = head;
    barrier();
    *(volatile u16 *)&q->avail->idx = idx;
    mb();
    mmio_write16(q->notify_addr, q->index);
}

typedef void (*case_fn)(struct target *t, struct virtq *q);

static void c_outside_ram(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    q->desc[0].addr = bad_addr;
    link(q->desc, n);
    publish(t, 0, 1);
}

static void c_loop(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    link(q->desc, n);
    q->desc[n - 1].flags |= VRING_DESC_F_NEXT;
    q->desc[n - 1].next = 0;
    publish(t, 0, 1);
}

static void c_next_out_of_range(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    link(q->desc, n);
    q->desc[n - 1].flags |= VRING_DESC_F_NEXT;
    q->desc[n - 1].next = 200;
    publish(t, 0, 1);
}

static void c_zero_length(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    q->desc[0].len = 0;
    link(q->desc, n);
    publish(t, 0, 1);
}

/* Longer than all of RAM, so it runs past RAM's end (hostile.huge=N for another length; QEMU
 * takes about 30 s to refuse 0xfffff000 on a virtio-rng). */
static void c_huge_length(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    u64 len = kit_ram_end();
    kit_arg("hostile.huge", &len);
    q->desc[t->blk ? 1 : 0].len = (u32)(len > 0xFFFFFFFFu ? 0xFFFFFFFFu : len);
    link(q->desc, n);
    publish(t, 0, 1);
}

static void c_read_only_buffers(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    for (int i = 0; i < n; i++)
        q->desc[i].flags &= (u16)~VRING_DESC_F_WRITE;
    link(q->desc, n);
    publish(t, 0, 1);
}

static void c_head_out_of_range(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    link(q->desc, n);
    publish(t, QSIZE + 3, 1);
}

static void c_avail_idx_beyond_size(struct target *t, struct virtq *q)
{
    int n = good_descs(t, q->desc);
    link(q->desc, n);
    publish(t, 0, QSIZE + 1);
}

static void c_indirect_outside_ram(struct target *t, struct virtq *q)
{
    q->desc[0] = (struct vring_desc){ bad_addr, 48, VRING_DESC_F_INDIRECT, 0 };
    publish(t, 0, 1);
}

static void c_indirect_nested(struct target *t, struct virtq *q)
{
    struct vring_desc *table = q->indirect;
    int n = good_descs(t, table + 1);
    link(table + 1, n);
    table[0] = (struct vring_desc){ (u64)(table + 1), (u32)(16 * n), VRING_DESC_F_INDIRECT, 0 };
    q->desc[0] = (struct vring_desc){ (u64)table, 16, VRING_DESC_F_INDIRECT, 0 };
    publish(t, 0, 1);
}

/* 2 * QSIZE descriptors in one indirect table: longer than the queue (2.7.5.3.1). */
static void c_chain_longer_than_queue(struct target *t, struct virtq *q)
{
    struct vring_desc *table = q->indirect; /* QSIZE * VQ_MAX_SG entries */
    int n = 2 * QSIZE;
    if (t->blk) {
        good_descs(t, table);
        table[n - 1] = table[2];
        for (int i = 1; i < n - 1; i++)
            table[i] = (struct vring_desc){ (u64)t->data, 16, VRING_DESC_F_WRITE, 0 };
    } else {
        for (int i = 0; i < n; i++)
            table[i] = (struct vring_desc){ (u64)t->data, 2, VRING_DESC_F_WRITE, 0 };
    }
    link(table, n);
    q->desc[0] = (struct vring_desc){ (u64)table, (u32)(16 * n), VRING_DESC_F_INDIRECT, 0 };
    publish(t, 0, 1);
}

static const struct {
    const char *name;
    case_fn fn;
    bool indirect;
} cases[] = {
    { "address-outside-ram", c_outside_ram, false },
    { "descriptor-loop", c_loop, false },
    { "next-out-of-range", c_next_out_of_range, false },
    { "zero-length", c_zero_length, false },
    { "huge-length", c_huge_length, false },
    { "read-only-buffers", c_read_only_buffers, false },
    { "head-out-of-range", c_head_out_of_range, false },
    { "avail-idx-beyond-size", c_avail_idx_beyond_size, false },
    { "indirect-outside-ram", c_indirect_outside_ram, true },
    { "indirect-nested", c_indirect_nested, true },
    { "chain-longer-than-queue", c_chain_longer_than_queue, true },
};

/* Runs every case on t; returns the number of cases that failed. */
static int attack(struct target *t, int *ran)
{
    const char *only = kit_arg_str("hostile.only");
    const char *bdf = pci_bdf(t->pci);
    int failed = 0;
    for (u32 c = 0; c < ARRAY_SIZE(cases); c++) {
        if (only && strncmp(only, cases[c].name, strlen(cases[c].name)) != 0)
            continue;
        if (reinit(t) < 0)
            return failed + 1;
        struct virtq *q = &t->v.vq[0];
        if (cases[c].indirect && !virtio_has(&t->v, VIRTIO_F_INDIRECT_DESC))
            continue;
        (*ran)++;
        cases[c].fn(t, q);
        const char *outcome = NULL;
        char answered[48];
        for (u64 until = ticks + WAIT_TICKS; !outcome;) {
            if (virtio_status(&t->v) & VIRTIO_STATUS_NEEDS_RESET) {
                outcome = "NEEDS_RESET";
            } else if (*(volatile u16 *)&q->used->idx != 0) {
                kit_snprintf(answered, sizeof answered, "answered (used id %u len %u)", q->used->ring[0].id,
                             q->used->ring[0].len);
                outcome = answered;
            } else if (ticks >= until) {
                outcome = "dropped (no answer in 1 s)";
            } else {
                kit_wait_tick();
            }
        }
        kit_printf("virtio-hostile: %s %s %s: %s\n", t->name, bdf, cases[c].name, outcome);
        virtio_reset(&t->v);
        if (reinit(t) < 0 || !works(t)) {
            kit_printf("virtio-hostile: FAIL %s %s does not serve a good request after %s and a reset\n", t->name, bdf,
                       cases[c].name);
            failed++;
        }
    }
    return failed;
}

void kit_main(void)
{
    kit_puts("virtio-hostile: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    u64 end = kit_ram_end();
    bad_addr = end + 0x10000000UL < 0xC0000000UL ? end + 0x10000000UL : 0x10000000000UL;

    static struct target targets[2];
    int count = 0;
    struct pci_dev *pci;
    if ((pci = virtio_find(VIRTIO_ID_BLOCK, 0)))
        targets[count++] = (struct target){ "virtio-blk", pci, { 0 }, true, NULL, NULL, NULL };
    if ((pci = virtio_find(VIRTIO_ID_RNG, 0)))
        targets[count++] = (struct target){ "virtio-rng", pci, { 0 }, false, NULL, NULL, NULL };
    if (!count) {
        kit_printf("virtio-hostile: FAIL no virtio-blk or virtio-rng device among %d PCI functions\n", n);
        return;
    }
    int failed = 0, ran = 0;
    for (int i = 0; i < count; i++) {
        struct target *t = &targets[i];
        t->hdr = kit_alloc(16, 16);
        t->data = kit_alloc(4096, 4096);
        t->status = kit_alloc(16, 16);
        failed += attack(t, &ran);
    }
    /* Every device, attacked or not, still serves requests at the end. */
    for (int i = 0; i < count; i++) {
        struct target *t = &targets[i];
        if (reinit(t) < 0 || !works(t)) {
            kit_printf("virtio-hostile: FAIL %s %s does not work at the end\n", t->name, pci_bdf(t->pci));
            failed++;
        } else {
            kit_printf("virtio-hostile: ok %s %s still works\n", t->name, pci_bdf(t->pci));
        }
    }
    if (!failed)
        kit_printf("virtio-hostile: ok %d cases on %d devices, each device works after its reset\n", ran, count);
}
