/*
 * core/core.h - the core layer: the lock word, thread states, the registry,
 * pending calls, ensure, fork and the lifecycle of a GIL.  Not installed.
 *
 * Layers (docs/design.md has the picture).  Each includes only the headers
 * of the layers below it:
 *   platform/  mutex, condvar, clock, thread identity, fatal errors
 *   core/      this header: what a GIL is, and the two interfaces through
 *              which the core calls the layers above it without naming them:
 *              gil__policy_ops_t (a scheduling policy implements it) and
 *              gil__observer_ops_t (the observability layer implements it)
 *   policy/    cpython, legacy, fifo, priority, the shared waiter protocol
 *              and the handoff engine
 *   observe/   hooks, statistics, traces, load figures, Prometheus, watchdog
 *   gil.c      the top: gil_create / gil_destroy wire a core GIL to its
 *              policy and to the observers
 *
 * Every field says its unit and what guards it:
 *   [holder]   written only by the thread that holds the GIL, while it
 *              holds it; read relaxed by anyone (statistics).
 *   [owner]    written only by the thread that owns the tstate.
 *   [mu]       guarded by gil->mu.
 *   [switch]   guarded by gil->switch_mu.
 *   [reg]      guarded by gil->reg_mu.
 *   [atomic]   an atomic; the comment says what it orders.
 *   [const]    set at creation, never changed while the object lives.
 */
#ifndef GIL_CORE_H
#define GIL_CORE_H

#include "gil.h"
#include "platform/platform.h"

#include <stdatomic.h>
#include <stdbool.h>

/* ------------------------------------------------------------------------ */
/* Misuse                                                                   */

/* Return err from function fn; a GIL_DEBUG build aborts instead, naming the
 * function and the thread (Lua's checker build). */
int gil__misuse(const char *fn, int err);
#define GIL__MISUSE(err) gil__misuse(__func__, (err))

/* ------------------------------------------------------------------------ */
/* The check point's breaker bits (gil.h's struct gil_internal_tstate_head)         */

#define GIL__BREAK_DROP 0x1u      /* a waiter asks the holder to drop */
#define GIL__BREAK_PENDING 0x2u   /* pending calls may be queued */
#define GIL__BREAK_INTERRUPT 0x4u /* gil_tstate_interrupt */
#define GIL__BREAK_SHUTDOWN 0x8u  /* gil_shutdown */
#define GIL__BREAK_POLICY 0x10u   /* policy-specific work (ticks, ...) */


/* ------------------------------------------------------------------------ */
/* Histograms (hist.c): the core's latency records                          */

/* Log-linear: values below 2^SUB_BITS ns are exact; above, each power of two
 * is split in 2^SUB_BITS buckets (relative error <= 1/32, "~2 significant
 * digits").  Values above 2^MAX_EXP ns (~18 minutes) share the last bucket;
 * max is kept exactly.  Single writer (see each use), any reader. */
#define GIL__HIST_SUB_BITS 5
#define GIL__HIST_SUB (1u << GIL__HIST_SUB_BITS)
#define GIL__HIST_MAX_EXP 40
#define GIL__HIST_BUCKETS (GIL__HIST_SUB * (GIL__HIST_MAX_EXP - GIL__HIST_SUB_BITS + 2))

typedef struct gil__hist {
    _Atomic uint64_t count;                       /* values recorded */
    _Atomic uint64_t max;                         /* ns */
    _Atomic uint64_t bucket[GIL__HIST_BUCKETS];   /* values per bucket */
    _Atomic uint64_t sum;                         /* ns, of the values recorded */
} gil__hist_t;

void gil__hist_record(gil__hist_t *h, uint64_t value_ns);
void gil__hist_summary(const gil__hist_t *h, gil_hist_summary_t *out);
void gil__hist_reset(gil__hist_t *h);
/* The value at quantile q (0..1): the upper bound of the bucket holding it,
 * capped at max.  0 for an empty histogram. */
uint64_t gil__hist_quantile(const gil__hist_t *h, double q);
/* The largest value that maps to bucket b (for exporters' bucket bounds). */
uint64_t gil__hist_bucket_upper(unsigned b);

/* Single-writer counter increment: the writer is unique (the holder or the
 * owner), so a relaxed load + store is enough and costs no locked
 * instruction; readers use relaxed loads. */
