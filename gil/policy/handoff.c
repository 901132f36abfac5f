/*
 * policy/handoff.c - direct handoff with per-class FIFO queues: the engine
 * behind GIL_POLICY_FIFO (one class) and GIL_POLICY_PRIORITY (two classes).
 *
 * Layer: policy (calls core and platform only).
 *
 * Queues.  Waiters queue under gil->mu: class 0 (PRIORITY's returning I/O
 * threads) is served before class 1 (CPU-bound threads), arrival order
 * within a class.  A release that finds waiters (the W bit) does not free
 * the GIL: it writes the first waiter into the lock word and marks it
 * granted, so no other thread can barge in between (Ruby 3.3's GVL).  The
 * word is never 0 while waiters are queued, which keeps the fast CAS of an
 * arriving thread from overtaking the queue.
 *
 * Turns.  Class-1 threads share the GIL in turns of one switch interval of
 * the owner's own hold time, counted from the grant that began the turn
 * (turn_used_ns, plus the hold in progress).  The head of class 1 sleeps
 * until the turn is used up, then ends it: it asks the turn's owner to
 * drop.  A turn interrupted by an I/O thread is resumed, not restarted: the
 * owner waits at the front of class 1 (queued before it hands over, see
 * requeue_and_wait) and gets the GIL back when the I/O thread lets go, and
 * the I/O thread's slice does not count against the turn, so every CPU
 * thread gets the same GIL time per turn however often I/O interrupts it
 * (on the wall clock, a CPU thread interrupted by a busy I/O thread got a
 * fraction of the others' share).  An I/O thread that holds the GIL is never asked to
 * drop for fairness unless it has held it for a whole interval (then it is
 * not an I/O thread), so a fairness request cannot turn it into a CPU-bound
 * waiter; if the turn ends while an I/O thread holds the GIL, the request
 * goes to the interrupted owner, which honours it at its first check point.
 * A CPU holder that took a free GIL through the fast path has no turn on
 * record until a request or the head of class 1 finds it (adopt_turn).
 *
 * Waiting: spin, then sleep.  A waiter may spin, without the mutex, on its
 * own `granted` flag: a handoff to a spinning waiter costs no system call
 * and no wake-up latency.  Spinning pays only when the grant is near, so the
 * budgets are measured, not fixed (the config's priority_spin_*_us are only
 * ceilings):
 *   - a waiter that has just asked the holder to drop (a returning I/O
 *     thread, the head ending a turn) spins about 3x the time holders have
 *     recently taken to reach a check point and hand over (ema_grant_ns);
 *   - a CPU thread interrupted by an I/O thread spins about 2x the time I/O
 *     threads have recently held the GIL (ema_boost_hold_ns);
 * and neither spins longer than twice what a sleep would cost, the measured
 * delay from a grant to a sleeping grantee running (ema_wake_ns): beyond
 * that, sleeping is cheaper (the classic 2-competitive bound).  Only those
 * two kinds of waiter spin; everybody else sleeps at once.  The estimates
 * are exponential moving averages (weight 1/8) updated under mu at every
 * grant; they start at 2 us (grant, hold) and 20 us (wake-up).
 *
 * Protection.  Every I/O interruption costs the interrupted CPU thread more
 * than the I/O thread's hold: the handovers in both directions (cache
 * misses, a spinner noticing its grant) leave the GIL dead for a few us.
 * An I/O thread that blocks only briefly (a loopback round trip of ~6 us)
 * would otherwise preempt again at once, and at 150k round trips/s the dead
 * time alone took 40% of the CPU thread's share (measured here).  So a
 * resumed owner is protected: from the grant that resumes it, class-0
 * waiters defer their request until it has held for PROTECT_FACTOR times
 * what its interruptions cost it
 * (ema_dead_ns: its time away, as it measured it, minus the I/O threads'
 * own work: their holds above the shortest hold, which is the lock's
 * cost), capped by PROTECT_CAP_NS and a quarter interval.  The CPU thread
 * then keeps at least PROTECT_FACTOR / (PROTECT_FACTOR + 1) of what the
 * I/O threads leave, and an I/O thread waits at most the cap (and never
 * longer than its spin ceiling, priority_spin_io_us; 0 turns protection off
 * with spinning), yielding the CPU meanwhile rather than spinning: on 2
 * CPUs a spinner kept the far end of its own I/O off the CPU.  The bound adapts: where handovers are
 * cheap the protection is short and the I/O rate barely moves.
 *
 * Sleeping.  Before sleeping a waiter sets `sleeping` under mu; the
 * releaser, also under mu, signals the waiter's private condvar only if it
 * sleeps.  So a release wakes exactly the thread that gets the GIL and
 * nobody else: waking threads that would only find the GIL taken puts more
 * runnable threads than cores on the machine, and the kernel then delays the
 * very thread that was served (with 4 CPU threads on 2 cores, measured here:
 * an I/O p99 of a 4 ms scheduler tick when every release woke a sleeper).
 * The one extra wake-up is the new head of class 1 at a fresh turn, if it
 * was not already timing a turn: it must start its clock.
 *
 * FORCE_SWITCHING is unnecessary: a handoff cannot return the GIL to the
 * thread that released it.
 *
 * Cancellation: a waiter cancelled in its sleep leaves the queue; a grant
 * made to it meanwhile is passed on (wait_cancelled).
 */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

