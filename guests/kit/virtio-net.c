/* virtio-net scenario: the guest is a host on the link that answers. It announces itself with a
 * gratuitous ARP, then answers ARP requests for its address and ICMP echo requests to it, until
 * net.echoes=N (3) echo requests were answered or net.timeout=S (30) seconds passed.
 * net.ip=A.B.C.D (192.168.249.2, beside upstream's default host-side 192.168.249.1). Only MAC
 * and STATUS are negotiated: frames arrive whole after the 12-byte virtio_net_hdr_v1. */
#include "kit.h"

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define HDR 12      /* struct virtio_net_hdr_v1 (VERSION_1 always has num_buffers) */
#define BUF 2048
#define RX_BUFS 32
#define TIMEOUT_TICKS 1000

static struct virtio_dev v;
static u8 mac[6], ip[4];
static u8 *rx, *tx;
static u64 received, sent, ignored, arps, echoes;
static const char *bdf;

static u16 be16(const u8 *p) { return (u16)(p[0] << 8 | p[1]); }
static void put_be16(u8 *p, u16 x) { p[0] = (u8)(x >> 8); p[1] = (u8)x; }

static u16 checksum(const u8 *p, u32 n)
{
    u32 sum = 0;
    for (u32 i = 0; i + 1 < n; i += 2)
        sum += be16(p + i);
    if (n & 1)
        sum += (u32)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (u16)~sum;
}

static bool parse_ip(const char *s, u8 out[4])
{
    for (int i = 0; i < 4; i++) {
        u32 x = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            x = x * 10 + (u32)(*s++ - '0');
            digits++;
        }
        if (!digits || x > 255 || (i < 3 && *s++ != '.'))
            return false;
        out[i] = (u8)x;
    }
    return true;
}

static void post_rx(int i)
{
    struct vbuf b = { (u64)(rx + (u64)i * BUF), BUF, true };
    vq_add(&v.vq[0], &b, 1, (void *)(u64)(i + 1));
}

/* Sends the frame of len bytes at tx + HDR and waits until the device took it. */
static bool send(u32 len)
{
    memset(tx, 0, HDR);
    struct vbuf b = { (u64)tx, HDR + len, false };
    vq_add(&v.vq[1], &b, 1, tx);
    vq_kick(&v.vq[1]);
    if (!vq_wait(&v.vq[1], NULL, TIMEOUT_TICKS)) {
        kit_printf("virtio-net: FAIL %s transmit queue: no completion within %d s\n", bdf, TIMEOUT_TICKS / 100);
        return false;
    }
    sent++;
    return true;
}

static bool arp(u16 op, const u8 *dst_mac, const u8 *target_mac, const u8 *target_ip)
{
    u8 *f = tx + HDR;
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, mac, 6);
    put_be16(f + 12, 0x0806);
    put_be16(f + 14, 1);      /* Ethernet */
    put_be16(f + 16, 0x0800); /* IPv4 */
    f[18] = 6;
    f[19] = 4;
    put_be16(f + 20, op);
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, ip, 4);
    memcpy(f + 32, target_mac, 6);
    memcpy(f + 38, target_ip, 4);
    memset(f + 42, 0, 18); /* padded to the 60-byte minimum */
    return send(60);
}

static bool handle(const u8 *f, u32 len)
{
    static const u8 broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (len < 14 || (memcmp(f, mac, 6) != 0 && memcmp(f, broadcast, 6) != 0)) {
        ignored++;
        return true;
    }
    u16 type = be16(f + 12);
    if (type == 0x0806 && len >= 42 && be16(f + 20) == 1 && memcmp(f + 38, ip, 4) == 0) {
        const u8 *sender_ip = f + 28;
        if (!arp(2, f + 6, f + 22, sender_ip))
            return false;
        arps++;
        kit_printf("virtio-net: ARP reply to %u.%u.%u.%u\n", sender_ip[0], sender_ip[1], sender_ip[2], sender_ip[3]);
        return true;
    }
    if (type == 0x0800 && len >= 34) {
        const u8 *iph = f + 14;
        u32 ihl = (iph[0] & 0xF) * 4u, total = be16(iph + 2);
        if ((iph[0] >> 4) == 4 && ihl >= 20 && total >= ihl + 8 && 14 + total <= len && iph[9] == 1 &&
            memcmp(iph + 16, ip, 4) == 0 && iph[ihl] == 8 && checksum(iph, ihl) == 0 &&
            checksum(iph + ihl, total - ihl) == 0) {
            u8 *r = tx + HDR;
            memcpy(r, f + 6, 6);
            memcpy(r + 6, mac, 6);
            put_be16(r + 12, 0x0800);
            memcpy(r + 14, iph, total);
            u8 *rip = r + 14;
            memcpy(rip + 12, ip, 4);
            memcpy(rip + 16, iph + 12, 4);
            rip[8] = 64;
            put_be16(rip + 10, 0);
            put_be16(rip + 10, checksum(rip, ihl));
            u8 *icmp = rip + ihl;
            icmp[0] = 0; /* echo reply */
            put_be16(icmp + 2, 0);
            put_be16(icmp + 2, checksum(icmp, total - ihl));
            u32 out = 14 + total < 60 ? 60 : 14 + total;
            if (out > 14 + total)
                memset(r + 14 + total, 0, out - 14 - total);
            if (!send(out))
                return false;
            echoes++;
            kit_printf("virtio-net: echo reply to %u.%u.%u.%u id %u seq %u (%u bytes)\n", iph[12], iph[13], iph[14],
                       iph[15], be16(icmp + 4), be16(icmp + 6), total - ihl - 8);
            return true;
        }
    }
    ignored++;
    return true;
}

