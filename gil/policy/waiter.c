/*
 * policy/waiter.c - the waiting protocol every policy shares.
 *
 * Layer: policy (calls core and platform only).
 *
 *   - A waiter registers under gil->mu (nwaiters, GIL__F_WAITERS) and makes
 *     sure the holder's release will come to wake it (the W bit of the lock
 *     word, see core.c).
 *   - When its interval expires without a switch, it asks the holder to drop
 *     (gil__request_drop: the holder's GIL__BREAK_DROP bit).
 *   - A release that finds a request pending waits until another thread has
 *     taken the GIL (FORCE_SWITCHING, gil__wait_for_switch).
 *   - gil__waiter_run is the skeleton around every policy's wait loop, and
 *     the one place that makes a wait cancellation-safe.
 *   - The policies whose waiters share one condvar (CPYTHON, LEGACY) keep it
 *     in their per-GIL state; the helpers for it are here too.
 *
 * Cancellation.  Every blocking wait inside libgil is a condvar wait, hence
 * a POSIX cancellation point, and a thread blocked waiting for the GIL must
 * stay cancellable (an interpreter cancels its threads at exit).  A thread
 * cancelled in such a wait re-takes the condvar's mutex and runs the
 * cleanup handlers pushed here (and by the core around its own slow paths,
 * core.c's GIL__BUSY_BEGIN): the policy's own bookkeeping is undone (a
 * handoff made to the dying thread is passed on), the thread is
 * unregistered, the mutex is released, its state stops being busy.  It
 * leaves without the GIL, and everybody else carries on.  While a wait loop
 * has let go of the mutex to run code that might reach a cancellation point
 * (hooks, the watchdog's callback), cancellation is disabled (core.c's
 * gil__emit, observe/watchdog.c), so the only cancellation points are the
 * condvar waits, where the mutex is known to be held.  Asynchronous
 * cancellation (PTHREAD_CANCEL_ASYNCHRONOUS) is not supported inside libgil.
 */
#include "policy/policy.h"

#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* Registration                                                             */

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