/* Waiters that are not timing anything still wake up every few intervals:
 * the scheduler's liveness must not rest on every wake-up being delivered. */
#define SAFETY_INTERVALS 4
#define EMA_START_GRANT_NS 2000u
#define EMA_START_HOLD_NS 2000u
#define EMA_START_WAKE_NS 20000u
#define SPIN_FLOOR_NS 1000u
#define PROTECT_FACTOR 6u       /* the resumed owner keeps >= 6/7 */
#define PROTECT_CAP_NS 50000u   /* an I/O thread never defers longer */

typedef struct handoff {
    gil_tstate_t *head[2], *tail[2]; /* [mu] */
    uint64_t turn;                   /* fresh class-1 turns granted [mu] */
    uint64_t turn_used_ns;           /* the owner's hold time in its turn so
                                        far, not counting the hold in
                                        progress [mu] */
    gil_tstate_t *turn_owner;        /* the class-1 thread whose turn it is [mu] */
    uint64_t ema_grant_ns;           /* ask -> grant [mu] */
    uint64_t ema_boost_hold_ns;      /* how long class-0 holders hold [mu] */
    uint64_t ema_wake_ns;            /* grant -> a sleeping grantee runs [mu] */
    uint64_t gap_io_ns;              /* ns of class-0 threads' own work
                                        (io_work) since the turn owner last
                                        dropped [mu] */
    uint64_t io_hold_floor_ns;       /* the shortest class-0 holds, slowly
                                        rising: the lock's own cost [mu] */
    uint64_t deferred_asks;          /* class-0 requests deferred by a
                                        protection (a count) [mu] */
    uint64_t lost_resumptions;       /* interrupted owners that found a fresh
                                        turn begun when they queued [mu] */
} handoff_t;

static handoff_t *queues(gil_t *gil)
{
    return gil->policy_state;
}

int gil__handoff_init(gil_t *gil)
{
    handoff_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return GIL_ENOMEM;
    h->ema_grant_ns = EMA_START_GRANT_NS;
    h->ema_boost_hold_ns = EMA_START_HOLD_NS;
    h->ema_wake_ns = EMA_START_WAKE_NS;
    gil->policy_state = h;
    return 0;
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
    hw->queued = hw->sleeping = hw->resuming = hw->timing = hw->resumed = hw->ask_missed = 0;
    atomic_store_explicit(&hw->granted, 0, memory_order_relaxed);
    atomic_store_explicit(&hw->protect_until_ns, 0, memory_order_relaxed);
}

void gil__handoff_estimates(const gil_t *gil, gil__handoff_estimates_t *out)
{
    const handoff_t *h = ((gil_t *)gil)->policy_state;
    out->grant_ns = h->ema_grant_ns;
    out->boost_hold_ns = h->ema_boost_hold_ns;
    out->wake_ns = h->ema_wake_ns;
    out->deferred_asks = h->deferred_asks;
    out->lost_resumptions = h->lost_resumptions;
    out->io_hold_floor_ns = h->io_hold_floor_ns;
}

static void ema(uint64_t *avg, uint64_t sample)
{
    *avg = *avg - *avg / 8 + sample / 8;
}

/* The longest protection (ns): PROTECT_CAP_NS, at most a quarter interval. */
static uint64_t protect_cap(const gil_t *gil)
{
    uint64_t quarter = atomic_load_explicit(&((gil_t *)gil)->interval_us, memory_order_relaxed) * 250u;
    return quarter < PROTECT_CAP_NS ? quarter : PROTECT_CAP_NS;
}

