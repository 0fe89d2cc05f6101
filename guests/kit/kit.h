/*
 * The guest kit: a freestanding C library for the bundled scenario guests (guests/kit/README in
 * guests/README.md). Linked with common.s, which enters guest_main at CPL0 in long mode with the
 * low 4 GiB identity-mapped; entry.s switches to a larger stack and calls kit_main().
 *
 * CPL0 code is executed by KVM's instruction emulator here (NOTES.md "KVM here"): the kit uses
 * plain integer code (-mgeneral-regs-only), waits with hlt, and runs heavy loops at CPL3 through
 * kit_run_user(), where the guest runs natively.
 */
#ifndef KIT_H
#define KIT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((u64)(a) - 1))

/* ---- port I/O, MMIO, barriers ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u64 a) { return *(volatile u16 *)a; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }

/* x86 keeps stores in order and loads in order; only store->load needs a fence. A locked add
 * is that fence (as Linux's smp_mb) and, unlike mfence, the CPL0 emulator executes it. */
#define barrier() __asm__ volatile("" : : : "memory")
static inline void mb(void) { __asm__ volatile("lock addl $0, (%%rsp)" : : : "memory", "cc"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }

static inline u16 read_cs(void) { u16 cs; __asm__ volatile("mov %%cs, %0" : "=r"(cs)); return cs; }
static inline bool at_cpl3(void) { return (read_cs() & 3) == 3; }

/* ---- common.s ---- */
extern volatile u64 ticks;        /* PIT interrupts since timer_start */
extern u8 pml4[];
extern u32 pvh_start_info;
void set_gate(void);              /* asm ABI (%edi, %rsi): use kit_set_gate */
void kit_set_gate(u32 vector, void (*handler)(void), int dpl);

/* ---- lib.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

void kit_putc(int c);
void kit_puts(const char *s);
int kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kit_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kit_hexdump_line(const char *prefix, const void *p, size_t n);

/* The PVH command line: kit_arg("blk.sectors", &v) finds "blk.sectors=V" (decimal or 0x hex);
 * kit_flag("pci.allbuses") finds the bare word. */
const char *kit_cmdline(void);
bool kit_arg(const char *name, u64 *value);
bool kit_flag(const char *name);
const char *kit_arg_str(const char *name); /* the text after "name=", up to a space */

/* RAM from the PVH memory map (the region holding 1 MiB), and a bump allocator of zeroed,
 * identity-mapped memory above the image for rings and DMA buffers. */
u64 kit_ram_end(void);
void *kit_alloc(size_t size, size_t align);       /* zeroed */
void *kit_alloc_dirty(size_t size, size_t align); /* not zeroed (zeroing is slow at CPL0) */
u64 kit_free_memory(void);                        /* bytes left to the allocator */

/* Identity-map [phys, phys+size) uncached with 2 MiB pages (BARs above 4 GiB). */
void kit_map(u64 phys, u64 size);

void kit_timer_start(u32 hz);     /* PIT at hz, interrupts on */
void kit_wait_tick(void);         /* hlt at CPL0, pause at CPL3 */

/* The first MSI-X vector the kit hands out and the count of each. */
#define KIT_MSI_VECTOR_BASE 0x50
#define KIT_MSI_VECTORS 32
extern volatile u64 kit_msi_count[KIT_MSI_VECTORS];
int kit_msi_vector_alloc(void); /* index 0..KIT_MSI_VECTORS-1, or -1 */

/* ---- user.c: CPL3 ---- */
/* Runs fn(arg) at CPL3 (IOPL 3, interrupts on, every page user-accessible) on its own stack
 * and returns its result; the function returns to CPL0 with int $0x80 (a DPL3 gate), or the #UD
 * this host's KVM raises for it instead (counted in kit_user_ud_returns). */
extern u64 kit_user_ud_returns;
/* Port I/O (and cli/sti) at CPL3 that faulted and kit_gp did at CPL0: kvm_pvm ignores IOPL 3
 * in guest user mode, so there every port access from CPL3 costs a #GP round trip. */
extern volatile u64 kit_gp_emulated;
void kit_user_init(void);
u64 kit_run_user(u64 (*fn)(u64), u64 arg);

/* ---- pci.c ---- */
#define PCI_MAX_DEVS 64
struct pci_bar {
    u64 addr;
    u64 size;
    bool io, mem64, prefetch, assigned_by_kit;
};
struct pci_dev {
    u8 bus, dev, fn;
    u16 vendor, device, subsys_vendor, subsys;
    u32 class_rev;     /* class << 8 | revision */
    u8 header_type;
    u8 caps[48];       /* capability offsets in list order */
    u8 ncaps;
    u8 irq_pin;
    bool gone;         /* vanished at a pci_rescan (hot-unplugged); skipped by lookups */
    bool seen;         /* rescan bookkeeping */
    int parent;        /* index of the bridge in front of it, -1 on bus 0 */
    struct pci_bar bar[6];
};
extern struct pci_dev pci_devs[PCI_MAX_DEVS];
extern int pci_ndevs;

u32 pci_read32(const struct pci_dev *d, u8 off);
u16 pci_read16(const struct pci_dev *d, u8 off);
u8 pci_read8(const struct pci_dev *d, u8 off);
void pci_write32(const struct pci_dev *d, u8 off, u32 v);
void pci_write16(const struct pci_dev *d, u8 off, u16 v);
void pci_write8(const struct pci_dev *d, u8 off, u8 v);
int pci_enumerate(void);          /* fills pci_devs; returns the count */
/* Scans again: known functions are kept as they are (not re-probed), new ones appended (count
 * in *added), vanished ones flagged gone (count in *removed). For hot-plug. */
void pci_rescan(int *added, int *removed);
u8 pci_cap_id(const struct pci_dev *d, int i);
int pci_find_cap(const struct pci_dev *d, u8 id, int start); /* index into d->caps or -1 */
void pci_enable(const struct pci_dev *d); /* memory + I/O decode, bus master */
const char *pci_bdf(const struct pci_dev *d); /* "00:04.0" (static buffer rotated 4 ways) */

/* ---- virtio.c: virtio-pci modern transport and split virtqueues ---- */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
enum { VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_CONSOLE = 3, VIRTIO_ID_RNG = 4,
       VIRTIO_ID_BALLOON = 5, VIRTIO_ID_VSOCK = 19 };

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc { u64 addr; u32 len; u16 flags; u16 next; };
struct vring_avail { u16 flags; u16 idx; u16 ring[]; };
struct vring_used_elem { u32 id; u32 len; };
struct vring_used { u16 flags; u16 idx; struct vring_used_elem ring[]; };

struct vbuf { u64 addr; u32 len; bool write; /* device writes it */ };

#define VQ_MAX_SG 16
struct virtq {
    struct virtio_dev *vdev;
    u16 index, size;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    struct vring_desc *indirect;   /* size tables of VQ_MAX_SG descriptors, one per head */
    void **token;                  /* per head */
    u16 *chain_len;                /* per head: descriptors taken from the ring */
    u16 free_head, num_free, last_used, avail_shadow, kicked_at;
    u64 notify_addr;
    int msi;                       /* kit MSI index or -1 */
    u64 kicks, completions, notify_skipped;
};

struct virtio_dev {
    struct pci_dev *pci;
    u16 type;
    u64 common, isr, device, notify; /* MMIO addresses */
    u32 notify_mul;
    u64 device_features, features;
    u16 num_queues;
    u64 msix_table;                  /* 0 without MSI-X */
    u16 msix_size;
    int config_msi;
    struct virtq vq[4];
};

/* Device-type from the PCI ids, or 0 when not a modern virtio device. */
u16 virtio_pci_type(const struct pci_dev *d);
struct pci_dev *virtio_find(u16 type, int nth);
/* Reset, find the capabilities, negotiate (VERSION_1 | wanted, minus kit.noindirect /
 * kit.noeventidx), FEATURES_OK. Returns 0 or prints "<who>: FAIL ..." and returns -1. */
int virtio_init(struct virtio_dev *v, struct pci_dev *pci, u64 wanted, const char *who);
int virtio_setup_queue(struct virtio_dev *v, u16 index, u16 max_size, const char *who);
void virtio_driver_ok(struct virtio_dev *v);
u8 virtio_status(struct virtio_dev *v);
void virtio_reset(struct virtio_dev *v);
bool virtio_has(const struct virtio_dev *v, u32 bit);
/* Device config with the generation-count retry. */
void virtio_read_config(struct virtio_dev *v, u32 off, void *buf, u32 len);
u8 virtio_config8(struct virtio_dev *v, u32 off);
u32 virtio_config32(struct virtio_dev *v, u32 off);
u64 virtio_config64(struct virtio_dev *v, u32 off);

/* Queues one request (readable buffers first, then writable ones; the order bufs are given in);
 * -1 when the ring is full. Indirect when negotiated and n > 1. */
int vq_add(struct virtq *q, const struct vbuf *bufs, int n, void *token);
void vq_kick(struct virtq *q);
/* A finished request's token (and the bytes the device wrote), or NULL. */
void *vq_get(struct virtq *q, u32 *len);
/* vq_get with a bound: waits on interrupts / timer ticks up to timeout_ticks; NULL on timeout. */
void *vq_wait(struct virtq *q, u32 *len, u64 timeout_ticks);

/* ---- the scenario ---- */
void kit_main(void);
void kit_init(void);   /* entry.s calls it before kit_main */
void kit_finish(void); /* and this after */

#endif
