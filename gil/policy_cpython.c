/*
 * policy_cpython.c - GIL_POLICY_CPYTHON: CPython 3.13's take_gil/drop_gil.
 *
 * The waiting protocol (see the notes in core.c for the lock word):
 *   - a waiter registers under gil->mu (nwaiters, the W bit), waits on
 *     gil->cond for one switch interval;
 *   - when the wait times out, the GIL is still held and switch_number did
 *     not move during the interval, it sets the holder's drop-request bit;
 *   - a release signals ONE waiter (not a broadcast: the others would only
 *     find the GIL taken and go back to sleep);
 *   - a release with a request pending waits for the switch
 *     (FORCE_SWITCHING, gil__wait_for_switch).
 * The helpers here are shared with the policies that keep these rules.
 */
#include "internal.h"

/* Register the caller as a waiter.  Called with gil->mu held. */
void gil__waiter_enter(gil_t *gil)
{
    if (gil->nwaiters++ == 0)
        atomic_fetch_or_explicit(&gil->flags, GIL__F_WAITERS, memory_order_seq_cst);
    atomic_store_explicit(&gil->waiting_now, (uint64_t)gil->nwaiters, memory_order_relaxed);
    /* Time the current hold from now on if it was not timed (it started
     * uncontended); see "Statistics without a clock" in core.c. */
    uint64_t untimed = 0;
    atomic_compare_exchange_strong_explicit(&gil->hold_t0, &untimed, gil__now_ns(),
                                            memory_order_relaxed, memory_order_relaxed);
}

/* Called with gil->mu held. */
void gil__waiter_leave(gil_t *gil)
{
    if (--gil->nwaiters == 0)
        atomic_fetch_and_explicit(&gil->flags, ~GIL__F_WAITERS, memory_order_seq_cst);
    atomic_store_explicit(&gil->waiting_now, (uint64_t)gil->nwaiters, memory_order_relaxed);
}

/* Ask the holder named by word w to drop.  Called with gil->mu held by a
 * waiter whose interval expired without a switch; may drop and retake mu
 * (to run hooks), so the caller must re-read the GIL's state after it. */
void gil__request_drop(gil_t *gil, gil_tstate_t *waiter, uintptr_t w)
{
    gil_tstate_t *holder = gil__word_holder(w);
    if (holder == NULL)
        return;
    if (gil__breaker_load(holder) & GIL__BREAK_DROP)
        return; /* already asked, not yet honoured */
    uint64_t now = gil__now_ns();
    atomic_store_explicit(&gil->drop_t0, now, memory_order_relaxed);
    gil__breaker_set(holder, GIL__BREAK_DROP);
    atomic_fetch_add_explicit(&gil->drop_requests, 1, memory_order_relaxed);
    gil__counter_add(&waiter->drop_requests, 1);
    if (gil__observed(gil)) {
        /* Hooks never run under an internal mutex.  Our wait loop re-reads
         * everything after this, so letting go of mu here is safe. */
        gil__mutex_unlock(&gil->mu);
        gil__emit(gil, GIL_EVENT_DROP_REQUEST, waiter, holder, now, 0, GIL_REASON_RELEASE);
        gil__mutex_lock(&gil->mu);
    }
}

/* Try to take a free GIL.  Called with gil->mu held by a registered waiter.
 * Keeps W in the word when other waiters remain, so that the next release
 * wakes one of them.  Clears the taker's own stale drop request: no waiter can
 * set it while we hold mu. */
