/* virtio-blk scenario: every virtio-blk function found is probed (capacity, serial, sector 0),
 * then a known pattern is written, flushed and read back, or, on a read-only disk, a write must
 * answer VIRTIO_BLK_S_IOERR. Command line: blk.start=S blk.sectors=N (default 1 and 16),
 * blk.seed=X (pattern seed, default 0), kit.user (requests issued from CPL3), kit.noindirect,
 * kit.noeventidx; blk.bench=MiB (then blk.depth=N, 8) also writes and reads MiB in 64 KiB requests at
 * CPL3 from blk.start, every byte 0xbe, and prints the time, MiB/s and per-request latency (TSC,
 * calibrated on the PIT). The pattern byte at disk offset o is (o / 512 * 131 + o % 512 * 7 + seed) & 0xff. */
#include "kit.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR 512
#define CHUNK_SECTORS 8 /* one request per 4 KiB */
#define TIMEOUT_TICKS 1000 /* 10 s at 100 Hz: a hang, not a slow device */

struct blk_req {
    u32 type, reserved;
    u64 sector;
    u8 status;
};

struct blk {
    struct virtio_dev v;
    struct blk_req *reqs; /* one per ring slot */
    u64 capacity;
    u64 start, sectors, seed;
    u8 *out, *in;
    bool ro;
    const char *bdf;
};

static const char *status_name(u8 s)
{
    return s == VIRTIO_BLK_S_OK ? "OK" : s == VIRTIO_BLK_S_IOERR ? "IOERR" : s == VIRTIO_BLK_S_UNSUPP ? "UNSUPP" : "?";
}

/* Queues request r (header, optional data, status) without kicking. */
static int queue_req(struct blk *b, int r, u32 type, u64 sector, void *data, u32 len)
{
    struct blk_req *q = &b->reqs[r];
    q->type = type;
    q->reserved = 0;
    q->sector = sector;
    q->status = 0xFF;
    struct vbuf bufs[3];
    int n = 0;
    bufs[n++] = (struct vbuf){ (u64)q, 16, false };
    if (len)
        bufs[n++] = (struct vbuf){ (u64)data, len, type != VIRTIO_BLK_T_OUT };
    bufs[n++] = (struct vbuf){ (u64)&q->status, 1, true };
    return vq_add(&b->v.vq[0], bufs, n, q);
}

/* Waits for `count` requests; returns the first status that is not OK, or OK. */
static int wait_reqs(struct blk *b, int count, const char *what)
{
    u8 worst = VIRTIO_BLK_S_OK;
    for (int i = 0; i < count; i++) {
        struct blk_req *q = vq_wait(&b->v.vq[0], NULL, TIMEOUT_TICKS);
        if (!q) {
            kit_printf("virtio-blk: FAIL %s %s: no completion within %d s (device status 0x%x)\n", b->bdf, what,
                       TIMEOUT_TICKS / 100, virtio_status(&b->v));
            return -1;
        }
        if (q->status != VIRTIO_BLK_S_OK && worst == VIRTIO_BLK_S_OK)
            worst = q->status;
    }
    return worst;
}

static int one_req(struct blk *b, u32 type, u64 sector, void *data, u32 len, const char *what)
{
    if (queue_req(b, 0, type, sector, data, len) < 0) {
        kit_printf("virtio-blk: FAIL %s %s: ring full\n", b->bdf, what);
        return -1;
    }
    vq_kick(&b->v.vq[0]);
    return wait_reqs(b, 1, what);
}

/* The data pass over [start, start+sectors): every chunk queued at once, one kick. */
static int transfer(struct blk *b, u32 type, u8 *buf, const char *what)
{
    struct virtq *q = &b->v.vq[0];
    u64 done = 0;
    while (done < b->sectors) {
        int queued = 0;
        while (done < b->sectors) {
            u64 n = b->sectors - done < CHUNK_SECTORS ? b->sectors - done : CHUNK_SECTORS;
            if (queue_req(b, queued, type, b->start + done, buf + done * SECTOR, (u32)(n * SECTOR)) < 0)
                break;
            queued++;
            done += n;
        }
        vq_kick(q);
        int s = wait_reqs(b, queued, what);
        if (s != VIRTIO_BLK_S_OK)
            return s;
    }
    return VIRTIO_BLK_S_OK;
}