static inline void gil__counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Thread states                                                            */

#define GIL__TS_ALIVE 0x67696c74u /* "gilt" */
#define GIL__TS_DEAD 0x64656164u  /* "dead" */

struct gil_tstate {
    struct gil_internal_tstate_head head; /* must be first: gil_check reads it.
                                     breaker [atomic builtins]: set by anyone,
                                     read relaxed by the owner; a set bit only
                                     sends the owner to the slow path, which
                                     re-reads the state it describes under the
                                     proper lock or with acquire loads. */
    _Atomic uint32_t magic;       /* GIL__TS_ALIVE / GIL__TS_DEAD [reg] */
    gil_t *gil;                   /* [const] */
    _Atomic uintptr_t owner;      /* gil__thread_id() of the owner [const while
                                     alive]; atomic because other threads read it
                                     through a relaxed load of the lock word (a
                                     state that was just deleted and reused is
                                     valid memory, see registry.c) */
    char name[32];                /* [const while alive] */

    /* Registry: an RCU list (see registry.c). */
    _Atomic(gil_tstate_t *) next; /* [reg] writes, release; readers acquire */
    gil_tstate_t *prev;           /* [reg] (writers only) */
    gil_tstate_t *pool_next;      /* limbo / free pool link [reg] */

    /* Owner-thread bookkeeping. */
    gil_tstate_t *prev_current;   /* the current state before this one [owner] */
    struct gil__thread_rec *thread_rec; /* the owner thread's record, NULL once
                                     the thread ended (thread.c) [threads_mu] */
    gil_tstate_t *thread_next;    /* in that record's list [threads_mu] */
    _Atomic int orphaned;         /* the owner thread ended without deleting
                                     the state: owner is 0, any thread may
                                     delete it (thread.c) [atomic] release */
    _Atomic int busy;             /* nesting count of the owner's libgil calls
                                     that are in a slow path (may block, may
                                     have let go of the GIL): another thread's
                                     gil_tstate_delete is GIL_EBUSY while > 0,
                                     so gil_destroy cannot free what the owner
                                     still touches [atomic] seq_cst */
    _Atomic int waiting;          /* 1 while the owner is inside a policy's
                                     take or a forced-switch wait [atomic] */
    int pending_error;            /* a failing pending call run at acquire,
                                     reported by the next gil_check [owner] */
    _Atomic int interrupt_code;   /* gil_tstate_interrupt; xchg'd by the owner */

    /* Release history [owner]: written when a release takes the slow
     * bookkeeping path (every release under a policy with
     * GIL__POLICY_TIMED). */
    gil_reason_t last_release_why;
    uint64_t last_release_ns;     /* ns */

    /* Statistics [owner], read relaxed by anyone. */
    _Atomic uint64_t acquisitions;
    _Atomic uint64_t contended;
    _Atomic uint64_t drop_requests;   /* made by this thread while waiting */
    _Atomic uint64_t forced_switches;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t hold_ns;
    _Atomic uint64_t boosts;      /* waits the policy served with priority */
    _Atomic uint64_t demotions;   /* priority the policy withdrew */
    gil__hist_t wait_hist;
    gil__hist_t hold_hist;

    /* Identity, for the observers. */
    _Atomic uint64_t obs_id;      /* gil_tstate_id [reg writes at creation];
                                     atomic: read relaxed as an event's
                                     "other", which may be being deleted */
    uint64_t created_ns;          /* [const while alive] */
    /* One pointer the observability layer keeps per state (its trace ring);
     * the core only clears it.  See observe/trace.c for its protocol. */
    _Atomic(void *) obs_slot;

    /* The policy's per-thread state: gil->policy->tstate_size bytes (see
     * gil__policy_tstate).  Last: its size depends on the policy. */
    max_align_t policy_area[];
};

/* The policy's per-thread state of ts. */
static inline void *gil__policy_tstate(const gil_tstate_t *ts)
{
    return (void *)((gil_tstate_t *)ts)->policy_area;
}

/* Bracket a slow path of the owner (see gil_tstate.busy). */
static inline void gil__busy_enter(gil_tstate_t *ts)
{
    atomic_fetch_add_explicit(&ts->busy, 1, memory_order_seq_cst);
}
static inline void gil__busy_leave(gil_tstate_t *ts)
{
    atomic_fetch_sub_explicit(&ts->busy, 1, memory_order_seq_cst);
}

