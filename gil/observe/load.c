/*
 * observe/load.c - load figures: held / wait fractions and their moving
 * averages.
 *
 * Layer: observe (calls core and platform only).
 *
 * Load figures come from counters the core keeps anyway: the timed hold
 * time (plus the hold in progress, gil->hold_t0), the total wait time of
 * contended acquisitions, and switch_number.  Nothing here runs on the
 * acquire/release fast path.  See gil.h ("Load figures") for what they mean
 * in each timing mode.
 *
 * Moving averages.  An exponential moving average with time constant tau,
 * advanced over dt at a constant rate r, becomes
 *     avg' = avg * e^(-dt/tau) + r * (1 - e^(-dt/tau)),
 * which is exact for any dt, so the averages need no periodic tick: they are
 * advanced whenever a figure is read, and by waiting threads (which wake up
 * every switch interval anyway) at most every GIL__LOAD_PERIOD_NS, so that
 * a contended GIL is sampled finely even if nobody reads the figures often.
 * The rate over [t, now] is the growth of the cumulative counter divided by
 * the elapsed time.  Cumulative values are kept non-decreasing: the racy
 * sum "completed holds + hold in progress" can transiently over-count by
 * one hold when it is read just as the hold ends.
 *
 * The state is updated under a try-lock: a thread that finds it taken
 * skips the update (the holder of the lock is doing it).  The lock word
 * carries the process's fork generation (core/fork.c), so that a lock held
 * by a thread that does not exist in a forked child can be taken over
 * there.
 */
#include "observe/observe.h"

#include <string.h>

static const uint64_t window_ns[GIL__LOAD_WINDOWS] = {1000000000u, 5000000000u, 15000000000u};

/* ------------------------------------------------------------------------ */
/* The try-lock                                                             */

static bool load_trylock(gil__load_t *l)
{
    uint64_t epoch = gil__fork_generation();
    uint64_t mine = (epoch << 1) | 1u, cur = 0;
    if (atomic_compare_exchange_strong_explicit(&l->lock, &cur, mine, memory_order_acquire,
                                                memory_order_relaxed))
        return true;
    if ((cur >> 1) == epoch)
        return false; /* another thread of this process is updating */
    /* Taken before a fork by a thread that does not exist here. */
    return atomic_compare_exchange_strong_explicit(&l->lock, &cur, mine, memory_order_acquire,
                                                   memory_order_relaxed);
}

static void load_unlock(gil__load_t *l)
{
    atomic_store_explicit(&l->lock, 0, memory_order_release);
}

/* ------------------------------------------------------------------------ */
/* Moving averages                                                          */