/* An I/O thread held the GIL for `held` ns, as it saw it (mu held): how much
 * of that was its own work?  The shortest holds are the lock's own cost (the
 * handover's tail, the release's bookkeeping), so the part above a slowly
 * rising running minimum is work; the rest counts as the interruption's
 * cost to the CPU thread, like the handovers.  The floor never exceeds a
 * handover (ema_grant_ns): an I/O thread that works in every hold (10 us of
 * interpreter work after each recv) has no short holds, and an unbounded
 * floor rose to its work, which then counted as the CPU thread's loss: the
 * protection sat at its 50 us cap and held the I/O thread at 22-45% of its
 * solo rate beside 8 CPU threads (measured, the 10us-1rel cells). */
static uint64_t io_work(handoff_t *h, uint64_t held)
{
    if (h->io_hold_floor_ns == 0 || held < h->io_hold_floor_ns)
        h->io_hold_floor_ns = held;
    else
        h->io_hold_floor_ns += (held - h->io_hold_floor_ns) / 256;
    if (h->io_hold_floor_ns > h->ema_grant_ns)
        h->io_hold_floor_ns = h->ema_grant_ns;
    return held > h->io_hold_floor_ns ? held - h->io_hold_floor_ns : 0;
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
    gil__handoff_waiter_t *nw = W(next);
    unqueue(h, next);
    /* The grantee is unregistered here, so that it need not take mu again
     * to return (a spinner returns without it). */
    gil__waiter_leave(gil);
    uint64_t now = gil__now_ns();
    if (nw->asked_ns != 0 && now > nw->asked_ns)
        ema(&h->ema_grant_ns, now - nw->asked_ns);
    nw->asked_ns = 0;
    /* A resumption is the turn owner's; anyone else's grant is a fresh turn
     * (otherwise its holds would count against nobody's turn). */
    bool fresh_turn = nw->klass == 1 && (!nw->resuming || next != h->turn_owner);
    if (fresh_turn) {
        h->turn++; /* not the resumption of an interrupted turn */
        h->turn_used_ns = 0;
        h->turn_owner = next;
    }
    /* A resumption: tell the owner how long I/O threads held meanwhile, so
     * that it can measure what the interruption cost it. */
    nw->ask_missed = 0;
    nw->resumed = nw->resuming;
    nw->gap_io_ns = nw->resuming ? h->gap_io_ns : 0;
    if (nw->resuming) { /* protect the resumed turn from now on: the I/O
                           thread granting it may be back before the owner runs */
        uint64_t cap = protect_cap(gil);
        uint64_t protect = PROTECT_FACTOR * atomic_load_explicit(&nw->ema_dead_ns, memory_order_relaxed);
        atomic_store_explicit(&nw->protect_until_ns, now + (protect < cap ? protect : cap),
                              memory_order_relaxed);
    }
    nw->resuming = 0;
    nw->boosted = nw->klass == 0;
    nw->granted_ns = now;
    nw->slept = nw->sleeping;
    atomic_store_explicit(&nw->granted, 1, memory_order_release);
    if (nw->sleeping)
        gil__cond_signal(&nw->wake);
    /* A fresh turn: the next CPU-bound thread in line must time it.  (One
     * already timing the old turn wakes at its deadline and recomputes.) */
    gil_tstate_t *head = h->head[1];
    if (fresh_turn && head != NULL && W(head)->sleeping && !W(head)->timing)
        gil__cond_signal(&W(head)->wake);
    return true;
}

/* A free GIL taken by a waiter (nobody else queued): a class-1 taker begins
 * a turn, as if granted. */
static void took_free(handoff_t *h, gil_tstate_t *ts)
{
    gil__handoff_waiter_t *hw = W(ts);
    uint64_t now = gil__now_ns();
    if (hw->queued)
        unqueue(h, ts);
    hw->boosted = hw->klass == 0;
    hw->granted_ns = now;
    hw->resuming = 0;
    if (hw->klass == 1) {
        h->turn++;
        h->turn_used_ns = 0;
        h->turn_owner = ts;
    }
}

/* ---- waiting ----------------------------------------------------------- */

/* Wait without the mutex, yielding the CPU, until granted, shutdown, or
 * the clock reads `deadline` (ns): a protection's deferral, which must not
 * keep the far end of the I/O (another thread or process on a 2-CPU
 * machine) from running. */
