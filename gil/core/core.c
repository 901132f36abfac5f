/*
 * core/core.c - taking, releasing, the check point, yield, shutdown.
 *
 * Layer: core (calls platform only; the policy and the observers are called
 * through the tables of core.h, never by name).
 *
 * Notes about the implementation
 * ==============================
 *
 * The model is CPython's GIL (Python/ceval_gil.c, 3.2 and later): a lock that
 * a waiter may ask the holder to drop after a switch interval, honoured by
 * the holder at cheap check points.  What differs is how the lock itself is
 * represented, so that an uncontended acquire/release costs two atomic
 * instructions and no system call, no mutex and no clock read.
 *
 * The lock word.  gil->word holds the holder's tstate pointer, or 0 when the
 * GIL is free, plus bit 0 (GIL__W) "there may be sleeping waiters".
 *
 *   acquire, fast:  CAS word 0 -> ts.                     (CPython: locked=1)
 *   release, fast:  CAS word ts -> 0.  It fails exactly when W is set (or a
 *                   drop request is pending), and then the policy's drop
 *                   routine releases and wakes one waiter.
 *   acquire, slow:  the policy's take routine, under gil->mu: set W so the
 *                   holder's release will come to wake us, sleep on
 *                   gil->cond with the switch interval as timeout, and make a
 *                   drop request when an interval passes without a switch.
 *
 * A waiter sets W under gil->mu and sleeps on the condvar, which releases mu
 * atomically; a releaser that saw W locks mu before signalling.  So the
 * signal cannot fall between a waiter's check and its sleep: no lost wake-up.
 * A waiter that takes the GIL keeps W in the word if other waiters remain
 * (it counts them in gil->nwaiters, under mu), so the next release wakes the
 * next one.  A thread that arrives while the GIL is free simply takes it with
 * the fast CAS, even if waiters were just signalled: CPython behaves the same
 * (its take_gil takes a free GIL at once), and the woken waiter, finding the
 * GIL taken, sets W again and waits a full new interval.
 *
 * The drop request (CPython's eval-breaker bit).  Each tstate starts with a
 * 32-bit breaker word; gil_check() in gil.h loads it relaxed and branches, and
 * only a set bit leads here (gil_internal_check_slow).  A waiter whose timed wait
 * expired sets GIL__BREAK_DROP on the holder only if the GIL is still held
 * AND gil->switch_number did not change during its interval: if a switch
 * happened, the new holder gets a full interval before being asked (CPython's
 * rule; otherwise a thread that just got the GIL could be kicked out at once).
 * The holder honours the request at its next check point: release with
 * FORCE_SWITCHING, then re-acquire as an ordinary waiter.
 *
 * FORCE_SWITCHING.  A thread that releases while a drop request is pending
 * does not return until another thread has taken the GIL (gil->last_holder
 * changed).  On a multicore machine the releasing thread would otherwise win
 * the race to re-acquire, since the woken waiter still has to be scheduled,
 * and the waiter would wait forever.  The rule applies to every release that
 * finds a request pending, including a voluntary one around a blocking call
 * (CPython does the same), but only when a waiter is actually registered: a
 * request left over from an earlier hold (see "stale requests") must not
 * make a thread wait for a switch that nobody will perform.
 * The waiter side increments gil->switch_waiters before reading last_holder;
 * the acquirer stores last_holder before reading switch_waiters; both
 * seq_cst, so at least one of them sees the other (a Dekker pair) and the
 * acquirer broadcasts switch_cond under switch_mu only when needed.
 *
 * switch_number counts holder changes only: re-acquiring by the same thread
 * is not a switch.  It is written by the holder (single writer).
 *
 * Stale requests.  In CPython a waiter sets the drop request under the GIL
 * mutex while it sees the GIL locked, and the release also takes that
 * mutex, so a request always targets the current hold.  Our release does not
 * take the mutex, so a waiter can set the bit just after the holder released:
 * the bit then targets a thread that no longer holds the GIL.  Such a bit is
 * harmless by construction: a release honours a request only if W is set,
 * and a check point honours it only if W is set (otherwise it just clears
 * it); a contended acquire clears its own stale bit under gil->mu (no waiter
 * can set it then).  The worst case is one early switch.
 *
 * Statistics without a clock on the fast path.  Counters written only by
 * the holder (or by the owner thread, for per-tstate counters) are plain
 * relaxed load+store, no locked instruction.  Time is read only when it is
 * meaningful and already paid for: a contended acquisition reads the clock
 * anyway (timed wait); when waiters exist (GIL__F_WAITERS) every acquisition
 * starts a timed hold; a waiter that arrives during an untimed hold stamps
 * gil->hold_t0 so the hold is timed from then on.  gil->flags (seq_cst) is
 * read once after the acquiring CAS; any bit sends the acquirer to the slow
 * bookkeeping path (pending calls, shutdown, timing).
 *
 * Pending calls use the same Dekker shape: a producer publishes the call,
 * sets GIL__F_PENDING, then reads the lock word and sets GIL__BREAK_PENDING
 * on the holder; an acquirer CASes the word, then reads flags.  Either the
 * producer sees the new holder or the acquirer sees the flag.  A producer may
 * read a holder that has just released: tstate memory is type-stable (see
 * registry.c: it returns to malloc only in gil_destroy), so the stray bit
 * lands in valid memory and costs that thread one slow check point.
 *
 * Misuse.  The word names the holder, so a release by a non-holder
 * (GIL_EPERM) and a second acquire by the holder's thread (GIL_EDEADLK) are
 * detected for the price of the load the fast path does anyway.  CPython
 * detects neither.
 *
 * Shutdown.  gil_shutdown sets gil->shutdown, GIL__F_SHUTDOWN and
 * GIL__BREAK_SHUTDOWN on every state, then wakes every waiter (the policy's
 * wake_all) and every forced-switch waiter.  All wait loops test
 * gil->shutdown under their mutex, so none sleeps again.  Nothing ever waits
 * without a way out.
 *
 * Cancellation.  Every wait is a condvar wait, a cancellation point; the
 * policies' cleanup handlers (policy/waiter.c) undo a cancelled waiter's
 * part in the protocol, and busy_run's handler undoes the core's (busy,
 * waiting).  Hooks run with cancellation disabled (gil__emit), so that a
 * wait loop that let go of its mutex to run them cannot be cancelled there.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

__thread gil_tstate_t *gil__tls_current __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

int gil__validate_own(const gil_tstate_t *ts, const char *fn)
{
    if (ts == NULL || atomic_load_explicit(&((gil_tstate_t *)ts)->magic, memory_order_relaxed) != GIL__TS_ALIVE)
        return gil__misuse(fn, GIL_EINVAL);
    if (gil__owner(ts) != gil__thread_id())
        return gil__misuse(fn, GIL_EPERM);
    return 0;
}

/* A slow path of the owner that may block (a cancellation point) runs
 * inside busy_run: a thread cancelled inside stops being busy and waiting on
 * its way out, so that its state can still be deleted. */
