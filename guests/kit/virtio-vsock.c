/* virtio-vsock scenario (virtio spec 5.10, stream sockets): with vsock.listen=P (default 1234)
 * the guest accepts one host-initiated connection on port P (upstream's hybrid vsock: the host
 * writes "CONNECT P\n" to the Unix socket), sends its greeting, then echoes back every payload
 * until the host shuts the stream down or vsock.echoes=N (1) payloads were echoed. With
 * vsock.connect=P it instead connects to the host (CID 2) port P (upstream: the VMM connects to
 * <socket>_P), sends its greeting and waits for one payload. vsock.timeout=S (30).
 * Packets are a 44-byte header descriptor and a data descriptor, as Linux's driver lays them. */
#include "kit.h"

#define VSOCK_HOST_CID 2
#define VIRTIO_VSOCK_TYPE_STREAM 1
enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

struct __attribute__((packed)) vsock_hdr {
    u64 src_cid, dst_cid;
    u32 src_port, dst_port;
    u32 len;
    u16 type, op;
    u32 flags, buf_alloc, fwd_cnt;
};

#define RX_BUFS 16
#define DATA 4096
#define BUF_ALLOC 65536

static struct virtio_dev v;
static u64 guest_cid;
static const char *bdf;
static struct vsock_hdr *rx_hdr, *tx_hdr;
static u8 *rx_data, *tx_data;

/* The one connection. */
static u32 local_port, peer_port;
static u32 rx_cnt;                        /* bytes we consumed: our fwd_cnt */
static u32 tx_cnt, peer_buf_alloc, peer_fwd_cnt;
static bool connected, peer_shutdown;

static const char greeting[] = "hello from the kit over vsock\n";

static void post_rx(int i)
{
    struct vbuf b[2] = {
        { (u64)&rx_hdr[i], sizeof(struct vsock_hdr), true },
        { (u64)(rx_data + (u64)i * DATA), DATA, true },
    };
    vq_add(&v.vq[0], b, 2, (void *)(u64)(i + 1));
}

static bool send(u16 op, u32 flags, const void *payload, u32 len)
{
    struct vsock_hdr *h = tx_hdr;
    memset(h, 0, sizeof *h);
    h->src_cid = guest_cid;
    h->dst_cid = VSOCK_HOST_CID;
    h->src_port = local_port;
    h->dst_port = peer_port;
    h->len = len;
    h->type = VIRTIO_VSOCK_TYPE_STREAM;
    h->op = op;
    h->flags = flags;
    h->buf_alloc = BUF_ALLOC;
    h->fwd_cnt = rx_cnt;
    struct vbuf b[2] = { { (u64)h, sizeof *h, false }, { (u64)tx_data, len, false } };
    if (len)
        memcpy(tx_data, payload, len);
    vq_add(&v.vq[1], b, len ? 2 : 1, h);
    vq_kick(&v.vq[1]);
    if (!vq_wait(&v.vq[1], NULL, 1000)) {
        kit_printf("virtio-vsock: FAIL %s transmit queue: no completion within 10 s\n", bdf);
        return false;
    }
    if (op == OP_RW)
        tx_cnt += len;
    return true;
}

/* The next packet for us; its payload is copied to out (len in *len). NULL on timeout. */
static struct vsock_hdr *receive(u64 until, u8 *out, u32 *len)
{
    static struct vsock_hdr h;
    while (ticks < until) {
        u32 used = 0;
        void *t = vq_wait(&v.vq[0], &used, until - ticks);
        if (!t)
            return NULL;
        int i = (int)((u64)t - 1);
        h = rx_hdr[i];
        u32 n = h.len <= DATA && used >= sizeof h + h.len ? h.len : 0;
        if (n)
            memcpy(out, rx_data + (u64)i * DATA, n);
        post_rx(i);
        vq_kick(&v.vq[0]);
        *len = n;
        if (h.dst_cid != guest_cid || h.type != VIRTIO_VSOCK_TYPE_STREAM) {
            kit_printf("virtio-vsock: ignored a packet for cid %lu type %u op %u\n", h.dst_cid, h.type, h.op);
            continue;
        }
        peer_buf_alloc = h.buf_alloc;
        peer_fwd_cnt = h.fwd_cnt;
        return &h;
    }
    return NULL;
}

static bool credit_for(u32 len)
{
    return peer_buf_alloc - (tx_cnt - peer_fwd_cnt) >= len;
}

/* Sends payload as RW once the peer's credit allows it. */
static bool send_data(const void *p, u32 len, u64 until)
{
    static u8 scratch[DATA];
    while (!credit_for(len)) {
        u32 n;
        if (!send(OP_CREDIT_REQUEST, 0, NULL, 0))
            return false;
        struct vsock_hdr *h = receive(until, scratch, &n);
        if (!h) {
            kit_printf("virtio-vsock: FAIL %s no credit for %u bytes (peer buf_alloc %u fwd_cnt %u)\n", bdf, len,
                       peer_buf_alloc, peer_fwd_cnt);
            return false;
        }
    }
    return send(OP_RW, 0, p, len);
}

static void print_payload(const u8 *p, u32 n)
{
    kit_printf("virtio-vsock: received %u bytes: \"", n);
    for (u32 i = 0; i < n && i < 64; i++)
        kit_putc(p[i] >= 0x20 && p[i] < 0x7F ? p[i] : '.');
    kit_puts("\"\n");
}