void kit_main(void)
{
    kit_puts("virtio-net: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(VIRTIO_ID_NET, 0);
    if (!pci) {
        kit_printf("virtio-net: FAIL no virtio-net device among %d PCI functions\n", n);
        return;
    }
    bdf = pci_bdf(pci);
    const char *ip_arg = kit_arg_str("net.ip");
    if (!parse_ip(ip_arg ? ip_arg : "192.168.249.2", ip)) {
        kit_printf("virtio-net: FAIL net.ip=%s is not an IPv4 address\n", ip_arg);
        return;
    }
    u64 want = 3, seconds = 30;
    kit_arg("net.echoes", &want);
    kit_arg("net.timeout", &seconds);
    if (virtio_init(&v, pci, 1UL << VIRTIO_NET_F_MAC | 1UL << VIRTIO_NET_F_STATUS, "virtio-net") < 0 ||
        virtio_setup_queue(&v, 0, 64, "virtio-net") < 0 || virtio_setup_queue(&v, 1, 64, "virtio-net") < 0)
        return;
    if (virtio_has(&v, VIRTIO_NET_F_MAC)) {
        virtio_read_config(&v, 0, mac, 6);
    } else {
        static const u8 fallback[6] = { 0x52, 0x54, 0x00, 0x6b, 0x69, 0x74 };
        memcpy(mac, fallback, 6);
    }
    rx = kit_alloc_dirty((u64)RX_BUFS * BUF, 4096);
    tx = kit_alloc(BUF, 4096);
    int posted = RX_BUFS < v.vq[0].size ? RX_BUFS : v.vq[0].size;
    for (int i = 0; i < posted; i++)
        post_rx(i);
    virtio_driver_ok(&v);
    vq_kick(&v.vq[0]);
    const char *link = "unknown";
    if (virtio_has(&v, VIRTIO_NET_F_STATUS))
        link = (virtio_config8(&v, 6) & VIRTIO_NET_S_LINK_UP) ? "up" : "down";
    kit_printf("virtio-net: %s mac %02x:%02x:%02x:%02x:%02x:%02x link %s ip %u.%u.%u.%u features 0x%lx msix %s\n", bdf,
               mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], link, ip[0], ip[1], ip[2], ip[3], v.features,
               v.vq[0].msi >= 0 ? "yes" : "no");

    static const u8 broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, zero[6] = { 0 };
    if (!arp(1, broadcast, zero, ip))
        return;
    kit_printf("virtio-net: sent a gratuitous ARP for %u.%u.%u.%u\n", ip[0], ip[1], ip[2], ip[3]);

    u64 until = ticks + seconds * 100;
    while (echoes < want && ticks < until) {
        u32 len = 0;
        void *t = vq_wait(&v.vq[0], &len, until - ticks);
        if (!t)
            break;
        int i = (int)((u64)t - 1);
        received++;
        bool ok = len > HDR ? handle(rx + (u64)i * BUF + HDR, len - HDR) : (ignored++, true);
        post_rx(i);
        vq_kick(&v.vq[0]);
        if (!ok)
            return;
    }
    if (echoes < want)
        kit_printf("virtio-net: FAIL %s answered %lu of %lu echo requests within %lu s (%lu frames received, %lu ARP replies)\n",
                   bdf, echoes, want, seconds, received, arps);
    else
        kit_printf("virtio-net: ok %s answered %lu ARP requests and %lu echo requests (%lu frames received, %lu sent, %lu ignored, "
                   "%lu rx interrupts)\n",
                   bdf, arps, echoes, received, sent, ignored, v.vq[0].msi >= 0 ? kit_msi_count[v.vq[0].msi] : 0);
    virtio_reset(&v);
}