static u8 pattern(const struct blk *b, u64 offset)
{
    return (u8)((offset / SECTOR) * 131 + (offset % SECTOR) * 7 + b->seed);
}

/* The I/O part of the scenario, at CPL0 or (kit.user) CPL3; returns 0 when it passed. */
static u64 exercise(u64 arg)
{
    struct blk *b = (struct blk *)arg;
    const char *mode = at_cpl3() ? "cpl3" : "cpl0";

    char serial[21] = { 0 };
    int s = one_req(b, VIRTIO_BLK_T_GET_ID, 0, b->in, 20, "GET_ID");
    if (s < 0)
        return 1;
    if (s == VIRTIO_BLK_S_OK)
        memcpy(serial, b->in, 20);
    kit_printf("virtio-blk: %s capacity %lu sectors serial \"%s\" read-only %s features 0x%lx queue %u msix %s\n", b->bdf,
               b->capacity, serial, b->ro ? "yes" : "no", b->v.features, b->v.vq[0].size,
               b->v.vq[0].msi >= 0 ? "yes" : "no");

    s = one_req(b, VIRTIO_BLK_T_IN, 0, b->in, SECTOR, "read of sector 0");
    if (s != VIRTIO_BLK_S_OK) {
        if (s > 0)
            kit_printf("virtio-blk: FAIL %s read of sector 0 answered %s\n", b->bdf, status_name((u8)s));
        return 1;
    }
    kit_hexdump_line("virtio-blk: sector 0 begins ", b->in, 16);

    if (b->start + b->sectors > b->capacity) {
        kit_printf("virtio-blk: FAIL %s sectors %lu-%lu are beyond the capacity %lu\n", b->bdf, b->start,
                   b->start + b->sectors - 1, b->capacity);
        return 1;
    }
    u64 bytes = b->sectors * SECTOR;
    for (u64 i = 0; i < bytes; i++)
        b->out[i] = pattern(b, b->start * SECTOR + i);

    if (b->ro) {
        s = transfer(b, VIRTIO_BLK_T_OUT, b->out, "write");
        if (s == VIRTIO_BLK_S_IOERR) {
            kit_printf("virtio-blk: ok %s read-only: write answered IOERR (%s)\n", b->bdf, mode);
            return 0;
        }
        if (s >= 0)
            kit_printf("virtio-blk: FAIL %s read-only: write answered %s\n", b->bdf, status_name((u8)s));
        return 1;
    }

    s = transfer(b, VIRTIO_BLK_T_OUT, b->out, "write");
    if (s != VIRTIO_BLK_S_OK) {
        if (s > 0)
            kit_printf("virtio-blk: FAIL %s write answered %s\n", b->bdf, status_name((u8)s));
        return 1;
    }
    bool flushed = virtio_has(&b->v, VIRTIO_BLK_F_FLUSH);
    if (flushed) {
        s = one_req(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, "flush");
        if (s != VIRTIO_BLK_S_OK) {
            if (s > 0)
                kit_printf("virtio-blk: FAIL %s flush answered %s\n", b->bdf, status_name((u8)s));
            return 1;
        }
    }
    memset(b->in, 0, bytes);
    s = transfer(b, VIRTIO_BLK_T_IN, b->in, "read back");
    if (s != VIRTIO_BLK_S_OK) {
        if (s > 0)
            kit_printf("virtio-blk: FAIL %s read back answered %s\n", b->bdf, status_name((u8)s));
        return 1;
    }
    for (u64 i = 0; i < bytes; i++)
        if (b->in[i] != b->out[i]) {
            kit_printf("virtio-blk: FAIL %s read back differs at byte %lu of sector %lu: 0x%02x, wrote 0x%02x\n", b->bdf,
                       i % SECTOR, b->start + i / SECTOR, b->in[i], b->out[i]);
            return 1;
        }
    struct virtq *q = &b->v.vq[0];
    kit_printf("virtio-blk: ok %s wrote %lu sectors at %lu, %s, read back equal (%s, %s%s, %lu requests, %lu kicks, "
               "%lu msix interrupts)\n",
               b->bdf, b->sectors, b->start, flushed ? "flushed" : "no flush feature", mode,
               virtio_has(&b->v, VIRTIO_F_INDIRECT_DESC) ? "indirect" : "direct",
               virtio_has(&b->v, VIRTIO_F_EVENT_IDX) ? ", event_idx" : "", q->completions, q->kicks,
               q->msi >= 0 ? kit_msi_count[q->msi] : 0);
    return 0;
}