static void yield_until(gil_t *gil, gil_tstate_t *ts, uint64_t deadline)
{
    while (!atomic_load_explicit(&W(ts)->granted, memory_order_acquire) &&
           !atomic_load_explicit(&gil->shutdown, memory_order_relaxed) && gil__now_ns() < deadline)
        gil__thread_yield();
}

/* Spin without the mutex until granted, shutdown, or the clock reads
 * `deadline` (ns). */
static void spin_until(gil_t *gil, gil_tstate_t *ts, uint64_t deadline)
{
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

static void spin_for_grant(gil_t *gil, gil_tstate_t *ts, uint64_t spin_ns)
{
    spin_until(gil, ts, gil__now_ns() + spin_ns);
}

/* A class-0 waiter is about to ask (mu held): while the holder is a resumed
 * turn owner inside its protection, the request waits.  Returns the end of
 * the protection (ns), or 0 to ask now. */
static uint64_t protected_until(gil_t *gil, gil_tstate_t *ts, uintptr_t w, uint64_t cap_ns)
{
    gil_tstate_t *holder = gil__word_holder(w);
    if (W(ts)->klass != 0 || holder == NULL || W(holder)->boosted)
        return 0;
    uint64_t until = atomic_load_explicit(&W(holder)->protect_until_ns, memory_order_relaxed);
    uint64_t now = gil__now_ns();
    if (until == 0 || now >= until)
        return 0;
    return until - now < cap_ns ? until : now + cap_ns; /* the waiter's spin ceiling */
}

/* Our take returned holding the GIL (mu not held; the grant published the
 * granter's writes).  Note when the hold began; after a resumption, learn
 * what the interruption cost beyond the I/O threads' own work: the next
 * resumption's protection is PROTECT_FACTOR times that (grant_next). */
static void took_over(gil_t *gil, gil_tstate_t *ts)
{
    gil__handoff_waiter_t *hw = W(ts);
    uint64_t now = gil__now_ns();
    hw->ran_ns = now;
    if (!hw->resumed)
        return;
    hw->resumed = 0;
    uint64_t cap = protect_cap(gil);
    /* The protection counts from now, when we run again, not from the
     * grant: the way back from the grant (a spinner noticing it, the
     * bookkeeping) is part of what the interruption cost us. */
    uint64_t until = atomic_load_explicit(&hw->protect_until_ns, memory_order_relaxed);
    uint64_t granted = hw->granted_ns;
    if (until > granted && now > granted)
        atomic_store_explicit(&hw->protect_until_ns, until + (now - granted), memory_order_relaxed);
    uint64_t away = now > hw->dropped_ns ? now - hw->dropped_ns : 0;
    uint64_t dead = away > hw->gap_io_ns ? away - hw->gap_io_ns : 0;
    if (dead > cap)
        dead = cap; /* it was descheduled: that is not a handover's cost */
    uint64_t avg = atomic_load_explicit(&hw->ema_dead_ns, memory_order_relaxed);
    if (avg == 0)
        avg = dead;
    else
        ema(&avg, dead);
    atomic_store_explicit(&hw->ema_dead_ns, avg, memory_order_relaxed);
}

static uint64_t clamp_spin(uint64_t want, uint64_t cap_ns, const handoff_t *h)
{
    uint64_t limit = 2 * h->ema_wake_ns; /* beyond that, sleeping is cheaper */
    if (want < SPIN_FLOOR_NS)
        want = SPIN_FLOOR_NS;
    if (want > limit)
        want = limit;
    return want < cap_ns ? want : cap_ns;
}

/* How long this waiter should spin now (mu held).  See the notes. */
static uint64_t spin_budget(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    handoff_t *h = queues(gil);
    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_relaxed));
    switch (p->spin) {
    case GIL__SPIN_ASKER:
        return clamp_spin(3 * h->ema_grant_ns, p->spin_cap_ns, h);
    case GIL__SPIN_RESUMER:
        /* Only behind an I/O thread: another CPU thread's turn is long. */
        if (holder == NULL || !W(holder)->boosted || !W(ts)->resuming)
            return 0;
        return clamp_spin(2 * h->ema_boost_hold_ns + SPIN_FLOOR_NS, p->spin_cap_ns, h);
    case GIL__SPIN_NONE:
    default:
        return 0;
    }
}

static bool is_head(const handoff_t *h, const gil_tstate_t *ts)
{
    return h->head[W(ts)->klass] == ts;
}

