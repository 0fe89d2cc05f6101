/* virtio-pmem scenario (virtio spec 5.19): the device's region (config start/size) is guest
 * memory backed by a host file. The guest maps it, reads its first 16 bytes, writes the pattern
 * byte (offset * 7 + seed) & 0xff to pmem.bytes=N (8192) bytes from pmem.offset=O (4096), reads
 * them back, and asks the device to flush (VIRTIO_PMEM_REQ_TYPE_FLUSH on the request queue),
 * which must answer 0. pmem.seed=X (0). */
#include "kit.h"

#define VIRTIO_PMEM_REQ_TYPE_FLUSH 0
#define TIMEOUT_TICKS 1000

void kit_main(void)
{
    kit_puts("virtio-pmem: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(27, 0);
    if (!pci) {
        kit_printf("virtio-pmem: FAIL no virtio-pmem device among %d PCI functions\n", n);
        return;
    }
    const char *bdf = pci_bdf(pci);
    static struct virtio_dev v;
    if (virtio_init(&v, pci, 0, "virtio-pmem") < 0 || virtio_setup_queue(&v, 0, 16, "virtio-pmem") < 0)
        return;
    virtio_driver_ok(&v);
    u64 start = virtio_config64(&v, 0), size = virtio_config64(&v, 8);
    kit_printf("virtio-pmem: %s region 0x%lx size 0x%lx features 0x%lx\n", bdf, start, size, v.features);
    u64 off = 4096, bytes = 8192, seed = 0;
    kit_arg("pmem.offset", &off);
    kit_arg("pmem.bytes", &bytes);
    kit_arg("pmem.seed", &seed);
    if (!size || off + bytes > size) {
        kit_printf("virtio-pmem: FAIL %s %lu bytes at %lu do not fit the region of %lu bytes\n", bdf, bytes, off, size);
        return;
    }
    kit_map(start, size);
    volatile u8 *p = (volatile u8 *)start;
    u8 head[16];
    for (int i = 0; i < 16; i++)
        head[i] = p[i];
    kit_hexdump_line("virtio-pmem: region begins ", head, 16);
    for (u64 i = off; i < off + bytes; i++)
        p[i] = (u8)(i * 7 + seed);
    for (u64 i = off; i < off + bytes; i++)
        if (p[i] != (u8)(i * 7 + seed)) {
            kit_printf("virtio-pmem: FAIL %s byte %lu reads 0x%02x after writing 0x%02x\n", bdf, i, p[i], (u8)(i * 7 + seed));
            return;
        }
    u32 *req = kit_alloc(16, 16);
    req[0] = VIRTIO_PMEM_REQ_TYPE_FLUSH;
    req[2] = 0xFFFFFFFF;
    struct vbuf b[2] = { { (u64)req, 4, false }, { (u64)&req[2], 4, true } };
    vq_add(&v.vq[0], b, 2, req);
    vq_kick(&v.vq[0]);
    if (!vq_wait(&v.vq[0], NULL, TIMEOUT_TICKS)) {
        kit_printf("virtio-pmem: FAIL %s flush: no completion within %d s\n", bdf, TIMEOUT_TICKS / 100);
        return;
    }
    if (req[2] != 0) {
        kit_printf("virtio-pmem: FAIL %s flush answered %u\n", bdf, req[2]);
        return;
    }
    kit_printf("virtio-pmem: ok %s wrote %lu bytes at %lu, read back equal, flushed\n", bdf, bytes, off);
    virtio_reset(&v);
}