/* ---- blk.bench=MiB: throughput and per-request latency at CPL3 ---- */

#define BENCH_CHUNK 65536
#define BENCH_MAX_DEPTH 32

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (u64)hi << 32 | lo;
}

/* TSC cycles per second, from 20 PIT ticks (200 ms). */
static u64 calibrate(u64 unused)
{
    (void)unused;
    u64 t = ticks;
    while (ticks == t)
        cpu_relax();
    u64 c0 = rdtsc(), t0 = ticks;
    while (ticks < t0 + 20)
        cpu_relax();
    return (rdtsc() - c0) * 5;
}

struct bench {
    struct blk *b;
    u64 bytes, depth, tsc_hz;
    u8 *bufs;
    u32 type;
    u64 cycles, lat_sum, lat_max, requests;
};

static u64 bench_pass(u64 arg)
{
    struct bench *k = (struct bench *)arg;
    struct blk *b = k->b;
    struct virtq *q = &b->v.vq[0];
    u64 start[BENCH_MAX_DEPTH];
    int free_slots[BENCH_MAX_DEPTH], nfree = 0;
    for (int i = (int)k->depth - 1; i >= 0; i--)
        free_slots[nfree++] = i;
    u64 nreq = k->bytes / BENCH_CHUNK, submitted = 0, done = 0;
    k->lat_sum = k->lat_max = 0;
    u64 t0 = rdtsc();
    while (done < nreq) {
        while (submitted < nreq && nfree) {
            int slot = free_slots[--nfree];
            u64 sector = b->start + submitted * (BENCH_CHUNK / SECTOR);
            if (queue_req(b, slot, k->type, sector, k->bufs + (u64)slot * BENCH_CHUNK, BENCH_CHUNK) < 0) {
                free_slots[nfree++] = slot;
                break;
            }
            start[slot] = rdtsc();
            submitted++;
        }
        vq_kick(q);
        struct blk_req *r = vq_wait(q, NULL, TIMEOUT_TICKS);
        while (r) {
            if (r->status != VIRTIO_BLK_S_OK) {
                kit_printf("virtio-blk: FAIL %s bench request answered %s\n", b->bdf, status_name(r->status));
                return 1;
            }
            int slot = (int)(r - b->reqs);
            u64 lat = rdtsc() - start[slot];
            k->lat_sum += lat;
            if (lat > k->lat_max)
                k->lat_max = lat;
            free_slots[nfree++] = slot;
            done++;
            r = vq_get(q, NULL);
        }
        if (done < nreq && nfree == 0) {
            kit_printf("virtio-blk: FAIL %s bench: no completion within %d s\n", b->bdf, TIMEOUT_TICKS / 100);
            return 1;
        }
    }
    k->cycles = rdtsc() - t0;
    k->requests = nreq;
    return 0;
}

