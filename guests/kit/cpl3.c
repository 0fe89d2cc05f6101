/* cpl3: proves the kit's CPL3 runner and measures why it exists. The same counting loop runs at
 * CPL0 (executed by KVM's instruction emulator on this host) and at CPL3 (native), each timed
 * with the 100 Hz PIT; the user function's result comes back through the int $0x80 gate. */
#include "kit.h"

static u64 count(u64 n)
{
    u64 x = 0;
    for (u64 i = 0; i < n; i++) {
        x += i;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

static u64 user_count(u64 n)
{
    if (!at_cpl3())
        return 0;
    return count(n);
}

static u64 user_hello(u64 unused)
{
    (void)unused;
    kit_printf("cpl3: hello from CPL%u\n", read_cs() & 3);
    return at_cpl3();
}

/* Runs fn until at least min_ticks passed; returns iterations per second. */
static u64 rate(u64 (*fn)(u64), u64 n, bool user, u64 *result)
{
    for (;;) {
        u64 t0 = ticks;
        *result = user ? kit_run_user(fn, n) : fn(n);
        u64 dt = ticks - t0;
        if (dt >= 20 || n >= (1UL << 40))
            return dt ? n * 100 / dt : 0;
        n *= 4;
    }
}

void kit_main(void)
{
    kit_puts("cpl3: start\n");
    kit_timer_start(100);
    kit_user_init();
    u64 r0, r3;
    u64 cpl0 = rate(count, 10000, false, &r0);
    u64 cpl3 = rate(user_count, 1000000, true, &r3);
    if (!r3) {
        kit_puts("cpl3: FAIL the user function did not run at CPL3\n");
        return;
    }
    kit_printf("cpl3: CPL0 %lu iterations/s, CPL3 %lu iterations/s\n", cpl0, cpl3);
    u64 before = kit_gp_emulated;
    if (!kit_run_user(user_hello, 0)) {
        kit_puts("cpl3: FAIL the printing function did not run at CPL3\n");
        return;
    }
    kit_printf("cpl3: ok port I/O at CPL3 (%lu accesses emulated after #GP)\n", kit_gp_emulated - before);
    kit_printf("cpl3: ok back at CPL%u with the user function's result (%s)\n", read_cs() & 3,
               kit_user_ud_returns ? "the int $0x80 at CPL3 raised #UD" : "through the int $0x80 gate");
}
