/*
 * policy/priority.c - GIL_POLICY_PRIORITY: the convoy fix.
 *
 * Layer: policy (calls core and platform only).
 *
 * The convoy effect (bpo-7946): an I/O thread releases the GIL around every
 * system call and, when the call returns, waits a whole switch interval for
 * a CPU-bound holder.  CPython never fixed it; Beazley (a priority flag),
 * Pitrou ("interactiveness") and Aides (a BFS scheduler) proposed fixes.
 * This policy combines them on top of handoff.c:
 *
 *   - Two classes of waiters.  A thread whose last release was voluntary (a
 *     blocking call, or gil_release) comes back in class 0: it asks the
 *     holder to drop at once instead of after an interval, and the holder's
 *     next check point hands the GIL straight to it.  A thread whose last
 *     release was forced (a drop request, a yield) is CPU-bound and waits in
 *     class 1, where threads share the GIL fairly at the switch interval,
 *     in arrival order (Beazley's flag: forced -> CPU-bound; a voluntary
 *     release resets it).
 *   - No abuse.  Voluntary is not the same as blocking: a thread that wraps
 *     non-blocking work in allow-threads sections would otherwise preempt
 *     everyone.  A section shorter than `priority_abuse_ns` is suspicious;
 *     `priority_abuse_count` of them in a row demote the thread to class 1
 *     until it really blocks again.  One short section must not demote: a
 *     non-blocking send() on a socket returns in ~2 us (measured here).
 *   - Spinning, measured.  The returning I/O thread spins for the grant it
 *     asked for, and the CPU thread it interrupted spins while it holds the
 *     GIL, both for budgets the engine measures (handoff.c: the time
 *     holders take to hand over, the length of I/O threads' holds, the cost
 *     of a sleep and wake-up); the config's priority_spin_*_us are only
 *     ceilings.  Other CPU threads sleep: their turn is an interval away.
 *
 * A waiter's states (all under gil->mu; the engine's fields in brackets):
 *
 *                    ask at once                     grant (handoff)
 *   I/O back ------> QUEUED class 0 [queued, klass 0] --------------> HOLDS, boosted
 *     |                 | spin (ASKER) / sleep (head re-asks each interval)
 *     |  4 fast returns in a row: demoted, waits as a CPU thread
 *     v
 *   CPU wait ------> QUEUED class 1, tail --(head: sleeps [timing] until the
 *                       |                   turn is over, then asks)
 *                       v  grant = fresh turn [turn++, turn_used_ns = 0, turn_owner]
 *                     HOLDS, turn owner --(I/O asks: drop at the next check,
 *                       ^                   preempted_by_io = 1)
 *                       |                   v
 *                       +-- grant -- QUEUED class 1, front [resuming]:
 *                                    spin (RESUMER) while the I/O thread holds
 *
 * A turn ends when the head of class 1 asks after an interval: the owner
 * drops (if an I/O thread holds the GIL, the resuming owner gets the request
 * and drops at its first check point), queues at the tail without
 * `resuming`, and the head's grant is a fresh turn.  An I/O thread that
 * holds for a whole interval counts as CPU-bound: it is asked to drop, and
 * its forced release sends it to class 1.
 *
 * The policy needs to know when and why each thread last released, so it
 * times every hold (GIL__POLICY_TIMED): its uncontended acquire/release
 * reads the clock twice, which the CPython policy never does.
 */
#include "policy/policy.h"

/* Per-thread state: the handoff engine's waiter first. */
typedef struct priority_tstate {
    gil__handoff_waiter_t waiter;
    unsigned fast_returns; /* consecutive allow-threads sections shorter than
                              the abuse bound [owner] */
} priority_tstate_t;

static priority_tstate_t *prio_of(const gil_tstate_t *ts)
{
    return gil__policy_tstate(ts);
}

