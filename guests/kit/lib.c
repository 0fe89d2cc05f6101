/* The kit's C runtime: memory and string helpers, printing on COM1, the PVH command line and
 * memory map, a bump allocator, page mapping above 4 GiB, the PIT and the MSI vectors. */
#include "kit.h"

#define va_list __builtin_va_list
#define va_start __builtin_va_start
#define va_arg __builtin_va_arg
#define va_end __builtin_va_end

/* ---- memory and strings (gcc may emit calls to the first four) ---- */

void *memset(void *d, int c, size_t n)
{
    u8 *p = d;
    if (((u64)p & 7) == 0 && (n & 7) == 0) {
        /* rep stosq: an eighth of the iterations, which matters at emulated CPL0. */
        u64 v = (u8)c * 0x0101010101010101UL;
        size_t q = n / 8;
        __asm__ volatile("rep stosq" : "+D"(p), "+c"(q) : "a"(v) : "memory");
        return d;
    }
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *r = d;
    if ((((u64)d | (u64)s | n) & 7) == 0) {
        size_t q = n / 8;
        __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
        return r;
    }
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return r;
}

void *memmove(void *d, const void *s, size_t n)
{
    u8 *dp = d;
    const u8 *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (u8)a[i] < (u8)b[i] ? -1 : 1;
        if (!a[i])
            return 0;
    }
    return 0;
}

/* ---- COM1 ---- */

void kit_putc(int c)
{
    /* common.s putc: argument in %rdi, every register but %rax preserved. */
    __asm__ volatile("call putc" : : "D"((u64)(u8)c) : "rax", "memory", "cc");
}

void kit_puts(const char *s)
{
    while (*s)
        kit_putc(*s++);
}

struct sink { char *buf; size_t size, len; };

static void sink_put(struct sink *k, char c)
{
    if (k->buf) {
        if (k->len + 1 < k->size)
            k->buf[k->len] = c;
    } else {
        kit_putc(c);
    }
    k->len++;
}

static void format(struct sink *k, const char *fmt, va_list ap)
{
    static const char digits[] = "0123456789abcdef";
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            sink_put(k, *fmt);
            continue;
        }
        fmt++;
        bool zero = false, left = false;
        for (;; fmt++) {
            if (*fmt == '0')
                zero = true;
            else if (*fmt == '-')
                left = true;
            else
                break;
        }
        int width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        int lng = 0;
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        char tmp[24];
        const char *s = tmp;
        int n = 0;
        bool neg = false;
        u64 v;
        unsigned base = 10;
        switch (*fmt) {
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            n = 1;
            break;
        case 's':
            s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            n = (int)strlen(s);
            break;
        case 'p':
            v = (u64)va_arg(ap, void *);
            base = 16;
            sink_put(k, '0');
            sink_put(k, 'x');
            goto number;
        case 'd':
        case 'i': {
            i64 sv = lng ? va_arg(ap, i64) : va_arg(ap, int);
            neg = sv < 0;
            v = neg ? -(u64)sv : (u64)sv;
            goto number;
        }
        case 'x':
            base = 16;
            /* fall through */
        case 'u':
            v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned);
        number: {
            char *e = tmp + sizeof tmp;
            char *p = e;
            do {
                *--p = digits[v % base];
                v /= base;
            } while (v);
            if (neg)
                *--p = '-';
            s = p;
            n = (int)(e - p);
            break;
        }
        case '%':
            tmp[0] = '%';
            n = 1;
            break;
        default:
            tmp[0] = '%';
            tmp[1] = *fmt;
            n = 2;
            if (!*fmt)
                return;
            break;
        }
        if (!left)
            for (int i = n; i < width; i++)
                sink_put(k, zero ? '0' : ' ');
        for (int i = 0; i < n; i++)
            sink_put(k, s[i]);
        if (left)
            for (int i = n; i < width; i++)
                sink_put(k, ' ');
    }
}

int kit_printf(const char *fmt, ...)
{
    struct sink k = { 0 };
    va_list ap;
    va_start(ap, fmt);
    format(&k, fmt, ap);
    va_end(ap);
    return (int)k.len;
}

int kit_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    struct sink k = { buf, size, 0 };
    va_list ap;
    va_start(ap, fmt);
    format(&k, fmt, ap);
    va_end(ap);
    if (size)
        buf[k.len < size ? k.len : size - 1] = 0;
    return (int)k.len;
}

void kit_hexdump_line(const char *prefix, const void *p, size_t n)
{
    const u8 *b = p;
    kit_puts(prefix);
    for (size_t i = 0; i < n; i++)
        kit_printf("%02x", b[i]);
    kit_putc('\n');
}

/* ---- PVH start info (Xen public/arch-x86/hvm/start_info.h) ---- */

#define HVM_START_MAGIC 0x336ec578

