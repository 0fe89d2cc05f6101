/* CPL3 for heavy loops: guest user mode runs natively on this software KVM, kernel mode is
 * emulated (NOTES.md "KVM here"). The kit marks every page user-accessible (no isolation is
 * wanted: user code drives devices too), adds user segments and a TSS whose RSP0 receives
 * interrupts taken at CPL3, and returns to CPL0 through an int $0x80 gate of DPL 3 (or the #UD
 * that this host's KVM raises for that instruction instead, entry.s kit_user_ud). */
#include "kit.h"

#define USER_RETURN_VECTOR 0x80

extern u8 gdt[];
extern void kit_user_return(void);
u64 kit_run_user_asm(u64 (*fn)(u64), u64 arg, u64 stack_top);

struct __attribute__((packed)) gdtr { u16 limit; u64 base; };

static u64 kit_gdt[8] __attribute__((aligned(16)));
static u8 tss[104] __attribute__((aligned(16)));
static u64 user_stack_top;
static bool ready;

static void mark_user(u64 *table, int level)
{
    for (int i = 0; i < 512; i++) {
        if (!(table[i] & 1))
            continue;
        table[i] |= 4;
        if (level > 1 && !(table[i] & 0x80))
            mark_user((u64 *)(table[i] & 0x000FFFFFFFFFF000UL), level - 1);
    }
}

void kit_user_init(void)
{
    if (ready)
        return;
    /* 0x00-0x18 as common.s has them (its code uses those selectors), then user data 0x20,
     * user code64 0x28 and the 16-byte TSS descriptor at 0x30. */
    memcpy(kit_gdt, gdt, 4 * 8);
    kit_gdt[4] = 0x00CFF2000000FFFFUL;
    kit_gdt[5] = 0x00AFFA000000FFFFUL;
    u64 base = (u64)tss;
    u64 limit = sizeof tss - 1;
    kit_gdt[6] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89UL << 40 | ((limit >> 16) & 0xF) << 48 |
                 ((base >> 24) & 0xFF) << 56;
    kit_gdt[7] = base >> 32;
    u8 *rsp0 = kit_alloc_dirty(16384, 16);
    *(u64 *)(tss + 4) = (u64)rsp0 + 16384;
    *(u16 *)(tss + 102) = sizeof tss; /* no I/O bitmap: IOPL 3 grants the ports */
    struct gdtr g = { sizeof kit_gdt - 1, (u64)kit_gdt };
    __asm__ volatile("lgdt %0" : : "m"(g) : "memory");
    __asm__ volatile("ltr %w0" : : "r"(0x30));

    mark_user((u64 *)pml4, 4);
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" : : : "rax", "memory");

    kit_set_gate(USER_RETURN_VECTOR, kit_user_return, 3);
    user_stack_top = (u64)kit_alloc_dirty(65536, 16) + 65536;
    ready = true;
}

u64 kit_run_user(u64 (*fn)(u64), u64 arg)
{
    kit_user_init();
    return kit_run_user_asm(fn, arg, user_stack_top);
}