typedef int (*slow_fn)(gil_t *gil, gil_tstate_t *ts, uintptr_t arg);

static void busy_cancelled(void *arg)
{
    gil_tstate_t *ts = arg;
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    gil__busy_leave(ts);
}

GIL__NOINLINE static int busy_run(gil_t *gil, gil_tstate_t *ts, slow_fn fn, uintptr_t arg)
{
    volatile int rc; /* assigned after pthread_cleanup_push's setjmp */
    gil__busy_enter(ts);
    pthread_cleanup_push(busy_cancelled, ts);
    rc = fn(gil, ts, arg);
    pthread_cleanup_pop(0);
    gil__busy_leave(ts);
    return rc;
}

/* Acquire: callers may read the holder's state through the word, and the
 * holder published it with its (seq_cst) CAS.  A plain load on x86. */
static inline uintptr_t word_load(const gil_t *gil)
{
    return atomic_load_explicit(&((gil_t *)gil)->word, memory_order_acquire);
}

static inline bool holds(const gil_t *gil, const gil_tstate_t *ts)
{
    return gil__word_holder(word_load(gil)) == ts;
}

/* ------------------------------------------------------------------------ */
/* The thread's current state: a chain through prev_current, newest first.  */

static inline void current_push(gil_tstate_t *ts)
{
    ts->prev_current = gil__tls_current;
    gil__tls_current = ts;
}