/* Decide the class of a thread that must wait, and run the abuse guard. */
static int classify(gil_t *gil, gil_tstate_t *ts)
{
    if (ts->last_release_why != GIL_REASON_SAVE && ts->last_release_why != GIL_REASON_RELEASE)
        return 1; /* forced or yielded: CPU-bound */
    if (ts->last_release_ns == 0)
        return 1; /* a new thread has not shown that it blocks */
    uint64_t now = gil__now_ns();
    uint64_t away = now > ts->last_release_ns ? now - ts->last_release_ns : 0;
    unsigned limit = gil->config.priority_abuse_count;
    if (limit == 0)
        return 0; /* the guard is off */
    if (away >= gil->config.priority_abuse_ns) {
        prio_of(ts)->fast_returns = 0;
    } else if (prio_of(ts)->fast_returns < limit && ++prio_of(ts)->fast_returns == limit) {
        gil__counter_add(&ts->demotions, 1);
    }
    return prio_of(ts)->fast_returns >= limit ? 1 : 0;
}

/* The wait of a thread of class klass: resume (class 1 only) if an I/O
 * thread interrupted its turn. */
static void wait_params(const gil_t *gil, int klass, bool resume, gil__wait_params_t *p)
{
    p->klass = klass;
    p->ask_at_once = klass == 0;
    p->resume = klass == 1 && resume;
    /* The returning I/O thread spins for the grant it asked for; a CPU
     * thread an I/O thread interrupted spins while the I/O thread holds;
     * a CPU thread waiting for its turn sleeps (a turn is long). */
    p->spin = klass == 0 ? GIL__SPIN_ASKER : p->resume ? GIL__SPIN_RESUMER : GIL__SPIN_NONE;
    p->spin_cap_ns = 1000u * (uint64_t)(klass == 0 ? gil->config.priority_spin_io_us
                                                   : gil->config.priority_spin_cpu_us);
    if (p->spin_cap_ns == 0)
        p->spin = GIL__SPIN_NONE;
}

/* Did the pending drop request come from an I/O thread?  (Set under mu
 * before the DROP bit, which the caller has seen.) */
static bool preempted_by_io(const gil_tstate_t *ts)
{
    return atomic_load_explicit(&prio_of(ts)->waiter.preempted_by_io, memory_order_relaxed);
}

static int priority_take(gil_t *gil, gil_tstate_t *ts)
{
    gil__wait_params_t p;
    int klass = classify(gil, ts);
    /* A CPU-bound thread that an I/O thread interrupted resumes its turn
     * first: it is still spinning, so handing back to it costs no wake-up,
     * and the I/O thread's slice does not count against its quantum.  (A
     * check point's drop goes through priority_honour_drop; this is the
     * rest: a drop request honoured by a release.) */
    wait_params(gil, klass, ts->last_release_why == GIL_REASON_DROP && preempted_by_io(ts), &p);
    if (klass == 0)
        gil__counter_add(&ts->boosts, 1);
    return gil__handoff_take(gil, ts, &p);
}

/* A check point honours a drop request: a CPU-bound thread by definition
 * (classify's first rule), queued to resume before it hands over if an I/O
 * thread interrupted it. */
static int priority_honour_drop(gil_t *gil, gil_tstate_t *ts)
{
    gil__wait_params_t p;
    wait_params(gil, 1, preempted_by_io(ts), &p);
    return gil__handoff_honour_drop(gil, ts, &p);
}

static void priority_drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force)
{
    (void)why;
    (void)force;
    gil__handoff_drop(gil, ts);
}

static int priority_yield(gil_t *gil, gil_tstate_t *ts)
{
    gil__wait_params_t p;
    wait_params(gil, 1, false, &p);
    return gil__handoff_yield(gil, ts, &p);
}

const gil__policy_ops_t gil__policy_priority = {
    .name = "priority",
    .id = GIL_POLICY_PRIORITY,
    .flags = GIL__POLICY_TIMED,
    .tstate_size = sizeof(priority_tstate_t),
    .init = gil__handoff_init,
    .fini = gil__handoff_fini,
    .tstate_init = gil__handoff_tstate_init,
    .tstate_fini = gil__handoff_tstate_fini,
    .take = priority_take,
    .drop = priority_drop,
    .yield = priority_yield,
    .honour_drop = priority_honour_drop,
    .check = NULL,
    .wake_all = gil__handoff_wake_all,
    .after_fork_child = gil__handoff_after_fork_child,
    .tstate_after_fork_child = gil__handoff_tstate_after_fork_child,
};