void gil__waiter_leave(gil_t *gil)
{
    if (--gil->nwaiters == 0)
        atomic_fetch_and_explicit(&gil->flags, ~GIL__F_WAITERS, memory_order_seq_cst);
    atomic_store_explicit(&gil->waiting_now, (uint64_t)gil->nwaiters, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* The skeleton                                                             */

typedef struct wait_ctx {
    gil_t *gil;
    gil_tstate_t *ts;
    gil__wait_cancel_fn cancel;
} wait_ctx_t;

/* The last waiter was cancelled (mu held): nobody wants the GIL any more,
 * so take back what waiters left in place.  Clearing W makes a drop request
 * that one of them made stale (a release honours a request only while W is
 * set), and a holder already inside a forced switch stops waiting for a
 * thread that will never take the GIL.  Without this, a waiter cancelled
 * after its interval had passed left W and a drop request on the holder,
 * and the holder's next release waited forever in FORCE_SWITCHING (seen
 * under TSan in test_cancel_inside_ensure, about 1 run in 10). */
static void abandon_requests(gil_t *gil)
{
    uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
    while ((w & GIL__W) &&
           !atomic_compare_exchange_weak_explicit(&gil->word, &w, w & ~GIL__W, memory_order_seq_cst,
                                                  memory_order_relaxed)) {
    }
    gil__mutex_lock(&gil->switch_mu); /* lock order: mu, then switch_mu */
    gil->switch_abandoned++;
    gil__cond_broadcast(&gil->switch_cond);
    gil__mutex_unlock(&gil->switch_mu);
}

/* A cleanup handler: the thread was cancelled in one of the loop's condvar
 * waits, which re-took gil->mu before running it. */
static void wait_cancelled(void *arg)
{
    wait_ctx_t *c = arg;
    if (c->cancel == NULL || c->cancel(c->gil, c->ts))
        gil__waiter_leave(c->gil);
    if (c->gil->nwaiters == 0)
        abandon_requests(c->gil);
    gil__mutex_unlock(&c->gil->mu);
}

int gil__waiter_run(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop, gil__wait_cancel_fn cancel,
                    const gil__wait_req_t *req, bool registered)
{
    wait_ctx_t ctx = {gil, ts, cancel};
    volatile int rc; /* assigned after pthread_cleanup_push's setjmp */
    gil__mutex_lock(&gil->mu);
    if (!registered)
        gil__waiter_enter(gil);
    pthread_cleanup_push(wait_cancelled, &ctx);
    rc = loop(gil, ts, req);
    pthread_cleanup_pop(0);
    if (rc == GIL__WAIT_GRANTED_UNLOCKED)
        return 0; /* handed over to a spinner: it never touched mu again */
    if (rc != GIL__WAIT_GRANTED_LOCKED)
        gil__waiter_leave(gil);
    gil__mutex_unlock(&gil->mu);
    return rc > 0 ? 0 : rc;
}

/* ------------------------------------------------------------------------ */
/* Taking, asking                                                           */

/* Clears the taker's own stale drop request: no waiter can set it while we
 * hold mu. */
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

/* ------------------------------------------------------------------------ */
/* FORCE_SWITCHING                                                          */

static void switch_wait_cancelled(void *arg)
{
    gil_tstate_t *ts = arg;
    gil__mutex_unlock(&ts->gil->switch_mu);
    atomic_fetch_sub_explicit(&ts->gil->switch_waiters, 1, memory_order_relaxed);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
}

void gil__wait_for_switch(gil_t *gil, gil_tstate_t *ts)
{
    /* While blocked here ts may not be deleted (see gil_tstate_delete). */
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    /* Dekker pair with gil__set_holder_changed: announce, then look. */
    atomic_fetch_add_explicit(&gil->switch_waiters, 1, memory_order_seq_cst);
    gil__mutex_lock(&gil->switch_mu);
    unsigned abandoned = gil->switch_abandoned;
    pthread_cleanup_push(switch_wait_cancelled, ts);
    while (atomic_load_explicit(&gil->last_holder, memory_order_seq_cst) == ts &&
           !atomic_load_explicit(&gil->shutdown, memory_order_relaxed) &&
           gil->switch_abandoned == abandoned)
        gil__cond_wait(&gil->switch_cond, &gil->switch_mu);
    pthread_cleanup_pop(1);
}

/* ------------------------------------------------------------------------ */
/* The shared condvar (CPYTHON, LEGACY)                                     */

typedef struct cond_state {
    pthread_cond_t cond; /* CPython's gil->cond: one waiter woken per release;
                            waits on gil->mu */
} cond_state_t;

static pthread_cond_t *shared_cond(gil_t *gil)
{
    return &((cond_state_t *)gil->policy_state)->cond;
}

int gil__shared_cond_init(gil_t *gil)
{
    cond_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return GIL_ENOMEM;
    gil__cond_init(&s->cond);
    gil->policy_state = s;
    return 0;
}

void gil__shared_cond_fini(gil_t *gil)
{
    gil__cond_destroy(shared_cond(gil));
    free(gil->policy_state);
    gil->policy_state = NULL;
}

void gil__shared_cond_wake_all(gil_t *gil)
{
    gil__cond_broadcast(shared_cond(gil));
}

void gil__shared_cond_after_fork_child(gil_t *gil)
{
    gil__cond_reinit(shared_cond(gil)); /* its waiters do not exist here */
}

int gil__shared_cond_wait(gil_t *gil, uint64_t timeout_ns)
{
    if (timeout_ns == 0) {
        gil__cond_wait(shared_cond(gil), &gil->mu);
        return 0;
    }
    return gil__cond_timedwait_ns(shared_cond(gil), &gil->mu, timeout_ns);
}

uintptr_t gil__release_word_signal_one(gil_t *gil)
{
    uintptr_t old = atomic_exchange_explicit(&gil->word, 0, memory_order_seq_cst);
    if (old & GIL__W) {
        gil__mutex_lock(&gil->mu);
        gil__cond_signal(shared_cond(gil));
        gil__mutex_unlock(&gil->mu);
    }
    return old;
}

/* A cancelled waiter may have been the one a release signalled: pass the
 * wake-up on, so that a free GIL does not wait for a timeout. */
static bool cond_wait_cancelled(gil_t *gil, gil_tstate_t *ts)
{
    (void)ts;
    if (atomic_load_explicit(&gil->word, memory_order_relaxed) == 0 && gil->nwaiters > 1)
        gil__cond_signal(shared_cond(gil));
    return true;
}

int gil__shared_cond_take(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop)
{
    gil__wait_req_t req = {GIL__ANY_SWITCH, NULL};
    return gil__waiter_run(gil, ts, loop, cond_wait_cancelled, &req, false);
}

/* gil_yield with waiters: count ourselves as a waiter BEFORE letting go (OCaml
 * fix #2112), so that the thread we hand over to sees a waiter when it yields
 * in turn; then hand over and wait as an ordinary waiter that may not take
 * the GIL back before another thread has had it.  Waiting on the shared
 * condvar, not on switch_cond, costs one wake-up per handover instead of two. */
int gil__shared_cond_yield(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop)
{
    gil__mutex_lock(&gil->mu);
    gil__waiter_enter(gil);
    gil__mutex_unlock(&gil->mu);

    gil__switch_release_bookkeeping(gil, ts, GIL_REASON_YIELD);
    uint64_t not_before = atomic_load_explicit(&gil->switch_number, memory_order_relaxed);
    uintptr_t old = gil__release_word_signal_one(gil);

    uint64_t t0 = gil__now_ns();
    gil__wait_req_t req = {(old & GIL__W) ? not_before : GIL__ANY_SWITCH, NULL};
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    int rc = gil__waiter_run(gil, ts, loop, cond_wait_cancelled, &req, true);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    if (rc != 0)
        return rc;
    return gil__switch_acquired(gil, ts, t0);
}
