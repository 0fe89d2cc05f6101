/* virtio-rng scenario: reads rng.bytes (default 4096) from the first virtio-rng device through
 * device-writable buffers, then prints the count, a hex sample and how many distinct byte
 * values arrived (random data of 4 KiB shows nearly all 256). */
#include "kit.h"

#define TIMEOUT_TICKS 1000
#define CHUNK 1024

void kit_main(void)
{
    kit_puts("virtio-rng: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(VIRTIO_ID_RNG, 0);
    if (!pci) {
        kit_printf("virtio-rng: FAIL no virtio-rng device among %d PCI functions\n", n);
        return;
    }
    static struct virtio_dev v;
    if (virtio_init(&v, pci, 0, "virtio-rng") < 0 || virtio_setup_queue(&v, 0, 64, "virtio-rng") < 0)
        return;
    virtio_driver_ok(&v);
    u64 want = 4096;
    kit_arg("rng.bytes", &want);
    u8 *buf = kit_alloc(ALIGN_UP(want, 4096) + CHUNK, 4096);
    u64 got = 0, requests = 0;
    struct virtq *q = &v.vq[0];
    while (got < want) {
        u32 ask = want - got < CHUNK ? (u32)(want - got) : CHUNK;
        struct vbuf b = { (u64)(buf + got), ask, true };
        vq_add(q, &b, 1, buf + got);
        vq_kick(q);
        u32 len = 0;
        if (!vq_wait(q, &len, TIMEOUT_TICKS)) {
            kit_printf("virtio-rng: FAIL %s no completion within %d s after %lu bytes\n", pci_bdf(pci),
                       TIMEOUT_TICKS / 100, got);
            return;
        }
        if (len > ask) {
            kit_printf("virtio-rng: FAIL %s used length %u exceeds the %u-byte buffer\n", pci_bdf(pci), len, ask);
            return;
        }
        got += len;
        requests++;
    }
    static u8 seen[256];
    int distinct = 0;
    for (u64 i = 0; i < got; i++)
        if (!seen[buf[i]]++)
            distinct++;
    kit_printf("virtio-rng: %s read %lu bytes in %lu requests, %d distinct byte values\n", pci_bdf(pci), got, requests,
               distinct);
    kit_hexdump_line("virtio-rng: sample ", buf, got < 16 ? got : 16);
    if (distinct < (got >= 1024 ? 128 : 2))
        kit_printf("virtio-rng: FAIL only %d distinct byte values in %lu bytes\n", distinct, got);
    else
        kit_printf("virtio-rng: ok %lu bytes\n", got);
    virtio_reset(&v);
}