static void bench(struct blk *b, u64 mib)
{
    static struct bench k;
    u64 depth = 8;
    kit_arg("blk.depth", &depth);
    if (depth < 1)
        depth = 1;
    if (depth > BENCH_MAX_DEPTH)
        depth = BENCH_MAX_DEPTH;
    k.b = b;
    k.bytes = mib << 20;
    k.depth = depth;
    if (b->start + k.bytes / SECTOR > b->capacity) {
        kit_printf("virtio-blk: FAIL %s bench: %lu MiB from sector %lu exceed the capacity %lu\n", b->bdf, mib, b->start,
                   b->capacity);
        return;
    }
    if (!k.bufs) {
        /* 0xbe everywhere, so the host can tell the bench's writes landed. */
        k.bufs = kit_alloc_dirty(BENCH_CHUNK * BENCH_MAX_DEPTH, 4096);
        memset(k.bufs, 0xbe, BENCH_CHUNK * BENCH_MAX_DEPTH);
        k.tsc_hz = kit_run_user(calibrate, 0);
    }
    static const u32 types[2] = { VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_IN };
    static const char *const names[2] = { "write", "read" };
    for (int i = 0; i < 2; i++) {
        if (b->ro && types[i] == VIRTIO_BLK_T_OUT)
            continue;
        k.type = types[i];
        if (kit_run_user(bench_pass, (u64)&k))
            return;
        u64 us = k.cycles / (k.tsc_hz / 1000000 ? k.tsc_hz / 1000000 : 1);
        kit_printf("virtio-blk: bench %s %s %lu MiB in 64 KiB requests, depth %lu: %lu ms, %lu MiB/s, latency avg %lu us max %lu us "
                   "(cpl3)\n",
                   b->bdf, names[i], mib, k.depth, us / 1000, us ? mib * 1000000 / us : 0,
                   k.lat_sum / k.requests / (k.tsc_hz / 1000000 ? k.tsc_hz / 1000000 : 1),
                   k.lat_max / (k.tsc_hz / 1000000 ? k.tsc_hz / 1000000 : 1));
    }
}

static struct blk disks[8];

void kit_main(void)
{
    kit_puts("virtio-blk: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    bool user = kit_flag("kit.user");
    if (user)
        kit_user_init();
    u64 start = 1, sectors = 16, seed = 0;
    kit_arg("blk.start", &start);
    kit_arg("blk.sectors", &sectors);
    kit_arg("blk.seed", &seed);

    int found = 0, passed = 0;
    struct pci_dev *pci;
    while (found < (int)ARRAY_SIZE(disks) && (pci = virtio_find(VIRTIO_ID_BLOCK, found))) {
        struct blk *b = &disks[found++];
        b->bdf = pci_bdf(pci);
        b->start = start;
        b->sectors = sectors;
        b->seed = seed;
        if (virtio_init(&b->v, pci,
                        1UL << VIRTIO_BLK_F_RO | 1UL << VIRTIO_BLK_F_FLUSH | 1UL << VIRTIO_BLK_F_BLK_SIZE |
                            1UL << VIRTIO_BLK_F_SEG_MAX | 1UL << VIRTIO_BLK_F_SIZE_MAX,
                        "virtio-blk") < 0)
            continue;
        if (virtio_setup_queue(&b->v, 0, 128, "virtio-blk") < 0)
            continue;
        virtio_driver_ok(&b->v);
        b->ro = virtio_has(&b->v, VIRTIO_BLK_F_RO);
        b->capacity = virtio_config64(&b->v, 0);
        b->reqs = kit_alloc(sizeof(struct blk_req) * b->v.vq[0].size, 16);
        b->out = kit_alloc_dirty(ALIGN_UP(sectors * SECTOR, 4096) + 4096, 4096);
        b->in = kit_alloc_dirty(ALIGN_UP(sectors * SECTOR, 4096) + 4096, 4096);
        u64 failed = user ? kit_run_user(exercise, (u64)b) : exercise((u64)b);
        if (!failed)
            passed++;
        u64 mib;
        if (!failed && kit_arg("blk.bench", &mib) && mib)
            bench(b, mib);
        virtio_reset(&b->v);
    }
    if (!found)
        kit_printf("virtio-blk: FAIL no virtio-blk device among %d PCI functions\n", n);
    else
        kit_printf("virtio-blk: done, %d of %d devices passed\n", passed, found);
}
