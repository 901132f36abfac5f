/*
 * policy/handoff.c - direct handoff with per-class FIFO queues: the engine
 * behind GIL_POLICY_FIFO (one class) and GIL_POLICY_PRIORITY (two classes).
 *
 * Layer: policy (calls core and platform only).
 *
 * Waiters queue under gil->mu: class 0 is served before class 1, arrival
 * order within a class.  A release that finds waiters (the W bit) does not
 * free the GIL: it writes the first waiter into the lock word and marks it
 * granted, so no other thread can barge in between (Ruby 3.3's GVL).  The
 * word is never 0 while waiters are queued, which keeps the fast CAS of an
 * arriving thread from overtaking the queue.
 *
 * Sleeping and spinning.  A waiter may first spin, without the mutex, on its
 * own `granted` flag: a handoff to a spinning waiter costs no system call.
 * Before sleeping it sets `sleeping` under mu; the releaser, also under mu,
 * signals the waiter's private condvar only if it sleeps.  So a release wakes
 * exactly the thread that gets the GIL and nobody else: waking threads that
 * would only find the GIL taken puts more runnable threads than cores on the
 * machine, and the kernel then delays the very thread that was served (with
 * 4 CPU threads on 2 cores, measured here: an I/O p99 of a 4 ms scheduler
 * tick when every release woke a sleeper, ~60 us when only the served
 * thread was woken).
 *
 * Drop requests.  The head of a class waits one switch interval (timed) and
 * then asks the holder to drop, under CPython's rule (no request if a switch
 * happened meanwhile).  Others sleep untimed; when a handoff makes a new head
 * of class 1, that head is woken once to start its clock.  A class that asks
 * at once (PRIORITY's returning I/O threads) makes its request before
 * waiting.  FORCE_SWITCHING is unnecessary: a handoff cannot return the GIL
 * to the thread that released it.
 */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

typedef struct handoff {
    gil_tstate_t *head[2], *tail[2]; /* [mu] */
    uint64_t turns;                  /* fresh class-1 turns granted [mu] */
    gil_tstate_t *turn_owner;        /* the class-1 thread whose turn it is [mu] */
} handoff_t;

static handoff_t *queues(gil_t *gil)
{
    return gil->policy_state;
}

int gil__handoff_init(gil_t *gil)
{
    gil->policy_state = calloc(1, sizeof(handoff_t));
    return gil->policy_state != NULL ? 0 : GIL_ENOMEM;
}

void gil__handoff_fini(gil_t *gil)
{
    free(gil->policy_state);
    gil->policy_state = NULL;
}

void gil__handoff_after_fork_child(gil_t *gil)
{
    handoff_t *h = queues(gil);
    h->head[0] = h->head[1] = h->tail[0] = h->tail[1] = NULL;
    h->turn_owner = NULL;
}

void gil__handoff_tstate_init(gil_t *gil, gil_tstate_t *ts)
{
    (void)gil;
    gil__cond_init(&gil__handoff_waiter(ts)->wake); /* the rest is zeroed */
}

void gil__handoff_tstate_fini(gil_t *gil, gil_tstate_t *ts)
{
    (void)gil;
    gil__cond_destroy(&gil__handoff_waiter(ts)->wake);
}

void gil__handoff_tstate_after_fork_child(gil_t *gil, gil_tstate_t *ts, bool survivor)
{
    gil__handoff_waiter_t *hw = gil__handoff_waiter(ts);
    /* Threads that no longer exist may have been waiting on it. */
    if (!survivor) {
        memset(hw, 0, gil->policy->tstate_size); /* as after tstate_fini */
        return;
    }
    gil__cond_reinit(&hw->wake);
    hw->q_next = NULL;
    hw->queued = hw->sleeping = hw->resuming = 0;
    atomic_store_explicit(&hw->granted, 0, memory_order_relaxed);
}

/* ---- queues (all with gil->mu held) ------------------------------------ */

#define W(ts) gil__handoff_waiter(ts)

static void enqueue(handoff_t *h, gil_tstate_t *ts, int klass, bool front)
{
    W(ts)->klass = klass;
    W(ts)->queued = 1;
    W(ts)->resuming = front;
    if (front) {
        W(ts)->q_next = h->head[klass];
        h->head[klass] = ts;
        if (h->tail[klass] == NULL)
            h->tail[klass] = ts;
        return;
    }
    W(ts)->q_next = NULL;
    if (h->tail[klass] != NULL)
        W(h->tail[klass])->q_next = ts;
    else
        h->head[klass] = ts;
    h->tail[klass] = ts;
}

static void unqueue(handoff_t *h, gil_tstate_t *ts)
{
    int k = W(ts)->klass;
    gil_tstate_t *prev = NULL;
    for (gil_tstate_t *p = h->head[k]; p != NULL; prev = p, p = W(p)->q_next) {
        if (p != ts)
            continue;
        if (prev != NULL)
            W(prev)->q_next = W(ts)->q_next;
        else
            h->head[k] = W(ts)->q_next;
        if (h->tail[k] == ts)
            h->tail[k] = prev;
        break;
    }
    W(ts)->queued = 0;
    W(ts)->q_next = NULL;
}

