/* virtio-balloon scenario (virtio spec 5.5): the guest follows the device's num_pages. Pages
 * come from a pool of balloon.max=MiB (64, at most half the free RAM) set aside at start; inflating sends their PFNs on the
 * inflate queue, deflating on the deflate queue, 256 a request, and `actual` is updated after
 * each. Every time the balloon reaches a new target it prints it; after balloon.changes=N (2)
 * targets reached, or balloon.timeout=S (60) seconds, it stops. */
#include "kit.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define PFNS_PER_REQ 256
#define TIMEOUT_TICKS 1000

static struct virtio_dev v;
static const char *bdf;
static u8 *pool;
static u64 pool_pages, actual;
static u32 *pfns;

static bool move(struct virtq *q, u64 first, u64 count)
{
    for (u64 i = 0; i < count; i++)
        pfns[i] = (u32)(((u64)pool >> 12) + first + i);
    struct vbuf b = { (u64)pfns, (u32)(4 * count), false };
    vq_add(q, &b, 1, pfns);
    vq_kick(q);
    if (!vq_wait(q, NULL, TIMEOUT_TICKS)) {
        kit_printf("virtio-balloon: FAIL %s %s queue: no completion within %d s\n", bdf, q->index ? "deflate" : "inflate",
                   TIMEOUT_TICKS / 100);
        return false;
    }
    return true;
}

void kit_main(void)
{
    kit_puts("virtio-balloon: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(VIRTIO_ID_BALLOON, 0);
    if (!pci) {
        kit_printf("virtio-balloon: FAIL no virtio-balloon device among %d PCI functions\n", n);
        return;
    }
    bdf = pci_bdf(pci);
    if (virtio_init(&v, pci, 1UL << VIRTIO_BALLOON_F_MUST_TELL_HOST, "virtio-balloon") < 0 ||
        virtio_setup_queue(&v, 0, 16, "virtio-balloon") < 0 || virtio_setup_queue(&v, 1, 16, "virtio-balloon") < 0)
        return;
    virtio_driver_ok(&v);
    u64 half = kit_free_memory() / 2 >> 20;
    u64 max_mib = half < 64 ? half : 64, changes = 2, seconds = 60;
    kit_arg("balloon.max", &max_mib);
    kit_arg("balloon.changes", &changes);
    kit_arg("balloon.timeout", &seconds);
    pool_pages = max_mib << 8;
    pool = kit_alloc_dirty(pool_pages << 12, 4096);
    pfns = kit_alloc(4 * PFNS_PER_REQ, 16);
    mmio_write32(v.device + 4, 0);
    kit_printf("virtio-balloon: %s ready, pool %lu pages at 0x%lx, features 0x%lx\n", bdf, pool_pages, (u64)pool, v.features);

    u64 reached = 0, last = 0, until = ticks + seconds * 100;
    while (reached < changes && ticks < until) {
        u64 target = virtio_config32(&v, 0);
        if (target > pool_pages)
            target = pool_pages;
        if (target == actual) {
            if (target != last) {
                reached++;
                kit_printf("virtio-balloon: %s %s to %lu pages (%lu MiB)\n", bdf, target > last ? "inflated" : "deflated",
                           target, target >> 8);
                last = target;
            }
            kit_wait_tick();
            continue;
        }
        /* The balloon holds pool pages [0, actual): inflate from the top, deflate from the top. */
        if (target > actual) {
            u64 k = target - actual < PFNS_PER_REQ ? target - actual : PFNS_PER_REQ;
            if (!move(&v.vq[0], actual, k))
                return;
            actual += k;
        } else {
            u64 k = actual - target < PFNS_PER_REQ ? actual - target : PFNS_PER_REQ;
            if (!move(&v.vq[1], actual - k, k))
                return;
            actual -= k;
        }
        mmio_write32(v.device + 4, (u32)actual);
    }
    if (reached < changes)
        kit_printf("virtio-balloon: FAIL %s reached %lu of %lu targets within %lu s (num_pages %u, actual %lu)\n", bdf, reached,
                   changes, seconds, virtio_config32(&v, 0), actual);
    else
        kit_printf("virtio-balloon: ok %s followed %lu targets, %lu pages in the balloon now\n", bdf, reached, actual);
}
