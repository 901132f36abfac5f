/*
 * policy/cpython.c - GIL_POLICY_CPYTHON: CPython 3.13's take_gil/drop_gil.
 *
 * Layer: policy (calls core and platform only).
 *
 * The waiting protocol (see the notes in core.c for the lock word):
 *   - a waiter registers under gil->mu (nwaiters, the W bit), waits on
 *     the shared condvar (CPython's gil->cond) for one switch interval;
 *   - when the wait times out, the GIL is still held and switch_number did
 *     not move during the interval, it sets the holder's drop-request bit;
 *   - a release signals ONE waiter (not a broadcast: the others would only
 *     find the GIL taken and go back to sleep);
 *   - a release with a request pending waits for the switch
 *     (FORCE_SWITCHING, gil__wait_for_switch).
 * The protocol's helpers, shared with the other policies, are in waiter.c;
 * this file is the loop that puts them together the way CPython does.
 */
#include "policy/policy.h"

/* The wait loop of take_gil.  Called with gil->mu held and the caller
 * registered as a waiter.  With `not_before` != GIL__ANY_SWITCH the caller (a
 * yielder) does not take a free GIL until switch_number has moved past it:
 * another thread must have had the GIL first.  Returns 0 holding the GIL,
 * or GIL_ESHUTDOWN. */
static int cpython_wait(gil_t *gil, gil_tstate_t *ts, const gil__wait_req_t *req)
{
    uint64_t not_before = req->not_before;
    for (;;) {
        if (atomic_load_explicit(&gil->shutdown, memory_order_acquire))
            return GIL_ESHUTDOWN;
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        bool may_take = gil__may_take(gil, not_before);
        if (w == 0 && may_take) {
            if (gil__waiter_try_take(gil, ts))
                return 0;
            continue;
        }
        if (w == 0) {
            /* Free, but the thread we signalled has not taken it yet: wait
             * for its release (which signals one waiter) or a timeout. */
            gil__shared_cond_wait(gil, atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u);
            continue;
        }
        if (!gil__waiter_set_w(gil, w))
            continue;
        uint64_t switches = atomic_load_explicit(&gil->switch_number, memory_order_relaxed);
        uint64_t interval_ns = atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u;
        int timed_out = gil__shared_cond_wait(gil, interval_ns);
        gil__waiter_poll(gil, ts); /* may drop mu: everything is re-read below */
        /* CPython's rule: request a drop only if the whole interval passed
         * without a switch; otherwise the new holder gets its own interval. */
        w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        if (!timed_out || w == 0 || atomic_load_explicit(&gil->shutdown, memory_order_relaxed))
            continue;
        if (atomic_load_explicit(&gil->switch_number, memory_order_relaxed) == switches)
            gil__request_drop(gil, ts, w);
        else
            atomic_fetch_add_explicit(&gil->requests_withheld, 1, memory_order_relaxed);
    }
}

static int cpython_take(gil_t *gil, gil_tstate_t *ts)
{
    return gil__shared_cond_take(gil, ts, cpython_wait);
}

static void cpython_drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force)
{
    (void)why;
    uintptr_t old = gil__release_word_signal_one(gil);
    if (force && (old & GIL__W))
        gil__wait_for_switch(gil, ts);
}

static int cpython_yield(gil_t *gil, gil_tstate_t *ts)
{
    return gil__shared_cond_yield(gil, ts, cpython_wait);
}

const gil__policy_ops_t gil__policy_cpython = {
    .name = "cpython",
    .id = GIL_POLICY_CPYTHON,
    .flags = 0,
    .tstate_size = 0, /* no per-thread state: CPython keeps none either */
    .init = gil__shared_cond_init,
    .fini = gil__shared_cond_fini,
    .take = cpython_take,
    .drop = cpython_drop,
    .yield = cpython_yield,
    .check = NULL,
    .wake_all = gil__shared_cond_wake_all,
    .after_fork_child = gil__shared_cond_after_fork_child,
};