static const u8 *start_info(void)
{
    const u8 *si = (const u8 *)(u64)pvh_start_info;
    if (!si || *(const u32 *)si != HVM_START_MAGIC)
        return NULL;
    return si;
}

const char *kit_cmdline(void)
{
    const u8 *si = start_info();
    const char *c = si ? (const char *)*(const u64 *)(si + 24) : NULL;
    return c ? c : "";
}

/* The token starting at p ends at a space or NUL. */
static bool token_is(const char *p, const char *name, size_t n)
{
    return strncmp(p, name, n) == 0;
}

static const char *find_word(const char *name, bool with_value)
{
    size_t n = strlen(name);
    const char *c = kit_cmdline();
    for (const char *p = c; *p; p++) {
        if (p != c && p[-1] != ' ')
            continue;
        if (!token_is(p, name, n))
            continue;
        char next = p[n];
        if (with_value ? next == '=' : (next == ' ' || next == 0 || next == '='))
            return p + n;
    }
    return NULL;
}

bool kit_arg(const char *name, u64 *value)
{
    const char *p = find_word(name, true);
    if (!p)
        return false;
    p++;
    u64 v = 0;
    unsigned base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        v = v * base + d;
    }
    *value = v;
    return true;
}

const char *kit_arg_str(const char *name)
{
    const char *p = find_word(name, true);
    return p ? p + 1 : NULL;
}

bool kit_flag(const char *name)
{
    return find_word(name, false) != NULL;
}

static u64 ram_end;

static u64 find_ram_end(void)
{
    const u8 *si = start_info();
    if (si && *(const u32 *)(si + 4) >= 1) {
        const u8 *map = (const u8 *)*(const u64 *)(si + 40);
        u32 entries = *(const u32 *)(si + 48);
        for (u32 i = 0; map && i < entries; i++) {
            const u8 *e = map + 24 * i;
            u64 addr = *(const u64 *)e, size = *(const u64 *)(e + 8);
            u32 type = *(const u32 *)(e + 16);
            if (type == 1 && addr <= 0x100000 && addr + size > 0x100000)
                return addr + size > 0xC0000000UL ? 0xC0000000UL : addr + size;
        }
    }
    return 32UL << 20; /* no map: assume the smallest VM the tests give */
}

u64 kit_ram_end(void)
{
    if (!ram_end)
        ram_end = find_ram_end();
    return ram_end;
}

/* ---- allocation and paging ---- */

extern u8 __bss_end[];
static u64 heap_next;