static inline uintptr_t gil__owner(const gil_tstate_t *ts)
{
    return atomic_load_explicit(&((gil_tstate_t *)ts)->owner, memory_order_relaxed);
}

static inline uint32_t gil__breaker_load(const gil_tstate_t *ts)
{
    return __atomic_load_n(&ts->head.breaker, __ATOMIC_RELAXED);
}
/* Setting a bit is a release: the data the bit announces (a queued pending
 * call, an interrupt code) is visible to the owner once it sees the bit. */
static inline void gil__breaker_set(gil_tstate_t *ts, uint32_t bits)
{
    __atomic_fetch_or(&ts->head.breaker, bits, __ATOMIC_RELEASE);
}
/* Clearing is an acquire: pairs with gil__breaker_set. */
static inline uint32_t gil__breaker_clear(gil_tstate_t *ts, uint32_t bits)
{
    return __atomic_fetch_and(&ts->head.breaker, ~bits, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* Pending calls (pending.c): a bounded lock-free MPSC ring (Vyukov's
 * bounded queue: one sequence number per slot), async-signal-safe.        */

typedef struct gil__pending_slot {
    _Atomic uint64_t seq;       /* == pos: free for the producer of pos;
                                   == pos + 1: published for the consumer.
                                   Release by the writer, acquire by the reader. */
    int (*fn)(void *);          /* NULL: a slot voided after fork */
    void *arg;
} gil__pending_slot_t;

typedef struct gil__pending {
    gil__pending_slot_t *slots;     /* [const] capacity slots */
    uint64_t mask;                  /* [const] capacity - 1 */
    _Atomic uint64_t enqueue_pos;   /* claimed by producers with CAS */
    _Atomic uint64_t dequeue_pos;   /* advanced by the one running consumer */
    _Atomic int busy;               /* a consumer is running calls (one at a time) */
} gil__pending_t;

int gil__pending_init(gil__pending_t *p, unsigned capacity);
void gil__pending_fini(gil__pending_t *p);
/* Run queued calls with the GIL held by ts.  Returns 0, or the first
 * non-zero return of a call (the rest stay queued for the next check). */
int gil__pending_run(gil_t *gil, gil_tstate_t *ts);
void gil__pending_after_fork_child(gil_t *gil, gil__pending_t *p);

/* ------------------------------------------------------------------------ */
/* The interface a scheduling policy implements (policy/)                  */

/* gil__policy_ops_t.flags */
#define GIL__POLICY_TIMED 0x1u /* time every hold and record every release in
                                  the state's release history (a clock read
                                  per acquire and per release) */

typedef struct gil__policy_ops {
    const char *name;
    gil_policy_t id;
    unsigned flags;               /* GIL__POLICY_* */
    /* Bytes of per-thread state (gil__policy_tstate), zeroed for every new
     * life of a state before tstate_init runs. */
    size_t tstate_size;
    /* Per-GIL state (gil->policy_state).  May be NULL. */
    int (*init)(gil_t *gil);
    void (*fini)(gil_t *gil);
    /* A state's new life begins / ends (reg_mu held; no thread uses the
     * state's policy area yet / any more).  May be NULL. */
    void (*tstate_init)(gil_t *gil, gil_tstate_t *ts);
    void (*tstate_fini)(gil_t *gil, gil_tstate_t *ts);
    /* Called with the lock word holding another thread (the fast CAS
     * failed).  Blocks until ts holds the GIL (returns 0; the word holds ts)
     * or the GIL shuts down (returns GIL_ESHUTDOWN; ts does not hold it).
     * ts->waiting is set by the caller.  A cancellation point: a thread
     * cancelled in it leaves no trace in the policy's state and does not
     * hold the GIL (the policy pushes its own cleanup). */
    int (*take)(gil_t *gil, gil_tstate_t *ts);
    /* Release ts's hold.  The fast path (no waiter, no request) was already
     * tried by the caller.  force: a drop request was pending (CPython's
     * FORCE_SWITCHING applies). */
    void (*drop)(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force);
    /* gil_yield with waiters present: give the GIL to another thread and get
     * it back after it.  Returns 0 or GIL_ESHUTDOWN (not held then). */
    int (*yield)(gil_t *gil, gil_tstate_t *ts);
    /* gil_check saw a drop request and a registered waiter: release and
     * wait to take the GIL back, in one step, so that the policy can queue
     * ts before it hands over (may be NULL: the core drops, then takes).
     * Returns 0 (held again) or GIL_ESHUTDOWN (not held). */
    int (*honour_drop)(gil_t *gil, gil_tstate_t *ts);
    /* gil_check saw GIL__BREAK_POLICY (may be NULL).  Returns as gil_check. */
    int (*check)(gil_t *gil, gil_tstate_t *ts);
    /* Wake every waiter: the GIL is shutting down (gil->shutdown is set).
     * Called with gil->mu held. */
    void (*wake_all)(gil_t *gil);
    /* In a forked child, with the core's mutexes re-initialised and only
     * the forking thread left: rebuild the per-GIL state (may be NULL),
     * and each state's (survivor: the forking thread's own state; else a
     * state of a thread that does not exist in the child, about to be
     * reclaimed without tstate_fini: its condvars may have phantom waiters). */
    void (*after_fork_child)(gil_t *gil);
    void (*tstate_after_fork_child)(gil_t *gil, gil_tstate_t *ts, bool survivor);
} gil__policy_ops_t;

/* ------------------------------------------------------------------------ */
/* The interface the observability layer implements (observe/)             */

typedef struct gil__observer_ops {
    /* An event (only while GIL__F_OBSERVE is set), in the thread it is
     * about or the one that caused it; no internal mutex held. */
    void (*event)(gil_t *gil, const gil_event_t *ev);
    /* A state is born (before it is published) / dies (after it is
     * unlinked).  reg_mu held. */
    void (*tstate_new)(gil_t *gil, gil_tstate_t *ts);
    void (*tstate_delete)(gil_t *gil, gil_tstate_t *ts);
    /* A waiter woke up (at most once per switch interval per waiter, while
     * it waits), with gil->mu held; may drop and retake mu, so the caller
     * re-reads the GIL's state after it. */
    void (*waiter_poll)(gil_t *gil, gil_tstate_t *waiter);
    /* Fork: take, release, rebuild the observers' own locks. */
    void (*before_fork)(gil_t *gil);
    void (*after_fork_parent)(gil_t *gil);
    void (*after_fork_child)(gil_t *gil);
} gil__observer_ops_t;

/* ------------------------------------------------------------------------ */
/* The GIL                                                                  */

/* The lock word: the holder's tstate pointer, or 0 when free, with bit 0
 * (GIL__W) set while waiters may be asleep, so that a release knows it must
 * take the slow path and wake one.  Thread states are at least 8-byte
 * aligned. */
#define GIL__W ((uintptr_t)1)
static inline gil_tstate_t *gil__word_holder(uintptr_t w)
{
    return (gil_tstate_t *)(w & ~GIL__W);
}

/* gil->finalize */
#define GIL__FIN_NONE 0     /* not finalized */
#define GIL__FIN_DEFERRED 1 /* gil_finalize left live states: the deletion of
                               the last one (or the end of the last grace
                               period) frees the GIL */
#define GIL__FIN_FREEING 2  /* claimed by the thread that frees it */

/* gil->flags: conditions that send an acquirer down the slow bookkeeping
 * path (one load after the CAS). */
#define GIL__F_PENDING 0x1u   /* pending calls queued */
#define GIL__F_WAITERS 0x2u   /* threads wait: time the holds */
#define GIL__F_TIMING 0x4u    /* GIL_TIMING_ALWAYS or GIL__POLICY_TIMED */
#define GIL__F_SHUTDOWN 0x8u  /* gil_shutdown called */
#define GIL__F_OBSERVE 0x10u  /* an observer wants events (gil__emit) */

struct gil {
    /* The lock word, alone on its cache line: every acquire and release CASes
     * it.  [atomic] seq_cst CAS; pairs with the flags load (see core.c). */
    _Alignas(GIL__CACHELINE) _Atomic uintptr_t word;
    char pad0_[GIL__CACHELINE - sizeof(uintptr_t)];

    _Atomic uint32_t flags;           /* GIL__F_* [atomic] seq_cst */
    _Atomic(gil_tstate_t *) last_holder; /* CPython's last_holder [holder];
                                         read by forced-switch waiters */
    _Atomic uint64_t switch_number;   /* holder changes [holder] */
    _Atomic unsigned long interval_us;/* switch interval, us [atomic] relaxed */
    _Atomic uint64_t hold_t0;         /* ns when the current hold started being
                                         timed; 0 = untimed [holder; waiters CAS
                                         0 -> now] */
    _Atomic uint64_t drop_t0;         /* ns when the pending drop request was
                                         set [mu]; read by the holder */
    _Atomic int shutdown;             /* gil_shutdown called [atomic] */
    _Atomic int park;                 /* gil_finalize(GIL_FINALIZE_PARK): a
                                         thread that comes back to this GIL
                                         blocks forever instead of getting
                                         GIL_ESHUTDOWN; set before shutdown
                                         wakes anyone [atomic] seq_cst */
    int finalize;                     /* GIL__FIN_* [reg] */
    void (*destroy)(gil_t *gil);      /* [const] frees the GIL and everything
                                         hanging from it (set by gil.c); the
                                         core calls it for a deferred free */
    const gil__policy_ops_t *policy;  /* [const] */
    void *policy_state;               /* [const pointer; contents per policy] */
    const gil__observer_ops_t *observer; /* [const] NULL: none */
    void *obs;                        /* [const pointer] the observers' state */
    gil_config_t config;              /* [const] the creation config (config.name
                                         is not kept: use gil->name) */
    char name[64];                    /* [const] */

    /* Waiters. */
    pthread_mutex_t mu;               /* guards the waiting protocol */
    int nwaiters;                     /* threads inside take (+ yielders) [mu] */
    _Atomic uint64_t waiting_now;     /* mirror of nwaiters for stats [mu writes] */

    /* FORCE_SWITCHING. */
    pthread_mutex_t switch_mu;
    pthread_cond_t switch_cond;       /* broadcast when the holder changes */
    _Atomic int switch_waiters;       /* threads in a forced-switch wait
                                         [atomic] seq_cst, Dekker pair with
                                         last_holder */
    unsigned switch_abandoned;        /* bumped when the last waiter is
                                         cancelled: a forced switch has nobody
                                         to switch to [switch] */

    /* Registry (registry.c). */
    pthread_mutex_t reg_mu;
    _Atomic(gil_tstate_t *) head;     /* RCU list of live states [reg] */
    size_t nstates;                   /* live states [reg] */
    size_t tstate_bytes;              /* [const] allocation size of a state */
    gil_tstate_t *limbo;              /* deleted, awaiting a grace period [reg] */
    size_t nlimbo;                    /* [reg] */
    gil_tstate_t *pool;               /* reusable memory [reg] */
    int reclaiming;                   /* deleters inside a grace period, with
                                         reg_mu dropped; gil_destroy is
                                         GIL_EBUSY while > 0 [reg] */
    uint64_t next_tstate_id;          /* for gil_tstate_id [reg] */
    uint64_t created_ns;              /* [const] */
    int rcu_sync;                     /* address for the TSan RCU annotations */

    gil__pending_t pending;

    /* Statistics.  [holder] unless noted; read relaxed by anyone. */
    _Atomic uint64_t acquisitions;
    _Atomic uint64_t contended;
    _Atomic uint64_t drop_requests;   /* [atomic] fetch_add by waiters */
    _Atomic uint64_t requests_withheld; /* [atomic] fetch_add by waiters */
    _Atomic uint64_t forced_switches;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t hold_ns;
    _Atomic uint64_t timed_holds;
    _Atomic uint64_t pending_run;     /* [pending consumer] */
    _Atomic uint64_t pending_rejected;/* [atomic] fetch_add by producers */
    gil__hist_t wait_hist;
    gil__hist_t hold_hist;
    gil__hist_t drop_hist;

    /* Every GIL of the process, for fork handling (fork.c). */
    gil_t *all_next;                  /* guarded by fork.c's list mutex */
};

/* ------------------------------------------------------------------------ */
/* Entry points of the core for the layers above                            */

/* lifecycle.c: the core half of gil_create / gil_destroy (gil.c wires the
 * policy and the observers around them).  gil__core_new validates nothing
 * but allocation; gil__core_busy says why the GIL cannot be destroyed
 * (0: it can). */
int gil__core_new(gil_t **out, const gil_config_t *cfg, const gil__policy_ops_t *policy);
int gil__core_busy(gil_t *gil);
void gil__core_free(gil_t *gil);
void gil__report_left(const char *name, unsigned running, unsigned stuck);
extern _Atomic unsigned long gil__finalized_frees; /* finalized GILs freed, ever */

/* core.c */
/* gil_acquire without parking (gil_ensure parks itself, after its own
 * bookkeeping). */
int gil__acquire(gil_tstate_t *ts);
/* A thread that got GIL_ESHUTDOWN from a GIL finalized with
 * GIL_FINALIZE_PARK must not return to its interpreter. */
static inline bool gil__parking(const gil_t *gil)
{
    return atomic_load_explicit(&((gil_t *)gil)->park, memory_order_acquire) != 0;
}
int gil__drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why);
/* Acquire with a validated state whose thread does not hold the GIL (the
 * fast CAS, else the policy's take, then the bookkeeping). */
