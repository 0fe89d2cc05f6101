/* memfill scenario: writes a known pattern over fill.mib MiB of RAM (16 by default) at CPL3,
 * then counts like `ticks` (4 lines a second on the PIT) and re-reads the whole pattern every
 * fill.check tick lines (4), so a restored or migrated guest proves its memory byte for byte.
 * Lines: `memfill: filled N MiB at 0xA seed 0xS`, `memfill: tick T`, `memfill: check T ok N MiB`
 * or `memfill: FAIL check T at 0xA: 0xV expected 0xE`. The 8-byte word at address a holds
 * (a * 0x9E3779B97F4A7C15) ^ seed (fill.seed, 0x5eed). With fill.churn=1 the guest keeps dirtying its
 * memory: after every PIT tick it adds 1 to the seed and rewrites the whole pattern, so a page a
 * migration failed to send again holds an old seed's word and the next check fails. */
#include "kit.h"

struct fill {
    u64 *base;
    u64 words;
    u64 seed;
    u64 bad;
};

static inline u64 pattern(const u64 *at, u64 seed) { return ((u64)at * 0x9E3779B97F4A7C15UL) ^ seed; }

static u64 do_fill(u64 arg)
{
    struct fill *f = (struct fill *)arg;
    for (u64 i = 0; i < f->words; i++)
        f->base[i] = pattern(&f->base[i], f->seed);
    return 0;
}

static u64 do_check(u64 arg)
{
    struct fill *f = (struct fill *)arg;
    for (u64 i = 0; i < f->words; i++) {
        if (f->base[i] != pattern(&f->base[i], f->seed)) {
            f->bad = i;
            return 1;
        }
    }
    return 0;
}

void kit_main(void)
{
    kit_puts("memfill: start\n");
    kit_timer_start(100);
    static struct fill f;
    u64 mib = 16, check = 4, churn = 0;
    f.seed = 0x5eed;
    kit_arg("fill.mib", &mib);
    kit_arg("fill.check", &check);
    kit_arg("fill.seed", &f.seed);
    kit_arg("fill.churn", &churn);
    f.base = kit_alloc_dirty(mib << 20, 4096);
    if (!f.base)
        return;
    f.words = (mib << 20) / 8;
    kit_run_user(do_fill, (u64)&f);
    kit_printf("memfill: filled %lu MiB at 0x%lx seed 0x%lx\n", mib, (u64)f.base, f.seed);
    for (u64 t = 1;; t++) {
        for (int i = 0; i < 25; i++) {
            kit_wait_tick();
            if (churn) {
                f.seed++;
                kit_run_user(do_fill, (u64)&f);
            }
        }
        kit_printf("memfill: tick %lu\n", t);
        if (check && t % check == 0) {
            if (kit_run_user(do_check, (u64)&f))
                kit_printf("memfill: FAIL check %lu at 0x%lx: 0x%lx expected 0x%lx\n", t, (u64)&f.base[f.bad], f.base[f.bad],
                           pattern(&f.base[f.bad], f.seed));
            else
                kit_printf("memfill: check %lu ok %lu MiB\n", t, mib);
        }
    }
}