static double dbl_load(_Atomic uint64_t *bits)
{
    uint64_t b = atomic_load_explicit(bits, memory_order_relaxed);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void dbl_store(_Atomic uint64_t *bits, double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    atomic_store_explicit(bits, b, memory_order_relaxed);
}

/* e^-x for x >= 0, to ~1e-12 relative: e^-x = 2^-k e^-r with r in
 * [0, ln 2) and a Taylor series for e^-r.  Our own, so that the library
 * does not need libm (its link lines and gil.pc do not name it). */
static double exp_neg(double x)
{
    static const double ln2 = 0.69314718055994530942;
    if (!(x > 0.0))
        return 1.0;
    if (x > 745.0)
        return 0.0;
    int k = (int)(x / ln2);
    double r = x - k * ln2, term = 1.0, sum = 1.0;
    for (int i = 1; i <= 16; i++) {
        term *= -r / i;
        sum += term;
    }
    for (; k > 0; k--)
        sum *= 0.5;
    return sum;
}

double gil__ema_step(double avg, double rate, uint64_t dt_ns, uint64_t tau_ns)
{
    double decay = exp_neg((double)dt_ns / (double)tau_ns);
    return avg * decay + rate * (1.0 - decay);
}

void gil__load_init(gil_t *gil, uint64_t now)
{
    gil__load_t *l = &gil__obs(gil)->load;
    atomic_init(&l->lock, 0);
    atomic_init(&l->t, now);
    l->held = l->wait = l->switches = 0;
    for (int i = 0; i < GIL__LOAD_WINDOWS; i++) {
        dbl_store(&l->held_ema[i], 0.0);
        dbl_store(&l->wait_ema[i], 0.0);
    }
    dbl_store(&l->switch_rate, 0.0);
}

#define LOAD(g, field) atomic_load_explicit(&((gil_t *)(g))->field, memory_order_relaxed)

uint64_t gil__held_total(const gil_t *gil, uint64_t now)
{
    uint64_t held = LOAD(gil, hold_ns);
    uint64_t t0 = LOAD(gil, hold_t0);
    /* hold_t0 may be a waiter's stamp on a GIL that was just released: count
     * the hold in progress only while someone holds it. */
    if (t0 != 0 && now > t0 && gil__word_holder(LOAD(gil, word)) != NULL)
        held += now - t0;
    return held;
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

void gil__load_update(gil_t *gil, uint64_t now, bool force)
{
    gil__load_t *l = &gil__obs(gil)->load;
    uint64_t last = atomic_load_explicit(&l->t, memory_order_relaxed);
    if (now <= last || (!force && now - last < GIL__LOAD_PERIOD_NS))
        return;
    if (!load_trylock(l))
        return;
    last = atomic_load_explicit(&l->t, memory_order_relaxed);
    if (now > last) {
        uint64_t held = max_u64(l->held, gil__held_total(gil, now));
        uint64_t wait = max_u64(l->wait, LOAD(gil, wait_ns));
        uint64_t switches = max_u64(l->switches, LOAD(gil, switch_number));
        uint64_t dt = now - last;
        double r_held = (double)(held - l->held) / (double)dt;
        double r_wait = (double)(wait - l->wait) / (double)dt;
        double r_switch = (double)(switches - l->switches) * 1e9 / (double)dt;
        if (r_held > 1.0)
            r_held = 1.0; /* at most one holder: the excess is a read race */
        for (int i = 0; i < GIL__LOAD_WINDOWS; i++) {
            dbl_store(&l->held_ema[i], gil__ema_step(dbl_load(&l->held_ema[i]), r_held, dt, window_ns[i]));
            dbl_store(&l->wait_ema[i], gil__ema_step(dbl_load(&l->wait_ema[i]), r_wait, dt, window_ns[i]));
        }
        dbl_store(&l->switch_rate, gil__ema_step(dbl_load(&l->switch_rate), r_switch, dt, window_ns[0]));
        l->held = held;
        l->wait = wait;
        l->switches = switches;
        atomic_store_explicit(&l->t, now, memory_order_relaxed);
    }
    load_unlock(l);
}

static double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

void gil__load_fill(const gil_t *cgil, gil_stats_t *out)
{
    gil_t *gil = (gil_t *)cgil; /* the averages are a cache, advanced by readers */
    uint64_t now = gil__now_ns();
    gil__load_update(gil, now, true);
    uint64_t up = now > gil->created_ns ? now - gil->created_ns : 1;
    out->uptime_ns = up;
    out->held_ratio = clamp01((double)gil__held_total(gil, now) / (double)up);
    out->wait_ratio = (double)LOAD(gil, wait_ns) / (double)up;
    out->held_ratio_1s = dbl_load(&gil__obs(gil)->load.held_ema[0]);
    out->held_ratio_5s = dbl_load(&gil__obs(gil)->load.held_ema[1]);
    out->held_ratio_15s = dbl_load(&gil__obs(gil)->load.held_ema[2]);
    out->wait_ratio_1s = dbl_load(&gil__obs(gil)->load.wait_ema[0]);
    out->wait_ratio_5s = dbl_load(&gil__obs(gil)->load.wait_ema[1]);
    out->wait_ratio_15s = dbl_load(&gil__obs(gil)->load.wait_ema[2]);
    out->switches_per_sec = dbl_load(&gil__obs(gil)->load.switch_rate);
    out->watchdog_reports = atomic_load_explicit(&gil__obs(gil)->wd_reports, memory_order_relaxed);
}

void gil__load_fill_tstate(const gil_tstate_t *ts, gil_tstate_stats_t *out)
{
    const gil_t *gil = ts->gil;
    uint64_t now = gil__now_ns();
    uint64_t up = now > ts->created_ns ? now - ts->created_ns : 1;
    uint64_t held = out->hold_ns;
    uint64_t t0 = LOAD(gil, hold_t0);
    if (gil__word_holder(LOAD(gil, word)) == ts && t0 != 0 && now > t0)
        held += now - t0;
    out->id = gil_tstate_id(ts);
    out->held_ratio = clamp01((double)held / (double)up);
    out->wait_ratio = clamp01((double)out->wait_ns / (double)up);
}