int gil__take(gil_t *gil, gil_tstate_t *ts);
int gil__validate_own(const gil_tstate_t *ts, const char *fn);
/* For a policy's yield or honour_drop: the release bookkeeping (why: the
 * reason recorded; returns "a drop request was pending") and the acquire
 * bookkeeping around its own handover. */
bool gil__switch_release_bookkeeping(gil_t *gil, gil_tstate_t *ts, gil_reason_t why);
int gil__switch_acquired(gil_t *gil, gil_tstate_t *ts, uint64_t wait_t0);
/* The holder changed to ts: last_holder, switch_number, and the wake-up of
 * forced-switch waiters.  Called by the new holder, no lock needed. */
void gil__set_holder_changed(gil_t *gil, gil_tstate_t *ts);

/* Events for the observers.  Call only when gil__observed(gil); never with
 * an internal mutex held. */
void gil__emit(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts,
               const gil_tstate_t *other, uint64_t time_ns, uint64_t duration_ns,
               gil_reason_t reason);
static inline bool gil__observed(const gil_t *gil)
{
    return atomic_load_explicit(&((gil_t *)gil)->flags, memory_order_relaxed) & GIL__F_OBSERVE;
}
/* A waiter's periodic duty (see gil__observer_ops_t.waiter_poll). */
static inline void gil__waiter_poll(gil_t *gil, gil_tstate_t *waiter)
{
    if (gil->observer != NULL && gil->observer->waiter_poll != NULL)
        gil->observer->waiter_poll(gil, waiter);
}