static gil_tstate_t *peek_next(const handoff_t *h)
{
    return h->head[0] != NULL ? h->head[0] : h->head[1];
}

static bool any_queued(const handoff_t *h)
{
    return h->head[0] != NULL || h->head[1] != NULL;
}

/* Hand the GIL to the first waiter, or free it if none is queued.  Called
 * with mu held, by the holder (expect = its word) or by a waiter that found
 * the GIL free while others are queued (expect = 0).  A compare-and-swap,
 * not a store: while the word is 0 an arriving thread may take the GIL with
 * its fast CAS, and a store would then make two holders.  Returns false if
 * the word was not `expect` (nothing granted). */
static bool grant_next(gil_t *gil, uintptr_t expect)
{
    handoff_t *h = queues(gil);
    gil_tstate_t *next = peek_next(h);
    /* Other threads still count as waiters: keep W so their turn comes. */
    uintptr_t w = next == NULL ? 0 : (uintptr_t)next | (gil->nwaiters > 1 ? GIL__W : 0);
    if (!atomic_compare_exchange_strong_explicit(&gil->word, &expect, w, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return false;
    if (next == NULL)
        return true;
    unqueue(h, next);
    bool fresh_turn = W(next)->klass == 1 && !W(next)->resuming;
    if (fresh_turn) {
        h->turns++; /* not the resumption of an interrupted turn */
        h->turn_owner = next;
    }
    W(next)->resuming = 0;
    atomic_store_explicit(&W(next)->granted, 1, memory_order_release);
    if (W(next)->sleeping)
        gil__cond_signal(&W(next)->wake);
    /* A new turn: the next CPU-bound thread in line starts its clock now.
     * (Not on a resumption: its clock is already running, and waking it on
     * every I/O round trip would put a thread that cannot run on a CPU.) */
    gil_tstate_t *head = h->head[1];
    if (fresh_turn && head != NULL && W(head)->sleeping)
        gil__cond_signal(&W(head)->wake);
    return true;
}

/* ---- waiting ----------------------------------------------------------- */

/* Spin without the mutex until granted, shutdown, or spin_ns passed. */
static void spin_for_grant(gil_t *gil, gil_tstate_t *ts, uint64_t spin_ns)
{
    uint64_t deadline = gil__now_ns() + spin_ns;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(&W(ts)->granted, memory_order_acquire) ||
                atomic_load_explicit(&gil->shutdown, memory_order_relaxed))
                return;
            gil__cpu_relax();
        }
        if (gil__now_ns() >= deadline)
            return;
    }
}

static bool is_head(const handoff_t *h, const gil_tstate_t *ts)
{
    return h->head[W(ts)->klass] == ts;
}

/* Make a drop request (mu held; may drop and retake mu).  The holder is
 * always asked: whoever holds the GIL must let go, or nobody moves.  A
 * class-0 waiter (a returning I/O thread) marks the holder preempted, so
 * that it resumes its turn first.  A class-1 waiter asks for its fair
 * share; if the thread whose turn it is waits at the front to resume it
 * (an I/O thread holds the GIL right now), that interrupted turn is ended
 * too: the resuming thread honours the request at its first check point.
 * (Redirecting the request to the resuming thread instead of the holder
 * stalls: the holder may be another CPU thread that took a free GIL, or
 * the asker may be the resuming thread itself.) */
static void ask(gil_t *gil, gil_tstate_t *ts, uintptr_t w)
{
    handoff_t *h = queues(gil);
    gil_tstate_t *holder = gil__word_holder(w);
    gil_tstate_t *owner = h->turn_owner;
    if (W(ts)->klass == 1 && owner != NULL && owner != ts && owner != holder && W(owner)->queued &&
        W(owner)->resuming) {
        atomic_store_explicit(&W(owner)->preempted_by_io, 0, memory_order_relaxed);
        gil__breaker_set(owner, GIL__BREAK_DROP);
    }
    atomic_store_explicit(&W(holder)->preempted_by_io, W(ts)->klass == 0, memory_order_relaxed);
    gil__request_drop(gil, ts, w); /* last: it may drop mu */
}

/* Sleep until woken.  The head of a class times the interval and asks the
 * holder to drop when it expires without a fresh turn (CPython's rule).
 * The others are woken when they become head; their sleep is bounded too
 * (SAFETY_INTERVALS), so that a waiter that became head without noticing
 * starts its clock within a few intervals instead of never: the scheduler's
 * liveness must not rest on every wake-up being delivered. */
#define SAFETY_INTERVALS 4