bool gil__waiter_try_take(gil_t *gil, gil_tstate_t *ts)
{
    uintptr_t expected = 0;
    uintptr_t mine = (uintptr_t)ts | (gil->nwaiters > 1 ? GIL__W : 0);
    if (!atomic_compare_exchange_strong_explicit(&gil->word, &expected, mine,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return false;
    gil__breaker_clear(ts, GIL__BREAK_DROP);
    return true;
}

/* Make sure the holder's release will come to wake us.  Returns false if the
 * word changed under us (retry). */
bool gil__waiter_set_w(gil_t *gil, uintptr_t w)
{
    if (w & GIL__W)
        return true;
    return atomic_compare_exchange_strong_explicit(&gil->word, &w, w | GIL__W,
                                                   memory_order_seq_cst, memory_order_relaxed);
}

bool gil__may_take(gil_t *gil, uint64_t not_before)
{
    return not_before == GIL__ANY_SWITCH ||
           atomic_load_explicit(&gil->switch_number, memory_order_acquire) != not_before;
}

/* The wait loop of take_gil.  Called with gil->mu held and the caller
 * registered as a waiter.  With `not_before` != GIL__ANY_SWITCH the caller (a
 * yielder) does not take a free GIL until switch_number has moved past it:
 * another thread must have had the GIL first.  Returns 0 holding the GIL,
 * or GIL_ESHUTDOWN. */
static int cpython_wait(gil_t *gil, gil_tstate_t *ts, uint64_t not_before)
{
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
            gil__cond_timedwait_ns(&gil->cond, &gil->mu,
                                   atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u);
            continue;
        }
        if (!gil__waiter_set_w(gil, w))
            continue;
        uint64_t switches = atomic_load_explicit(&gil->switch_number, memory_order_relaxed);
        uint64_t interval_ns = atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u;
        int timed_out = gil__cond_timedwait_ns(&gil->cond, &gil->mu, interval_ns);
        gil__watchdog_poll(gil, ts); /* may drop mu: everything is re-read below */
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

int gil__take_on_cond(gil_t *gil, gil_tstate_t *ts, gil__cond_wait_loop_fn wait)
{
    gil__mutex_lock(&gil->mu);
    gil__waiter_enter(gil);
    int rc = wait(gil, ts, GIL__ANY_SWITCH);
    gil__waiter_leave(gil);
    gil__mutex_unlock(&gil->mu);
    return rc;
}

static int cpython_take(gil_t *gil, gil_tstate_t *ts)
{
    return gil__take_on_cond(gil, ts, cpython_wait);
}

void gil__wait_for_switch(gil_t *gil, gil_tstate_t *ts)
{
    /* While blocked here ts may not be deleted (see gil_tstate_delete). */
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    /* Dekker pair with gil__set_holder_changed: announce, then look. */
    atomic_fetch_add_explicit(&gil->switch_waiters, 1, memory_order_seq_cst);
    gil__mutex_lock(&gil->switch_mu);
    while (atomic_load_explicit(&gil->last_holder, memory_order_seq_cst) == ts &&
           !atomic_load_explicit(&gil->shutdown, memory_order_relaxed))
        gil__cond_wait(&gil->switch_cond, &gil->switch_mu);
    gil__mutex_unlock(&gil->switch_mu);
    atomic_fetch_sub_explicit(&gil->switch_waiters, 1, memory_order_relaxed);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
}

/* Release the word and wake one waiter if any may sleep.  Returns the old
 * word. */
uintptr_t gil__release_word_signal_one(gil_t *gil)
{
    uintptr_t old = atomic_exchange_explicit(&gil->word, 0, memory_order_seq_cst);
    if (old & GIL__W) {
        gil__mutex_lock(&gil->mu);
        gil__cond_signal(&gil->cond);
        gil__mutex_unlock(&gil->mu);
    }
    return old;
}

static void cpython_drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force)
{
    (void)why;
    uintptr_t old = gil__release_word_signal_one(gil);
    if (force && (old & GIL__W))
        gil__wait_for_switch(gil, ts);
}

/* gil_yield with waiters: count ourselves as a waiter BEFORE letting go (OCaml
 * fix #2112), so that the thread we hand over to sees a waiter when it yields
 * in turn; then hand over and wait as an ordinary waiter that may not take
 * the GIL back before another thread has had it.  Waiting on gil->cond, not
 * on switch_cond, costs one wake-up per handover instead of two. */
int gil__yield_on_cond(gil_t *gil, gil_tstate_t *ts, gil__cond_wait_loop_fn wait)
{
    gil__mutex_lock(&gil->mu);
    gil__waiter_enter(gil);
    gil__mutex_unlock(&gil->mu);

    gil__yield_release_bookkeeping(gil, ts);
    uint64_t not_before = atomic_load_explicit(&gil->switch_number, memory_order_relaxed);
    uintptr_t old = gil__release_word_signal_one(gil);

    uint64_t t0 = gil__now_ns();
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    gil__mutex_lock(&gil->mu);
    int rc = wait(gil, ts, (old & GIL__W) ? not_before : GIL__ANY_SWITCH);
    gil__waiter_leave(gil);
    gil__mutex_unlock(&gil->mu);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    if (rc != 0)
        return rc;
    return gil__yield_acquired(gil, ts, t0);
}

static int cpython_yield(gil_t *gil, gil_tstate_t *ts)
{
    return gil__yield_on_cond(gil, ts, cpython_wait);
}

const gil__policy_ops_t gil__policy_cpython = {
    .name = "cpython",
    .id = GIL_POLICY_CPYTHON,
    .take = cpython_take,
    .drop = cpython_drop,
    .yield = cpython_yield,
    .check = NULL,
    .wake_all = NULL, /* waiters sleep on gil->cond, broadcast by gil_shutdown */
    .init = NULL,
    .fini = NULL,
    .after_fork_child = NULL,
};