/* registry.c */
/* gil_tstate_delete of a state the calling thread owns and has marked busy
 * once itself (parking). */
int gil__tstate_delete_busy(gil_tstate_t *ts);
int gil__registry_init(gil_t *gil);
void gil__registry_fini(gil_t *gil);
void gil__registry_set_breaker_all(gil_t *gil, uint32_t bits);
void gil__registry_after_fork_child(gil_t *gil, uintptr_t self);

/* thread.c: the owner threads' records (see the notes there). */
/* Make sure the calling thread has a record (before it creates a state). */
int gil__thread_prepare(void);
/* Link a new state into the calling thread's record (reg_mu held). */
void gil__thread_link(gil_tstate_t *ts);
/* Unlink a state about to be deleted, unless its thread is inside a slow
 * path of libgil (GIL_EBUSY; own_busy: busy marks the caller itself holds
 * on it).  reg_mu held. */
int gil__thread_unlink_if_idle(gil_tstate_t *ts, int own_busy);
/* The calling thread is done for good (gil_finalize's GIL_FINALIZE_PARK):
 * release every GIL it holds, delete its states of parking GILs, orphan the
 * others, block forever. */
GIL__NORETURN void gil__thread_park(void);
extern _Atomic unsigned long gil__parked_threads; /* threads parked, ever */
bool gil__orphaned(const gil_tstate_t *ts);
void gil__thread_before_fork(void);
void gil__thread_after_fork_parent(void);
void gil__thread_after_fork_child(void);

/* fork.c */
void gil__fork_register(gil_t *gil);
void gil__fork_unregister(gil_t *gil);
/* Incremented in every forked child: a lock word that carries it can tell a
 * lock taken before the fork by a thread that does not exist any more. */
uint64_t gil__fork_generation(void);

/* Thread-local current state (core.c). */
extern __thread gil_tstate_t *gil__tls_current __attribute__((tls_model("initial-exec")));

#endif /* GIL_CORE_H */