static inline void current_pop(gil_tstate_t *ts)
{
    if (GIL__LIKELY(gil__tls_current == ts)) {
        gil__tls_current = ts->prev_current;
        return;
    }
    /* Released out of order (a thread holding two GILs): unlink. */
    for (gil_tstate_t *p = gil__tls_current; p != NULL; p = p->prev_current) {
        if (p->prev_current == ts) {
            p->prev_current = ts->prev_current;
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* After acquiring                                                          */

void gil__set_holder_changed(gil_t *gil, gil_tstate_t *ts)
{
    /* seq_cst store, then seq_cst load of switch_waiters: see the notes. */
    atomic_store_explicit(&gil->last_holder, ts, memory_order_seq_cst);
    gil__counter_add(&gil->switch_number, 1);
    if (atomic_load_explicit(&gil->switch_waiters, memory_order_seq_cst) > 0) {
        gil__mutex_lock(&gil->switch_mu);
        gil__cond_broadcast(&gil->switch_cond);
        gil__mutex_unlock(&gil->switch_mu);
    }
}

static void record_wait(gil_t *gil, gil_tstate_t *ts, uint64_t waited)
{
    gil__counter_add(&gil->contended, 1);
    gil__counter_add(&gil->wait_ns, waited);
    gil__hist_record(&gil->wait_hist, waited);
    gil__counter_add(&ts->contended, 1);
    gil__counter_add(&ts->wait_ns, waited);
    gil__hist_record(&ts->wait_hist, waited);
}

/* The slow half of "acquired": anything beyond counting.  wait_t0 is the
 * time the thread started waiting, 0 for an uncontended acquisition. */
GIL__NOINLINE static int acquired_slow(gil_t *gil, gil_tstate_t *ts, uint32_t flags, uint64_t wait_t0)
{
    if (flags & GIL__F_SHUTDOWN) {
        gil__drop(gil, ts, GIL_REASON_FINAL);
        return GIL_ESHUTDOWN;
    }
    uint64_t now = 0;
    if (wait_t0 != 0) {
        now = gil__now_ns();
        record_wait(gil, ts, now > wait_t0 ? now - wait_t0 : 0);
    }
    if (atomic_load_explicit(&gil->last_holder, memory_order_relaxed) != ts)
        gil__set_holder_changed(gil, ts);
    if (wait_t0 != 0 || (flags & (GIL__F_WAITERS | GIL__F_TIMING | GIL__F_OBSERVE))) {
        if (now == 0)
            now = gil__now_ns();
        atomic_store_explicit(&gil->hold_t0, now, memory_order_relaxed);
    } else {
        atomic_store_explicit(&gil->hold_t0, 0, memory_order_relaxed);
    }
    if (flags & GIL__F_OBSERVE)
        gil__emit(gil, GIL_EVENT_ACQUIRED, ts, NULL, now, wait_t0 != 0 && now > wait_t0 ? now - wait_t0 : 0,
                  GIL_REASON_RELEASE);
    if (flags & GIL__F_PENDING) {
        int rc = gil__pending_run(gil, ts);
        if (rc != 0) {
            /* Reported by the next gil_check, which is where an interpreter
             * can raise it. */
            ts->pending_error = rc;
            gil__breaker_set(ts, GIL__BREAK_PENDING);
        }
    }
    return 0;
}

/* Bookkeeping once the word holds ts.  Inline: on the uncontended path it is
 * two counter stores, one flags load and one compare. */
static inline int acquired(gil_t *gil, gil_tstate_t *ts, uint64_t wait_t0)
{
    current_push(ts);
    gil__counter_add(&ts->acquisitions, 1);
    gil__counter_add(&gil->acquisitions, 1);
    /* seq_cst: ordered after the acquiring CAS (pending-call Dekker pair). */
    uint32_t flags = atomic_load_explicit(&gil->flags, memory_order_seq_cst);
    if (GIL__UNLIKELY(flags != 0 || wait_t0 != 0 ||
                      atomic_load_explicit(&gil->last_holder, memory_order_relaxed) != ts))
        return acquired_slow(gil, ts, flags, wait_t0);
    return 0;
}

static int take_slow(gil_t *gil, gil_tstate_t *ts, uintptr_t unused);

/* Take the GIL, ts validated and not the holder's thread. */
int gil__take(gil_t *gil, gil_tstate_t *ts)
{
    uintptr_t expected = 0;
    if (GIL__LIKELY(atomic_compare_exchange_strong_explicit(&gil->word, &expected, (uintptr_t)ts,
                                                            memory_order_seq_cst, memory_order_relaxed)))
        return acquired(gil, ts, 0);
    return busy_run(gil, ts, take_slow, 0);
}

/* The contended half of gil__take, with ts marked busy. */
static int take_slow(gil_t *gil, gil_tstate_t *ts, uintptr_t unused)
{
    (void)unused;
    if (atomic_load_explicit(&gil->shutdown, memory_order_acquire))
        return GIL_ESHUTDOWN;
    uint64_t t0 = gil__now_ns();
    if (gil__observed(gil))
        gil__emit(gil, GIL_EVENT_WAIT, ts, gil__word_holder(word_load(gil)), t0, 0, GIL_REASON_RELEASE);
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    int rc = gil->policy->take(gil, ts);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    if (rc != 0)
        return rc;
    return acquired(gil, ts, t0);
}

int gil__acquire(gil_tstate_t *ts)
{
    int rc = gil__validate_own(ts, "gil_acquire");
    if (rc != 0)
        return rc;
    gil_t *gil = ts->gil;
    gil_tstate_t *holder = gil__word_holder(word_load(gil));
    /* Only this thread can have put one of its own states in the word. */
    if (holder != NULL && gil__owner(holder) == gil__owner(ts))
        return GIL__MISUSE(GIL_EDEADLK);
    return gil__take(gil, ts);
}

/* After a GIL_ESHUTDOWN: a GIL finalized with GIL_FINALIZE_PARK keeps the
 * thread from going back to its interpreter. */
static int park_or_return(gil_t *gil, int rc)
{
    if (GIL__UNLIKELY(rc == GIL_ESHUTDOWN) && gil__parking(gil))
        gil__thread_park();
    return rc;
}

int gil_acquire(gil_tstate_t *ts)
{
    int rc = gil__acquire(ts);
    return rc == GIL_ESHUTDOWN ? park_or_return(ts->gil, rc) : rc;
}

int gil_restore(gil_tstate_t *ts)
{
    if (ts == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    int saved_errno = errno;
    int rc = gil_acquire(ts);
    errno = saved_errno;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Releasing                                                                */

/* Time the hold and consume a pending drop request.  Returns true when the
 * release must force a switch. */
GIL__NOINLINE static bool release_slow_bookkeeping(gil_t *gil, gil_tstate_t *ts, gil_reason_t why,
                                                   uint64_t t0)
{
    uint64_t now = gil__now_ns();
    ts->last_release_why = why;
    ts->last_release_ns = now;
    if (gil__observed(gil))
        gil__emit(gil, GIL_EVENT_RELEASED, ts, NULL, now, t0 != 0 && now > t0 ? now - t0 : 0, why);
    if (t0 != 0) {
        uint64_t held = now > t0 ? now - t0 : 0;
        gil__counter_add(&gil->hold_ns, held);
        gil__counter_add(&gil->timed_holds, 1);
        gil__hist_record(&gil->hold_hist, held);
        gil__counter_add(&ts->hold_ns, held);
        gil__hist_record(&ts->hold_hist, held);
        atomic_store_explicit(&gil->hold_t0, 0, memory_order_relaxed);
    }
    if (!(gil__breaker_load(ts) & GIL__BREAK_DROP))
        return false;
    uint32_t old = gil__breaker_clear(ts, GIL__BREAK_DROP);
    /* A request counts only if a waiter is registered (see stale requests). */
    if (!(old & GIL__BREAK_DROP) || why == GIL_REASON_FINAL || !(word_load(gil) & GIL__W))
        return false;
    uint64_t asked = atomic_load_explicit(&gil->drop_t0, memory_order_relaxed);
    if (asked != 0 && asked <= now)
        gil__hist_record(&gil->drop_hist, now - asked);
    if (why == GIL_REASON_DROP) {
        gil__counter_add(&gil->forced_switches, 1);
        gil__counter_add(&ts->forced_switches, 1);
    }
    return true;
}

/* arg: the reason << 1 | force. */
static int policy_drop(gil_t *gil, gil_tstate_t *ts, uintptr_t arg)
{
    gil->policy->drop(gil, ts, (gil_reason_t)(arg >> 1), (arg & 1) != 0);
    return 0;
}

int gil__drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why)
{
    current_pop(ts);
    bool force = false;
    uint64_t t0 = atomic_load_explicit(&gil->hold_t0, memory_order_relaxed);
    if (GIL__UNLIKELY(t0 != 0 || (gil__breaker_load(ts) & GIL__BREAK_DROP)))
        force = release_slow_bookkeeping(gil, ts, why, t0);
    uintptr_t expected = (uintptr_t)ts;
    if (GIL__LIKELY(!force && atomic_compare_exchange_strong_explicit(&gil->word, &expected, 0,
                                                                      memory_order_seq_cst,
                                                                      memory_order_relaxed)))
        return 0;
    /* From here the GIL may be gone (handed over) while we still work on it
     * (a forced switch waits): stay busy until the policy returns. */
    return busy_run(gil, ts, policy_drop, (uintptr_t)why << 1 | (uintptr_t)force);
}

int gil_release(gil_tstate_t *ts)
{
    int rc = gil__validate_own(ts, "gil_release");
    if (rc != 0)
        return rc;
    if (!holds(ts->gil, ts))
        return GIL__MISUSE(GIL_EPERM);
    return gil__drop(ts->gil, ts, GIL_REASON_RELEASE);
}

gil_tstate_t *gil_save(void)
{
    gil_tstate_t *ts = gil__tls_current;
    if (ts == NULL)
        return NULL;
    gil__drop(ts->gil, ts, GIL_REASON_SAVE);
    return ts;
}

gil_tstate_t *gil_current(void)
{
    return gil__tls_current;
}

int gil_held(const gil_t *gil)
{
    if (gil == NULL)
        return 0;
    gil_tstate_t *holder = gil__word_holder(word_load(gil));
    return holder != NULL && gil__owner(holder) == gil__thread_id();
}

/* ------------------------------------------------------------------------ */
/* The check point's slow path                                              */

static int honour_drop_request(gil_t *gil, gil_tstate_t *ts)
{
    if (!(word_load(gil) & GIL__W)) {
        /* Nobody waits any more (stale request): nothing to hand over. */
        gil__breaker_clear(ts, GIL__BREAK_DROP);
        return 0;
    }
    if (gil->policy->honour_drop != NULL)
        return gil->policy->honour_drop(gil, ts);
    gil__drop(gil, ts, GIL_REASON_DROP);
    return gil__take(gil, ts);
}

static int deliver_interrupt(gil_tstate_t *ts)
{
    gil__breaker_clear(ts, GIL__BREAK_INTERRUPT);
    return atomic_exchange_explicit(&ts->interrupt_code, 0, memory_order_acquire);
}

static int run_pending(gil_t *gil, gil_tstate_t *ts)
{
    gil__breaker_clear(ts, GIL__BREAK_PENDING);
    if (ts->pending_error != 0) {
        int rc = ts->pending_error;
        ts->pending_error = 0;
        return rc;
    }
    return gil__pending_run(gil, ts);
}

const uint32_t gil_internal_null_breaker = ~0u;

static int check_slow_body(gil_t *gil, gil_tstate_t *ts, uintptr_t unused);

int gil_internal_check_slow(gil_tstate_t *ts)
{
    int rc = gil__validate_own(ts, "gil_check");
    if (rc != 0)
        return rc;
    gil_t *gil = ts->gil;
    if (!holds(gil, ts)) {
        /* After shutdown a thread whose re-acquire failed (the restore of
         * an allow-threads section) checks without the GIL: expected. */
        if (atomic_load_explicit(&gil->shutdown, memory_order_acquire))
            return park_or_return(gil, GIL_ESHUTDOWN);
        return GIL__MISUSE(GIL_EPERM);
    }
    /* Busy for the whole check: a drop request releases and re-takes. */
    return park_or_return(gil, busy_run(gil, ts, check_slow_body, 0));
}

static int check_slow_body(gil_t *gil, gil_tstate_t *ts, uintptr_t unused)
{
    (void)unused;
    int rc;
    uint32_t bits = gil__breaker_load(ts);
    if (bits & GIL__BREAK_SHUTDOWN)
        return GIL_ESHUTDOWN;
    if ((bits & GIL__BREAK_DROP) && (rc = honour_drop_request(gil, ts)) != 0)
        return rc;
    if ((bits & GIL__BREAK_POLICY) && gil->policy->check != NULL &&
        (rc = gil->policy->check(gil, ts)) != 0)
        return rc;
    if ((bits & GIL__BREAK_PENDING) && (rc = run_pending(gil, ts)) != 0)
        return rc;
    if (bits & GIL__BREAK_INTERRUPT)
        return deliver_interrupt(ts);
    return 0;
}

int gil_tstate_interrupt(gil_tstate_t *ts, int code)
{
    if (ts == NULL || atomic_load_explicit(&ts->magic, memory_order_relaxed) != GIL__TS_ALIVE || code < 0)
        return GIL__MISUSE(GIL_EINVAL);
    atomic_store_explicit(&ts->interrupt_code, code, memory_order_release);
    if (code != 0)
        gil__breaker_set(ts, GIL__BREAK_INTERRUPT);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Yield                                                                    */

static int policy_yield(gil_t *gil, gil_tstate_t *ts, uintptr_t unused)
{
    (void)unused;
    return gil->policy->yield(gil, ts);
}

int gil_yield(gil_tstate_t *ts)
{
    int rc = gil__validate_own(ts, "gil_yield");
    if (rc != 0)
        return rc;
    gil_t *gil = ts->gil;
    uintptr_t w = word_load(gil);
    if (gil__word_holder(w) != ts)
        return GIL__MISUSE(GIL_EPERM);
    if (!(w & GIL__W))
        return 0; /* nobody waits */
    return park_or_return(gil, busy_run(gil, ts, policy_yield, 0));
}

/* Helpers for the policies' yield and honour_drop: the bookkeeping halves
 * of release and acquire around a policy-controlled handover. */
bool gil__switch_release_bookkeeping(gil_t *gil, gil_tstate_t *ts, gil_reason_t why)
{
    current_pop(ts);
    uint64_t t0 = atomic_load_explicit(&gil->hold_t0, memory_order_relaxed);
    return release_slow_bookkeeping(gil, ts, why, t0);
}

int gil__switch_acquired(gil_t *gil, gil_tstate_t *ts, uint64_t wait_t0)
{
    return acquired(gil, ts, wait_t0);
}

/* ------------------------------------------------------------------------ */
/* Events for the observers                                                 */

void gil__emit(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts, const gil_tstate_t *other,
               uint64_t time_ns, uint64_t duration_ns, gil_reason_t reason)
{
    if (gil->observer == NULL || gil->observer->event == NULL)
        return;
    gil_event_t ev = {
        .type = type,
        .gil = gil,
        .tstate = ts,
        .other = other,
        .time_ns = time_ns,
        .duration_ns = duration_ns,
        .reason = reason,
    };
    /* A hook is not a cancellation point, whatever it calls: see the notes. */
    int cancel_state = gil__cancel_disable();
    gil->observer->event(gil, &ev);
    gil__cancel_restore(cancel_state);
}

/* ------------------------------------------------------------------------ */
/* Interval, shutdown                                                       */

int gil_set_switch_interval(gil_t *gil, unsigned long usec)
{
    if (gil == NULL || usec == 0)
        return GIL__MISUSE(GIL_EINVAL);
    atomic_store_explicit(&gil->interval_us, usec, memory_order_relaxed);
    return 0;
}

unsigned long gil_get_switch_interval(const gil_t *gil)
{
    if (gil == NULL)
        return 0;
    return atomic_load_explicit(&((gil_t *)gil)->interval_us, memory_order_relaxed);
}

int gil_shutdown(gil_t *gil)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (atomic_exchange_explicit(&gil->shutdown, 1, memory_order_seq_cst))
        return 0;
    atomic_fetch_or_explicit(&gil->flags, GIL__F_SHUTDOWN, memory_order_seq_cst);
    gil__registry_set_breaker_all(gil, GIL__BREAK_SHUTDOWN);
    /* Every sleeper re-tests gil->shutdown under the mutex it sleeps on. */
    gil__mutex_lock(&gil->mu);
    gil->policy->wake_all(gil);
    gil__mutex_unlock(&gil->mu);
    gil__mutex_lock(&gil->switch_mu);
    gil__cond_broadcast(&gil->switch_cond);
    gil__mutex_unlock(&gil->switch_mu);
    return 0;
}