static uint64_t interval_ns(const gil_t *gil)
{
    return atomic_load_explicit(&((gil_t *)gil)->interval_us, memory_order_relaxed) * 1000u;
}

/* Has the holder, granted as an I/O thread, held for a whole interval? */
static bool boost_overstayed(const gil_t *gil, const gil_tstate_t *holder, uint64_t now)
{
    return W(holder)->boosted && now - W(holder)->granted_ns >= interval_ns(gil);
}

/* How much of the current turn its owner has used (ns): its holds since the
 * turn began, the one in progress included.  Time an I/O thread holds the
 * GIL in the middle of a turn does not count: every CPU thread gets the
 * same GIL time per turn however often I/O interrupts it. */
static uint64_t turn_used(const handoff_t *h, const gil_tstate_t *holder, uint64_t now)
{
    uint64_t used = h->turn_used_ns;
    if (holder != NULL && holder == h->turn_owner && now > W(holder)->granted_ns)
        used += now - W(holder)->granted_ns;
    return used;
}

/* Is the recorded turn the one going on?  Its owner holds the GIL, or waits
 * at the front to resume it.  (Otherwise the record is stale: the GIL
 * changed hands without a grant, through the fast path.) */
static bool turn_live(const handoff_t *h, const gil_tstate_t *holder)
{
    const gil_tstate_t *owner = h->turn_owner;
    return owner != NULL && (owner == holder || (W(owner)->queued && W(owner)->resuming));
}

/* A CPU holder that took the GIL without a grant (the fast CAS: the GIL
 * was free and nobody queued) has no turn on record.  Give it one (mu
 * held), counted from when its hold began to be timed (gil->hold_t0: its
 * acquisition, or the first waiter's arrival, see core.c): otherwise an I/O
 * request would not resume it (only the turn's owner resumes), and the
 * first waiter behind it would get the GIL at the first I/O interruption
 * instead of after a turn. */
static void adopt_turn(gil_t *gil, handoff_t *h, gil_tstate_t *holder, uint64_t now)
{
    if (holder == NULL || turn_live(h, holder) ||
        (W(holder)->boosted && !boost_overstayed(gil, holder, now)))
        return;
    uint64_t t0 = atomic_load_explicit(&gil->hold_t0, memory_order_relaxed);
    h->turn++;
    h->turn_used_ns = 0;
    h->turn_owner = holder;
    W(holder)->boosted = 0; /* stale: it let go through the fast path */
    W(holder)->granted_ns = t0 != 0 && t0 <= now ? t0 : now;
}

/* Make a drop request (mu held; may drop and retake mu).
 *   class 0 (an I/O thread is back): whoever holds the GIL drops, unless it
 *     is another I/O thread within its interval (it lets go soon); a CPU
 *     holder is marked preempted, so that it resumes its turn first;
 *   class 1 (the head, the turn is over): the turn's owner drops: the holder
 *     if it is the owner (or any CPU holder), or, while an I/O thread holds
 *     the GIL, the interrupted owner waiting to resume, at its first check
 *     point after it resumed.
 * Returns true if a request was made to someone. */
static bool ask(gil_t *gil, gil_tstate_t *ts, uintptr_t w)
{
    handoff_t *h = queues(gil);
    gil_tstate_t *holder = gil__word_holder(w);
    uint64_t now = gil__now_ns();
    adopt_turn(gil, h, holder, now);
    bool holder_is_io = W(holder)->boosted && !boost_overstayed(gil, holder, now);
    if (W(ts)->klass == 1) {
        gil_tstate_t *owner = h->turn_owner;
        if (holder_is_io) {
            if (owner == NULL || owner == ts || !W(owner)->queued || !W(owner)->resuming)
                return false; /* nobody's turn to end; the I/O thread lets go soon */
            atomic_store_explicit(&W(owner)->preempted_by_io, 0, memory_order_relaxed);
            gil__breaker_set(owner, GIL__BREAK_DROP);
            return true;
        }
        atomic_store_explicit(&W(holder)->preempted_by_io, 0, memory_order_relaxed);
    } else {
        if (holder_is_io)
            return false;
        /* A CPU holder resumes after the I/O thread, unless its turn is
         * used up: then the I/O request doubles as the end of its turn (it
         * queues at the tail), or the CPU thread that I/O interrupts the
         * most would keep resuming past its turn. */
        bool owner = holder == h->turn_owner;
        bool over = owner && turn_used(h, holder, now) >= interval_ns(gil);
        /* Only the turn's owner resumes: a CPU holder whose turn it is not
         * would resume at the front forever, its holds counted against no
         * turn, and the waiter queued behind it would starve. */
        atomic_store_explicit(&W(holder)->preempted_by_io, !W(holder)->boosted && owner && !over,
                              memory_order_relaxed);
    }
    W(ts)->asked_ns = now;
    gil__request_drop(gil, ts, w); /* last: it may drop mu */
    return true;
}

