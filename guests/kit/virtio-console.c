/* virtio-console scenario: writes a line to port 0 (hvc0) through the transmit queue, and with
 * VIRTIO_CONSOLE_F_EMERG_WRITE also a second line through emerg_wr. MULTIPORT is not
 * negotiated, so queue 0 receives and queue 1 transmits for port 0 (virtio spec 5.3.2). */
#include "kit.h"

#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define TIMEOUT_TICKS 1000

static const char line[] = "virtio-console: hello on hvc0\n";
static const char emerg[] = "virtio-console: emergency write\n";

void kit_main(void)
{
    kit_puts("virtio-console: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(VIRTIO_ID_CONSOLE, 0);
    if (!pci) {
        kit_printf("virtio-console: FAIL no virtio-console device among %d PCI functions\n", n);
        return;
    }
    static struct virtio_dev v;
    if (virtio_init(&v, pci, 1UL << VIRTIO_CONSOLE_F_SIZE | 1UL << VIRTIO_CONSOLE_F_EMERG_WRITE, "virtio-console") < 0 ||
        virtio_setup_queue(&v, 0, 64, "virtio-console") < 0 || virtio_setup_queue(&v, 1, 64, "virtio-console") < 0)
        return;
    virtio_driver_ok(&v);
    if (virtio_has(&v, VIRTIO_CONSOLE_F_SIZE))
        kit_printf("virtio-console: %s size %ux%u\n", pci_bdf(pci), virtio_config8(&v, 0) | virtio_config8(&v, 1) << 8,
                   virtio_config8(&v, 2) | virtio_config8(&v, 3) << 8);
    u8 *buf = kit_alloc(sizeof line, 16);
    memcpy(buf, line, sizeof line - 1);
    struct vbuf b = { (u64)buf, sizeof line - 1, false };
    struct virtq *tx = &v.vq[1];
    vq_add(tx, &b, 1, buf);
    vq_kick(tx);
    if (!vq_wait(tx, NULL, TIMEOUT_TICKS)) {
        kit_printf("virtio-console: FAIL %s transmit queue: no completion within %d s\n", pci_bdf(pci), TIMEOUT_TICKS / 100);
        return;
    }
    kit_printf("virtio-console: ok %s wrote %u bytes to hvc0\n", pci_bdf(pci), (unsigned)(sizeof line - 1));
    if (virtio_has(&v, VIRTIO_CONSOLE_F_EMERG_WRITE)) {
        for (const char *p = emerg; *p; p++)
            mmio_write32(v.device + 8, (u8)*p);
        kit_printf("virtio-console: ok %s emergency write of %u bytes\n", pci_bdf(pci), (unsigned)(sizeof emerg - 1));
    }
}
