/*
 * policy/legacy.c - GIL_POLICY_LEGACY: the GIL of Python <= 3.1.
 *
 * Layer: policy (calls core and platform only).
 *
 * No timed waits and no drop requests: waiters sleep until signalled.  The
 * holder counts check points ("ticks") and every `legacy_check_interval`
 * ticks releases the GIL, signals one waiter, and at once tries to take it
 * back; the woken waiter races it for the lock, and there is no handoff.
 * On one core the waiter usually runs next; on several cores the releasing
 * thread, already running, usually wins again, and the waiter goes back to
 * sleep having cost a wake-up: Beazley's result (2009), two CPU-bound threads
 * slower than one.
 *
 * Counting ticks costs the holder a slow check point, so it counts only
 * while someone waits: a waiter sets GIL__BREAK_POLICY on the holder, and
 * the holder keeps the bit while waiters are registered.  The real
 * Python 2 counted always; with nobody waiting its release/re-acquire was a
 * no-op apart from its cost.
 */
#include "policy/policy.h"

/* Per-thread state. */
typedef struct legacy_tstate {
    unsigned ticks; /* check points left before the next forced release [owner] */
} legacy_tstate_t;

static legacy_tstate_t *legacy_of(const gil_tstate_t *ts)
{
    return gil__policy_tstate(ts);
}

static void legacy_tstate_init(gil_t *gil, gil_tstate_t *ts)
{
    legacy_of(ts)->ticks = gil->config.legacy_check_interval;
}

/* Called with mu held by a registered waiter (see gil__wait_req_t for
 * not_before).  Returns 0 holding the GIL, or GIL_ESHUTDOWN. */
static int legacy_wait(gil_t *gil, gil_tstate_t *ts, const gil__wait_req_t *req)
{
    uint64_t not_before = req->not_before;
    for (;;) {
        if (atomic_load_explicit(&gil->shutdown, memory_order_acquire))
            return GIL_ESHUTDOWN;
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        if (w == 0 && !gil__may_take(gil, not_before)) {
            /* A yielder: the thread it woke has not taken the GIL yet. */
            gil__shared_cond_wait(gil, atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u);
            continue;
        }
        if (w == 0) {
            if (!gil__waiter_try_take(gil, ts))
                continue;
            if (gil->nwaiters > 1)
                gil__breaker_set(ts, GIL__BREAK_POLICY); /* others wait: count ticks */
            return 0;
        }
        if (!gil__waiter_set_w(gil, w))
            continue;
        gil__breaker_set(gil__word_holder(w), GIL__BREAK_POLICY);
        gil__shared_cond_wait(gil, 0);
    }
}

static int legacy_take(gil_t *gil, gil_tstate_t *ts)
{
    return gil__shared_cond_take(gil, ts, legacy_wait);
}

static void legacy_drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force)
{
    (void)ts;
    (void)why;
    (void)force; /* no drop requests, so nothing to force */
    gil__release_word_signal_one(gil);
}

static bool anyone_waits(gil_t *gil)
{
    return atomic_load_explicit(&gil->waiting_now, memory_order_seq_cst) != 0;
}

/* The tick: every N check points while someone waits, release and race.
 * "Someone waits" is a registered waiter, not the W bit: a waiter that was
 * woken and lost the race has not set W again yet (a wake-up takes tens of
 * microseconds, 100 ticks a few), and Python 2 kept ticking regardless. */
static int legacy_check(gil_t *gil, gil_tstate_t *ts)
{
    legacy_tstate_t *lt = legacy_of(ts);
    if (--lt->ticks > 0)
        return 0;
    lt->ticks = gil->config.legacy_check_interval;
    if (!anyone_waits(gil)) {
        /* Stop counting.  A waiter registers before it sets the bit, so
         * look again after clearing. */
        gil__breaker_clear(ts, GIL__BREAK_POLICY);
        if (anyone_waits(gil))
            gil__breaker_set(ts, GIL__BREAK_POLICY);
        return 0;
    }
    gil__drop(gil, ts, GIL_REASON_POLICY);
    int rc = gil__take(gil, ts);
    if (rc == 0 && anyone_waits(gil))
        gil__breaker_set(ts, GIL__BREAK_POLICY);
    return rc;
}

/* A yielding thread counts as a waiter before it lets go (OCaml #2112). */
static int legacy_yield(gil_t *gil, gil_tstate_t *ts)
{
    return gil__shared_cond_yield(gil, ts, legacy_wait);
}

const gil__policy_ops_t gil__policy_legacy = {
    .name = "legacy",
    .id = GIL_POLICY_LEGACY,
    .flags = 0,
    .tstate_size = sizeof(legacy_tstate_t),
    .init = gil__shared_cond_init,
    .fini = gil__shared_cond_fini,
    .tstate_init = legacy_tstate_init,
    .take = legacy_take,
    .drop = legacy_drop,
    .yield = legacy_yield,
    .check = legacy_check,
    .wake_all = gil__shared_cond_wake_all,
    .after_fork_child = gil__shared_cond_after_fork_child,
};