/* How soon the head of class 1 looks again after an end-of-turn request
 * found nobody to ask: 1/16 of the interval (an I/O hold is far shorter),
 * at least 20 us. */
static uint64_t retry_ns(uint64_t iv)
{
    uint64_t floor = iv < 20000u ? iv : 20000u;
    return iv / 16 > floor ? iv / 16 : floor;
}

/* Sleep once (mu held).  The head of class 1 sleeps until the turn is over
 * and then ends it; the head of class 0 re-asks every interval (its request
 * may have found another I/O thread holding); the others sleep for a few
 * intervals at most (SAFETY_INTERVALS: liveness must not rest on every
 * wake-up being delivered). */
static void sleep_once(gil_t *gil, gil_tstate_t *ts)
{
    handoff_t *h = queues(gil);
    gil__handoff_waiter_t *hw = W(ts);
    uint64_t now = gil__now_ns(), iv = interval_ns(gil);
    bool head = is_head(h, ts);
    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_relaxed));
    if (head && hw->klass == 1)
        adopt_turn(gil, h, holder, now); /* before `turn` is read: the turn we time */
    uint64_t turn = h->turn, timeout;
    if (head && hw->klass == 1 && turn_live(h, holder) && h->turn_owner != ts) {
        uint64_t used = turn_used(h, holder, now);
        /* Over already: a request is out, unless our last one found nobody
         * to ask (the owner had just handed the GIL to an I/O thread and was
         * not queued yet); then look again soon, or the owner, which I/O
         * threads interrupt the most, would get a second interval. */
        timeout = used < iv ? iv - used : hw->ask_missed ? retry_ns(iv) : iv;
        hw->timing = 1;
    } else {
        timeout = head ? iv : SAFETY_INTERVALS * iv;
    }
    hw->sleeping = 1;
    int timed_out = gil__cond_timedwait_ns(&hw->wake, &gil->mu, timeout);
    hw->sleeping = 0;
    hw->timing = 0;
    gil__waiter_poll(gil, ts); /* may drop mu: everything is re-read below */
    uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
    if (atomic_load_explicit(&hw->granted, memory_order_relaxed) || w == 0 ||
        atomic_load_explicit(&gil->shutdown, memory_order_relaxed) || !is_head(h, ts))
        return;
    now = gil__now_ns();
    if (hw->klass == 0) {
        if (timed_out)
            ask(gil, ts, w);
        return;
    }
    /* Class 1: CPython's rule in turns (a switch to or from an I/O thread
     * does not restart the fairness clock, a fresh turn does).  Without a
     * live turn, an interval of our own waiting is the turn. */
    holder = gil__word_holder(w);
    bool live = turn_live(h, holder) && h->turn_owner != ts;
    bool over = live ? turn_used(h, holder, now) >= iv : timed_out;
    /* Asking again is harmless: a holder already asked is not asked twice
     * (gil__request_drop), and a request may have been used up by a
     * handover that did not start a turn (a resumption), so it must be
     * renewed until a fresh turn begins. */
    if (h->turn == turn && over) {
        hw->ask_missed = !ask(gil, ts, w);
    } else if (timed_out) {
        atomic_fetch_add_explicit(&gil->requests_withheld, 1, memory_order_relaxed);
    }
}

/* A grant arrived and we hold mu: learn how long a sleeper takes to run. */
static int granted_locked(handoff_t *h, gil_tstate_t *ts)
{
    gil__handoff_waiter_t *hw = W(ts);
    uint64_t now = gil__now_ns();
    atomic_store_explicit(&hw->granted, 0, memory_order_relaxed);
    if (hw->slept && now > hw->granted_ns)
        ema(&h->ema_wake_ns, now - hw->granted_ns);
    return GIL__WAIT_GRANTED_LOCKED;
}