static void sleep_once(gil_t *gil, gil_tstate_t *ts)
{
    handoff_t *h = queues(gil);
    uint64_t turns = h->turns;
    uint64_t interval_ns = atomic_load_explicit(&gil->interval_us, memory_order_relaxed) * 1000u;
    bool head = is_head(h, ts);
    W(ts)->sleeping = 1;
    int timed_out = gil__cond_timedwait_ns(&W(ts)->wake, &gil->mu,
                                           head ? interval_ns : SAFETY_INTERVALS * interval_ns);
    W(ts)->sleeping = 0;
    gil__waiter_poll(gil, ts); /* may drop mu: everything is re-read below */
    uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
    if (!head || !timed_out || atomic_load_explicit(&W(ts)->granted, memory_order_relaxed) || w == 0 ||
        atomic_load_explicit(&gil->shutdown, memory_order_relaxed))
        return;
    /* CPython's rule, counted in fresh class-1 turns: switches to and from
     * I/O threads do not reset the fairness clock of CPU-bound threads
     * (otherwise, beside a busy I/O thread, they would never ask).  A
     * class-0 waiter always asks again: it has priority. */
    if (W(ts)->klass == 0 || h->turns == turns)
        ask(gil, ts, w);
    else
        atomic_fetch_add_explicit(&gil->requests_withheld, 1, memory_order_relaxed);
}

/* The wait loop.  Called with mu held and the caller registered as a
 * waiter.  Returns 0 holding the GIL, or GIL_ESHUTDOWN. */
static int wait_for_grant(gil_t *gil, gil_tstate_t *ts, const gil__wait_req_t *req)
{
    const gil__wait_params_t *p = req->params;
    handoff_t *h = queues(gil);
    bool asked = !p->ask_at_once, spun = p->spin_ns == 0;
    for (;;) {
        if (atomic_load_explicit(&W(ts)->granted, memory_order_acquire)) {
            atomic_store_explicit(&W(ts)->granted, 0, memory_order_relaxed);
            return 0;
        }
        if (atomic_load_explicit(&gil->shutdown, memory_order_acquire)) {
            if (W(ts)->queued)
                unqueue(h, ts);
            return GIL_ESHUTDOWN;
        }
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        if (w == 0) {
            if (any_queued(h))
                grant_next(gil, 0); /* the queue goes first; maybe it is us */
            else if (gil__waiter_try_take(gil, ts))
                return 0;
            continue;
        }
        if (!W(ts)->queued)
            enqueue(h, ts, p->klass, p->resume);
        if (!gil__waiter_set_w(gil, w))
            continue;
        if (!asked) {
            asked = true;
            ask(gil, ts, w); /* may drop mu: re-check everything */
            continue;
        }
        if (!spun) {
            spun = true;
            gil__mutex_unlock(&gil->mu);
            spin_for_grant(gil, ts, p->spin_ns);
            gil__mutex_lock(&gil->mu);
            continue;
        }
        sleep_once(gil, ts);
    }
}

/* A waiter cancelled in its sleep (gil->mu held again): leave the queue;
 * if the GIL was handed to us meanwhile, hand it on as a release would. */
static void wait_cancelled(gil_t *gil, gil_tstate_t *ts)
{
    handoff_t *h = queues(gil);
    gil__handoff_waiter_t *hw = W(ts);
    hw->sleeping = 0;
    if (hw->queued)
        unqueue(h, ts);
    if (h->turn_owner == ts)
        h->turn_owner = NULL;
    if (atomic_exchange_explicit(&hw->granted, 0, memory_order_acquire)) {
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        if (gil__word_holder(w) == ts && !grant_next(gil, w))
            gil__fatal("handoff: the lock word changed under gil->mu while a cancelled waiter held it");
    }
}

int gil__handoff_take(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    gil__wait_req_t req = {GIL__ANY_SWITCH, p};
    return gil__waiter_run(gil, ts, wait_for_grant, wait_cancelled, &req, false);
}

/* The holder hands over.  Only waiters change a held word, and they do it
 * under mu, so the CAS from the holder's own word cannot fail. */
static void holder_grant_next(gil_t *gil, gil_tstate_t *ts)
{
    if (!grant_next(gil, atomic_load_explicit(&gil->word, memory_order_relaxed)))
        gil__fatal("handoff: the lock word changed under gil->mu while %p held it", (void *)ts);
}

void gil__handoff_drop(gil_t *gil, gil_tstate_t *ts)
{
    gil__mutex_lock(&gil->mu);
    holder_grant_next(gil, ts);
    gil__mutex_unlock(&gil->mu);
}

/* Queue up behind the others first (a yielder counts as a waiter), then
 * hand over to the head, then wait for our turn. */
int gil__handoff_yield(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    gil__yield_release_bookkeeping(gil, ts);
    uint64_t t0 = gil__now_ns();
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    gil__mutex_lock(&gil->mu);
    gil__waiter_enter(gil);
    enqueue(queues(gil), ts, p->klass, false);
    holder_grant_next(gil, ts);
    gil__mutex_unlock(&gil->mu);
    gil__wait_req_t req = {GIL__ANY_SWITCH, p};
    int rc = gil__waiter_run(gil, ts, wait_for_grant, wait_cancelled, &req, true);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    if (rc != 0)
        return rc;
    return gil__yield_acquired(gil, ts, t0);
}

/* Shutdown: wake every queued waiter (called with mu held). */
void gil__handoff_wake_all(gil_t *gil)
{
    handoff_t *h = queues(gil);
    for (int k = 0; k < 2; k++)
        for (gil_tstate_t *ts = h->head[k]; ts != NULL; ts = W(ts)->q_next)
            gil__cond_signal(&W(ts)->wake);
}