static void serve(u64 until, u64 want)
{
    static u8 payload[DATA];
    u64 echoed = 0, bytes = 0;
    if (!send_data(greeting, sizeof greeting - 1, until))
        return;
    while (echoed < want && !peer_shutdown) {
        u32 n;
        struct vsock_hdr *h = receive(until, payload, &n);
        if (!h)
            break;
        if (h->src_port != peer_port || h->dst_port != local_port) {
            if (h->op == OP_REQUEST) {
                u32 keep = peer_port;
                peer_port = h->src_port;
                send(OP_RST, 0, NULL, 0); /* one connection only */
                peer_port = keep;
            }
            continue;
        }
        switch (h->op) {
        case OP_RW:
            rx_cnt += n;
            print_payload(payload, n);
            if (!send_data(payload, n, until))
                return;
            echoed++;
            bytes += n;
            break;
        case OP_CREDIT_REQUEST:
            send(OP_CREDIT_UPDATE, 0, NULL, 0);
            break;
        case OP_SHUTDOWN:
        case OP_RST:
            peer_shutdown = true;
            break;
        default:
            break;
        }
    }
    if (echoed < want && !peer_shutdown) {
        kit_printf("virtio-vsock: FAIL %s echoed %lu of %lu payloads before the timeout\n", bdf, echoed, want);
        return;
    }
    kit_printf("virtio-vsock: ok %s stream with cid 2 port %u: sent the greeting, echoed %lu payloads (%lu bytes)%s\n", bdf,
               peer_port, echoed, bytes, peer_shutdown ? ", the host shut it down" : "");
    if (!peer_shutdown)
        send(OP_SHUTDOWN, 3, NULL, 0);
    else
        send(OP_RST, 0, NULL, 0);
}

void kit_main(void)
{
    kit_puts("virtio-vsock: start\n");
    kit_timer_start(100);
    int n = pci_enumerate();
    struct pci_dev *pci = virtio_find(VIRTIO_ID_VSOCK, 0);
    if (!pci) {
        kit_printf("virtio-vsock: FAIL no virtio-vsock device among %d PCI functions\n", n);
        return;
    }
    bdf = pci_bdf(pci);
    if (virtio_init(&v, pci, 0, "virtio-vsock") < 0 || virtio_setup_queue(&v, 0, 64, "virtio-vsock") < 0 ||
        virtio_setup_queue(&v, 1, 64, "virtio-vsock") < 0 || virtio_setup_queue(&v, 2, 8, "virtio-vsock") < 0)
        return;
    guest_cid = virtio_config64(&v, 0);
    rx_hdr = kit_alloc(sizeof(struct vsock_hdr) * RX_BUFS, 64);
    rx_data = kit_alloc_dirty((u64)DATA * RX_BUFS, 4096);
    tx_hdr = kit_alloc(sizeof(struct vsock_hdr), 64);
    tx_data = kit_alloc_dirty(DATA, 4096);
    for (int i = 0; i < RX_BUFS; i++)
        post_rx(i);
    /* The event queue gets buffers too (5.10.6.1: TRANSPORT_RESET arrives there). */
    static u8 events[8][8];
    for (int i = 0; i < 8 && i < v.vq[2].size; i++) {
        struct vbuf b = { (u64)events[i], sizeof events[i], true };
        vq_add(&v.vq[2], &b, 1, events[i]);
    }
    virtio_driver_ok(&v);
    vq_kick(&v.vq[0]);
    vq_kick(&v.vq[2]);
    kit_printf("virtio-vsock: %s guest cid %lu features 0x%lx msix %s\n", bdf, guest_cid, v.features,
               v.vq[0].msi >= 0 ? "yes" : "no");

    u64 seconds = 30, want = 1, port;
    kit_arg("vsock.timeout", &seconds);
    kit_arg("vsock.echoes", &want);
    u64 until = ticks + seconds * 100;
    static u8 payload[DATA];
    u32 len;

    if (kit_arg("vsock.connect", &port)) {
        local_port = 49152;
        peer_port = (u32)port;
        if (!send(OP_REQUEST, 0, NULL, 0))
            return;
        struct vsock_hdr *h = receive(until, payload, &len);
        if (!h || h->op != OP_RESPONSE) {
            kit_printf("virtio-vsock: FAIL %s connect to cid 2 port %u: %s\n", bdf, peer_port,
                       !h ? "no answer" : h->op == OP_RST ? "refused (RST)" : "unexpected answer");
            return;
        }
        connected = true;
        kit_printf("virtio-vsock: connected to cid 2 port %u\n", peer_port);
        serve(until, want);
        return;
    }

    port = 1234;
    kit_arg("vsock.listen", &port);
    local_port = (u32)port;
    kit_printf("virtio-vsock: listening on port %u\n", local_port);
    while (!connected) {
        struct vsock_hdr *h = receive(until, payload, &len);
        if (!h) {
            kit_printf("virtio-vsock: FAIL %s no connection to port %u within %lu s\n", bdf, local_port, seconds);
            return;
        }
        if (h->op != OP_REQUEST)
            continue;
        peer_port = h->src_port;
        if (h->dst_port != local_port) {
            u32 keep = local_port;
            local_port = h->dst_port;
            send(OP_RST, 0, NULL, 0);
            local_port = keep;
            continue;
        }
        if (!send(OP_RESPONSE, 0, NULL, 0))
            return;
        connected = true;
        kit_printf("virtio-vsock: accepted a connection from cid %lu port %u\n", h->src_cid, peer_port);
    }
    serve(until, want);
}