/* After spinning or yielding without mu: were we granted meanwhile?  Then
 * the granter did our bookkeeping (under mu, published by the grant), and
 * we return without taking mu again: one lock round trip less per handoff. */
static bool grant_seen_unlocked(gil_tstate_t *ts)
{
    if (!atomic_load_explicit(&W(ts)->granted, memory_order_acquire))
        return false;
    atomic_store_explicit(&W(ts)->granted, 0, memory_order_relaxed);
    return true;
}

/* The wait loop.  Called with mu held and the caller registered as a
 * waiter.  Returns 0 holding the GIL, or GIL_ESHUTDOWN. */
static int wait_for_grant(gil_t *gil, gil_tstate_t *ts, const gil__wait_req_t *req)
{
    const gil__wait_params_t *p = req->params;
    handoff_t *h = queues(gil);
    bool asked = !p->ask_at_once, spun = p->spin == GIL__SPIN_NONE, deferred = false;
    for (;;) {
        if (atomic_load_explicit(&W(ts)->granted, memory_order_acquire))
            return granted_locked(h, ts);
        if (atomic_load_explicit(&gil->shutdown, memory_order_acquire)) {
            if (W(ts)->queued)
                unqueue(h, ts);
            return GIL_ESHUTDOWN;
        }
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        if (w == 0) {
            if (any_queued(h) && peek_next(h) != ts)
                grant_next(gil, 0); /* the queue goes first */
            else if (gil__waiter_try_take(gil, ts)) {
                took_free(h, ts);
                return 0;
            }
            continue;
        }
        if (!W(ts)->queued) { /* only the turn's owner resumes it: if a fresh
                                 turn began while we were away (the I/O thread
                                 granted it before we queued), queue at the tail */
            if (p->resume && h->turn_owner != ts)
                h->lost_resumptions++;
            enqueue(h, ts, p->klass, p->resume && h->turn_owner == ts);
        }
        if (!gil__waiter_set_w(gil, w))
            continue;
        if (!asked) {
            uint64_t until = p->spin == GIL__SPIN_NONE ? 0 : protected_until(gil, ts, w, p->spin_cap_ns);
            if (until != 0) { /* wait until the protection ends, then ask */
                if (!deferred) /* once per request: the owner may extend it */
                    h->deferred_asks++;
                deferred = true;
                gil__mutex_unlock(&gil->mu);
                yield_until(gil, ts, until);
                if (grant_seen_unlocked(ts))
                    return GIL__WAIT_GRANTED_UNLOCKED;
                gil__mutex_lock(&gil->mu);
                continue;
            }
            asked = true;
            ask(gil, ts, w); /* may drop mu: re-check everything */
            continue;
        }
        if (!spun) {
            spun = true;
            uint64_t budget = spin_budget(gil, ts, p);
            if (budget != 0) {
                gil__mutex_unlock(&gil->mu);
                spin_for_grant(gil, ts, budget);
                if (grant_seen_unlocked(ts))
                    return GIL__WAIT_GRANTED_UNLOCKED;
                gil__mutex_lock(&gil->mu);
            }
            continue;
        }
        sleep_once(gil, ts);
    }
}

/* A waiter cancelled in its sleep (gil->mu held again): leave the queue;
 * if the GIL was handed to us meanwhile, hand it on as a release would. */
static bool wait_cancelled(gil_t *gil, gil_tstate_t *ts)
{
    handoff_t *h = queues(gil);
    gil__handoff_waiter_t *hw = W(ts);
    hw->sleeping = 0;
    hw->timing = 0;
    if (hw->queued)
        unqueue(h, ts);
    if (h->turn_owner == ts)
        h->turn_owner = NULL;
    if (atomic_exchange_explicit(&hw->granted, 0, memory_order_acquire)) {
        uintptr_t w = atomic_load_explicit(&gil->word, memory_order_relaxed);
        hw->boosted = hw->resumed = 0;
        atomic_store_explicit(&hw->protect_until_ns, 0, memory_order_relaxed);
        if (gil__word_holder(w) == ts && !grant_next(gil, w))
            gil__fatal("handoff: the lock word changed under gil->mu while a cancelled waiter held it");
        return false; /* the grant unregistered us */
    }
    return true;
}

int gil__handoff_take(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    gil__wait_req_t req = {GIL__ANY_SWITCH, p};
    int rc = gil__waiter_run(gil, ts, wait_for_grant, wait_cancelled, &req, false);
    if (rc == 0)
        took_over(gil, ts);
    return rc;
}