void *kit_alloc_dirty(size_t size, size_t align)
{
    if (!heap_next)
        heap_next = ALIGN_UP((u64)__bss_end, 4096);
    if (align < 8)
        align = 8;
    u64 p = ALIGN_UP(heap_next, align);
    if (p + size > kit_ram_end()) {
        kit_printf("kit: FAIL out of memory allocating %lu bytes (RAM ends at 0x%lx)\n", (u64)size, kit_ram_end());
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    heap_next = p + size;
    return (void *)p;
}

u64 kit_free_memory(void)
{
    if (!heap_next)
        heap_next = ALIGN_UP((u64)__bss_end, 4096);
    return kit_ram_end() > heap_next ? kit_ram_end() - heap_next : 0;
}

void *kit_alloc(size_t size, size_t align)
{
    void *p = kit_alloc_dirty(ALIGN_UP(size, 8), align);
    memset(p, 0, ALIGN_UP(size, 8));
    return p;
}

#define PTE_P 0x1UL
#define PTE_W 0x2UL
#define PTE_U 0x4UL
#define PTE_PWT 0x8UL
#define PTE_PCD 0x10UL
#define PTE_PS 0x80UL
#define PTE_ADDR 0x000FFFFFFFFFF000UL

static u64 *next_table(u64 *table, unsigned idx)
{
    if (!(table[idx] & PTE_P)) {
        u64 *t = kit_alloc(4096, 4096);
        table[idx] = (u64)t | PTE_P | PTE_W | PTE_U;
    }
    return (u64 *)(table[idx] & PTE_ADDR);
}

static void reload_cr3(void)
{
    u64 cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

void kit_map(u64 phys, u64 size)
{
    if (at_cpl3() || size == 0)
        return; /* mapping is CPL0 work; the scenarios map BARs before going to user mode */
    u64 *top = (u64 *)pml4;
    for (u64 a = phys & ~0x1FFFFFUL; a < phys + size; a += 0x200000) {
        u64 *pdpt = next_table(top, (unsigned)(a >> 39) & 511);
        u64 *pd = next_table(pdpt, (unsigned)(a >> 30) & 511);
        unsigned i = (unsigned)(a >> 21) & 511;
        if (!(pd[i] & PTE_P))
            pd[i] = a | PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT;
    }
    reload_cr3();
}

/* ---- IDT, PIT, MSI ---- */

struct __attribute__((packed)) idtr { u16 limit; u64 base; };
extern struct idtr idt_ptr;

void kit_set_gate(u32 vector, void (*handler)(void), int dpl)
{
    u8 *g = (u8 *)idt_ptr.base + 16 * vector;
    u64 h = (u64)handler;
    *(u16 *)(g + 0) = (u16)h;
    *(u16 *)(g + 2) = 0x08; /* CODE64_SEL */
    *(u16 *)(g + 4) = (u16)(0x8E00 | (dpl & 3) << 13);
    *(u16 *)(g + 6) = (u16)(h >> 16);
    *(u32 *)(g + 8) = (u32)(h >> 32);
    *(u32 *)(g + 12) = 0;
}

void kit_timer_start(u32 hz)
{
    __asm__ volatile("call timer_start" : : "D"((u64)hz) : "rax", "memory", "cc");
}

void kit_wait_tick(void)
{
    if (at_cpl3()) {
        u64 t = ticks;
        while (ticks == t)
            cpu_relax();
    } else {
        __asm__ volatile("sti; hlt" : : : "memory");
    }
}

volatile u64 kit_msi_count[KIT_MSI_VECTORS];
extern void (*const kit_msi_stubs[KIT_MSI_VECTORS])(void);
static int msi_next;

int kit_msi_vector_alloc(void)
{
    if (msi_next >= KIT_MSI_VECTORS)
        return -1;
    int n = msi_next++;
    kit_set_gate(KIT_MSI_VECTOR_BASE + (u32)n, kit_msi_stubs[n], 0);
    return n;
}

/* After kit_main: with the command-line word kit.poweroff, power off so a test's VMM exits.
 * Cloud Hypervisor's platform has the ACPI sleep control register at 0x600 (S5 = 0x34, as
 * poweroff.s); on QEMU q35 SeaBIOS puts the ICH9 PM block at 0x600, whose PM1a_CNT (0x604)
 * takes SLP_EN with SLP_TYP 0 (QEMU's _S5). Each write is harmless on the other machine. */
void kit_finish(void)
{
    if (!kit_flag("kit.poweroff"))
        return;
    kit_puts("kit: powering off\n");
    outb(0x600, 0x34);
    outw(0x604, 0x2000);
}

extern void (*const kit_exception_stubs[32])(void);
extern void kit_user_ud(void);

void kit_exception(u64 vector, const u64 *frame)
{
    u64 cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    kit_printf("guest: unexpected exception %lu at rip 0x%lx cpl %lu error 0x%lx rsp 0x%lx", vector, frame[1],
               frame[2] & 3, frame[0], frame[4]);
    if (vector == 14)
        kit_printf(" cr2 0x%lx", cr2);
    kit_putc('\n');
}

struct gp_regs {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 error, rip, cs, rflags, rsp, ss;
};

volatile u64 kit_gp_emulated;

/* Port I/O and cli/sti that faulted at CPL3 (entry.s kit_gp_stub): done here at CPL0, the
 * instruction skipped. Returns 0 for anything else, which is then reported. */
u64 kit_gp(struct gp_regs *r)
{
    if ((r->cs & 3) != 3)
        return 0;
    const u8 *ip = (const u8 *)r->rip;
    u32 len = 0, size = 4;
    if (ip[0] == 0x66) {
        size = 2;
        len = 1;
    }
    u8 op = ip[len++];
    u16 port = (u16)r->rdx;
    if (op == 0xE4 || op == 0xE5 || op == 0xE6 || op == 0xE7)
        port = ip[len++];
    if (op == 0xE4 || op == 0xE6 || op == 0xEC || op == 0xEE)
        size = 1;
    switch (op) {
    case 0xE4: case 0xE5: case 0xEC: case 0xED: {
        u64 v = size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
        u64 keep = size == 1 ? ~0xFFUL : size == 2 ? ~0xFFFFUL : 0; /* a 32-bit write zero-extends */
        r->rax = (r->rax & keep) | v;
        break;
    }
    case 0xE6: case 0xE7: case 0xEE: case 0xEF:
        if (size == 1)
            outb(port, (u8)r->rax);
        else if (size == 2)
            outw(port, (u16)r->rax);
        else
            outl(port, (u32)r->rax);
        break;
    case 0xFA:
        r->rflags &= ~0x200UL;
        break;
    case 0xFB:
        r->rflags |= 0x200UL;
        break;
    default:
        return 0;
    }
    r->rip += len;
    kit_gp_emulated++;
    return 1;
}

extern void kit_gp_stub(void);

/* Before kit_main: exceptions that say where they happened. */
void kit_init(void)
{
    for (u32 v = 0; v < 32; v++)
        kit_set_gate(v, v == 6 ? kit_user_ud : v == 13 ? kit_gp_stub : kit_exception_stubs[v], 0);
}