/* The holder hands over.  Only waiters change a held word, and they do it
 * under mu, so the CAS from the holder's own word cannot fail. */
static void holder_grant_next(gil_t *gil, gil_tstate_t *ts)
{
    handoff_t *h = queues(gil);
    gil__handoff_waiter_t *hw = W(ts);
    uint64_t now = gil__now_ns();
    if (hw->boosted) { /* an I/O thread's hold ends: learn its length */
        if (now > hw->granted_ns)
            ema(&h->ema_boost_hold_ns, now - hw->granted_ns);
        if (hw->ran_ns != 0 && now > hw->ran_ns)
            h->gap_io_ns += io_work(h, now - hw->ran_ns);
        hw->boosted = 0;
    } else { /* a CPU thread lets go: it may be resumed after I/O */
        hw->dropped_ns = now;
        h->gap_io_ns = 0;
        atomic_store_explicit(&hw->protect_until_ns, 0, memory_order_relaxed);
    }
    if (ts == h->turn_owner && now > hw->granted_ns)
        h->turn_used_ns += now - hw->granted_ns; /* its turn pauses */
    if (!grant_next(gil, atomic_load_explicit(&gil->word, memory_order_relaxed)))
        gil__fatal("handoff: the lock word changed under gil->mu while a thread held it");
}

void gil__handoff_drop(gil_t *gil, gil_tstate_t *ts)
{
    gil__mutex_lock(&gil->mu);
    holder_grant_next(gil, ts);
    gil__mutex_unlock(&gil->mu);
}

/* Give the GIL up and wait for it back, queued before the handover: the
 * holder registers as a waiter and takes its place in line (at the front
 * of its class if p->resume and its turn is still the current one, else at
 * the tail), then hands over to the head, then waits.  Queued first, it
 * cannot miss its place: a CPU thread that honoured an I/O thread's request
 * by dropping and only then queuing to resume was overtaken whenever the
 * I/O thread let go first (its hold between the two halves of a 2rel round
 * trip is well under a microsecond): the grant went to the next CPU thread
 * as a fresh turn, and the interrupted turn was lost.  That cut a quarter
 * of the turns short beside such I/O, measured with 8 CPU threads
 * (lost_resumptions), and cost the CPU threads the fair-share goal in the
 * convoy matrix's 2rel cells. */
static int requeue_and_wait(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p,
                            gil_reason_t why)
{
    handoff_t *h = queues(gil);
    gil__switch_release_bookkeeping(gil, ts, why);
    uint64_t t0 = gil__now_ns();
    atomic_store_explicit(&ts->waiting, 1, memory_order_relaxed);
    gil__mutex_lock(&gil->mu);
    gil__waiter_enter(gil);
    bool resume = p->resume && h->turn_owner == ts;
    if (p->resume && !resume)
        h->lost_resumptions++;
    enqueue(h, ts, p->klass, resume);
    holder_grant_next(gil, ts);
    gil_tstate_t *grantee = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_relaxed));
    gil__mutex_unlock(&gil->mu);
    if (why == GIL_REASON_DROP && gil__observed(gil)) /* as gil__take's wait would */
        gil__emit(gil, GIL_EVENT_WAIT, ts, grantee, t0, 0, GIL_REASON_RELEASE);
    gil__wait_req_t req = {GIL__ANY_SWITCH, p};
    int rc = gil__waiter_run(gil, ts, wait_for_grant, wait_cancelled, &req, true);
    atomic_store_explicit(&ts->waiting, 0, memory_order_release);
    if (rc != 0)
        return rc;
    took_over(gil, ts);
    return gil__switch_acquired(gil, ts, t0);
}

/* gil_yield: to the tail of its class (p->resume is false). */
int gil__handoff_yield(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    return requeue_and_wait(gil, ts, p, GIL_REASON_YIELD);
}

/* A check point honours a drop request: to the front if p->resume. */
int gil__handoff_honour_drop(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p)
{
    return requeue_and_wait(gil, ts, p, GIL_REASON_DROP);
}

/* Shutdown: wake every queued waiter (called with mu held). */
void gil__handoff_wake_all(gil_t *gil)
{
    handoff_t *h = queues(gil);
    for (int k = 0; k < 2; k++)
        for (gil_tstate_t *ts = h->head[k]; ts != NULL; ts = W(ts)->q_next)
            gil__cond_signal(&W(ts)->wake);
}
