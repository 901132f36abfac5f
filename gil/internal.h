/*
 * internal.h - the structures behind gil_t and gil_tstate_t, shared by the
 * library's source files (one file per concept).  Not installed.
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
#ifndef GIL_INTERNAL_H
#define GIL_INTERNAL_H

#include "gil.h"
#include "platform.h"

#include <stdatomic.h>
#include <stdbool.h>

/* ------------------------------------------------------------------------ */
/* Misuse                                                                   */

/* Return err from function fn; a GIL_DEBUG build aborts instead, naming the
 * function and the thread (Lua's checker build). */
int gil__misuse(const char *fn, int err);
#define GIL__MISUSE(err) gil__misuse(__func__, (err))

/* ------------------------------------------------------------------------ */
/* Histograms (stats.c)                                                     */

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
    _Atomic uint64_t sum;                         /* ns, of the values recorded
                                                     (Prometheus _sum) */
} gil__hist_t;

void gil__hist_record(gil__hist_t *h, uint64_t value_ns);
void gil__hist_summary(const gil__hist_t *h, gil_hist_summary_t *out);
void gil__hist_reset(gil__hist_t *h);
/* The value at quantile q (0..1): the upper bound of the bucket holding it,
 * capped at max.  0 for an empty histogram. */
uint64_t gil__hist_quantile(const gil__hist_t *h, double q);

/* Single-writer counter increment: the writer is unique (the holder or the
 * owner), so a relaxed load + store is enough and costs no locked
 * instruction; readers use relaxed loads. */
static inline void gil__counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Observability: traces (trace.c), load figures (metrics.c), watchdog      */
/* (watchdog.c).  The types the structures below embed or point to.        */

typedef struct gil__trace gil__trace_t;           /* a trace session */
typedef struct gil__trace_ring gil__trace_ring_t; /* one state's events */

/* Moving averages of the load (metrics.c).  Updated by whoever gets the
 * try-lock: readers of the figures, and waiters at most every
 * GIL__LOAD_PERIOD_NS.  Never blocks anyone. */
#define GIL__LOAD_WINDOWS 3 /* 1 s, 5 s, 15 s */
#define GIL__LOAD_PERIOD_NS 10000000u
typedef struct gil__load {
    _Atomic uint64_t lock;        /* 0 free, else (fork epoch << 1) | 1: a lock
                                     taken before a fork is stale in the child
                                     and may be taken over there */
    _Atomic uint64_t t;           /* ns of the last update [lock]; read
                                     relaxed by the waiters' rate limit */
    uint64_t held, wait, switches;/* cumulative values at t [lock] */
    /* The averages, as double bit patterns [lock writes, anyone reads]. */
    _Atomic uint64_t held_ema[GIL__LOAD_WINDOWS];
    _Atomic uint64_t wait_ema[GIL__LOAD_WINDOWS];
    _Atomic uint64_t switch_rate; /* switches per second, 1 s window */
} gil__load_t;

/* ------------------------------------------------------------------------ */
/* Thread states                                                            */

#define GIL__TS_ALIVE 0x67696c74u /* "gilt" */
#define GIL__TS_DEAD 0x64656164u  /* "dead" */


struct gil_tstate {
    struct gil__tstate_head head; /* must be first: gil_check reads it.
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
    _Atomic int busy;             /* nesting count of the owner's libgil calls
                                     that are in a slow path (may block, may
                                     have let go of the GIL): another thread's
                                     gil_tstate_delete is GIL_EBUSY while > 0,
                                     so gil_destroy cannot free what the owner
                                     still touches [atomic] seq_cst */
    _Atomic int waiting;          /* 1 while the owner is inside a policy's
                                     take (so it may not be deleted) [atomic] */
    int pending_error;            /* a failing pending call run at acquire,
                                     reported by the next gil_check [owner] */
    _Atomic int interrupt_code;   /* gil_tstate_interrupt; xchg'd by the owner */

    /* Handoff policies (FIFO, PRIORITY; handoff.c): a private wake-up. */
    pthread_cond_t wake;          /* waits on gil->mu */
    gil_tstate_t *q_next;         /* wait-queue link [mu] */
    _Atomic int granted;          /* ownership was handed to us: set under mu
                                     with release, read by a spinning waiter
                                     without mu with acquire */
    int queued;                   /* on a wait queue; which one: klass [mu] */
    int klass;                    /* wait queue class, 0 served first [mu] */
    int sleeping;                 /* blocked on wake (a handoff must signal) [mu] */
    int resuming;                 /* queued at the front of its class to resume
                                     a turn an I/O thread interrupted [mu] */
    _Atomic int preempted_by_io;  /* PRIORITY: the pending drop request came
                                     from a class-0 waiter; set under mu before
                                     the DROP bit (release), read by the owner
                                     after it saw the bit */
    void *policy_data;            /* per-thread policy state [mu or owner] */

    /* Scheduling history [owner]: written when a release takes the slow
     * bookkeeping path (always, for policies that set GIL__F_TIMING). */
    gil_reason_t last_release_why;
    uint64_t last_release_ns;     /* ns */
    unsigned fast_returns;        /* PRIORITY: consecutive allow-threads
                                     sections shorter than the abuse bound */
    unsigned ticks;               /* LEGACY: check points left before the next
                                     forced release */

    /* Statistics [owner], read relaxed by anyone. */
    _Atomic uint64_t acquisitions;
    _Atomic uint64_t contended;
    _Atomic uint64_t drop_requests;   /* made by this thread while waiting */
    _Atomic uint64_t forced_switches;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t hold_ns;
    _Atomic uint64_t boosts;      /* PRIORITY: waits served with I/O priority */
    _Atomic uint64_t demotions;   /* PRIORITY: privilege lost by the abuse guard */
    gil__hist_t wait_hist;
    gil__hist_t hold_hist;

    /* Observability (observe.c, trace.c, metrics.c). */
    _Atomic uint64_t obs_id;      /* gil_tstate_id [reg writes at creation];
                                     atomic: read relaxed as an event's
                                     "other", which may be being deleted */
    uint64_t created_ns;          /* [const while alive] */
    _Atomic(gil__trace_ring_t *) trace_ring; /* this state's trace ring while
                                     a trace records, else NULL.  [reg]
                                     writes with release; the owner reads it
                                     with acquire in gil__emit, inside an RCU
                                     read-side section (gil_trace_stop waits
                                     for a grace period after clearing it) */
};

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
/* Policies: an internal table of operations (one source file each).        */

typedef struct gil__policy_ops {
    const char *name;
    gil_policy_t id;
    /* Called with the lock word holding another thread (the fast CAS
     * failed).  Blocks until ts holds the GIL (returns 0; the word holds ts)
     * or the GIL shuts down (returns GIL_ESHUTDOWN; ts does not hold it).
     * ts->waiting is set by the caller. */
    int (*take)(gil_t *gil, gil_tstate_t *ts);
    /* Release ts's hold.  The fast path (no waiter, no request) was already
     * tried by the caller.  force: a drop request was pending (CPython's
     * FORCE_SWITCHING applies). */
    void (*drop)(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force);
    /* gil_yield with waiters present: give the GIL to another thread and get
     * it back after it.  Returns 0 or GIL_ESHUTDOWN (not held then). */
    int (*yield)(gil_t *gil, gil_tstate_t *ts);
    /* gil_check saw GIL__BREAK_POLICY (may be NULL). Returns as gil_check. */
    int (*check)(gil_t *gil, gil_tstate_t *ts);
    /* Wake every waiter: the GIL is shutting down (gil->shutdown is set). */
    void (*wake_all)(gil_t *gil);
    /* Optional per-GIL state. */
    int (*init)(gil_t *gil);
    void (*fini)(gil_t *gil);
    /* In a forked child, with all mutexes re-initialised and only the
     * forking thread left; may be NULL. */
    void (*after_fork_child)(gil_t *gil);
} gil__policy_ops_t;

extern const gil__policy_ops_t gil__policy_cpython;
extern const gil__policy_ops_t gil__policy_legacy;
extern const gil__policy_ops_t gil__policy_fifo;
extern const gil__policy_ops_t gil__policy_priority;

/* handoff.c: the direct-handoff engine behind FIFO and PRIORITY.  Waiters
 * queue per class (0 is served first, FIFO within a class); a release hands
 * ownership to the first waiter, so nobody can barge. */
typedef struct gil__wait_params {
    int klass;           /* 0 or 1 */
    uint64_t spin_ns;    /* spin for the handoff this long before sleeping */
    bool ask_at_once;    /* make a drop request without waiting an interval */
    bool resume;         /* queue at the front: resume an interrupted turn */
} gil__wait_params_t;
int gil__handoff_take(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p);
void gil__handoff_drop(gil_t *gil, gil_tstate_t *ts);
int gil__handoff_yield(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p);
void gil__handoff_wake_all(gil_t *gil);
int gil__handoff_init(gil_t *gil);
void gil__handoff_fini(gil_t *gil);
void gil__handoff_after_fork_child(gil_t *gil);
const gil__policy_ops_t *gil__policy_lookup(gil_policy_t id);

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

/* gil->flags: conditions that send an acquirer down the slow bookkeeping
 * path (one load after the CAS). */
#define GIL__F_PENDING 0x1u   /* pending calls queued */
#define GIL__F_WAITERS 0x2u   /* threads wait: time the holds */
#define GIL__F_TIMING 0x4u    /* GIL_TIMING_ALWAYS */
#define GIL__F_SHUTDOWN 0x8u  /* gil_shutdown called */
#define GIL__F_OBSERVE 0x10u  /* hooks or a trace: emit events (observe.c) */

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
    const gil__policy_ops_t *policy;  /* [const] */
    gil_config_t config;              /* [const] the creation config (config.name
                                         is not kept: use gil->name) */
    void *policy_state;               /* [const pointer; contents per policy] */
    gil_timing_t timing;              /* [const] */
    char name[64];                    /* [const] */

    /* Waiters. */
    pthread_mutex_t mu;               /* guards the waiting protocol */
    pthread_cond_t cond;              /* CPython's gil->cond: one waiter woken per release */
    int nwaiters;                     /* threads inside take (+ yielders) [mu] */
    _Atomic uint64_t waiting_now;     /* mirror of nwaiters for stats [mu writes] */

    /* FORCE_SWITCHING. */
    pthread_mutex_t switch_mu;
    pthread_cond_t switch_cond;       /* broadcast when the holder changes */
    _Atomic int switch_waiters;       /* threads in a forced-switch wait
                                         [atomic] seq_cst, Dekker pair with
                                         last_holder */

    /* Registry (registry.c). */
    pthread_mutex_t reg_mu;
    _Atomic(gil_tstate_t *) head;     /* RCU list of live states [reg] */
    size_t nstates;                   /* live states [reg] */
    gil_tstate_t *limbo;              /* deleted, awaiting a grace period [reg] */
    size_t nlimbo;                    /* [reg] */
    gil_tstate_t *pool;               /* reusable memory [reg] */
    int reclaiming;                   /* deleters inside a grace period, with
                                         reg_mu dropped; gil_destroy is
                                         GIL_EBUSY while > 0 [reg] */
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

    /* Observers (observe.c). */
    pthread_mutex_t obs_mu;           /* serialises hook add/remove */
    _Atomic(struct gil__hooks *) hooks; /* immutable array, replaced whole;
                                         read inside an RCU read-side section */
    uint64_t next_hook_id;            /* [obs_mu] */
    int obs_rcu_sync;                 /* address for the TSan RCU annotations */

    /* Observability (observe.c, trace.c, metrics.c, watchdog.c). */
    unsigned observers;               /* reasons to emit events: 1 while a
                                         hook array is installed, 1 while a
                                         trace records; GIL__F_OBSERVE is set
                                         iff > 0 [obs_mu] */
    gil__trace_t *trace;              /* the last trace session, NULL if none
                                         [obs_mu and reg_mu to write; either to
                                         read] */
    uint64_t next_tstate_id;          /* for gil_tstate_id [reg] */
    uint64_t created_ns;              /* [const] */
    gil__load_t load;                 /* moving averages (metrics.c) */
    uint64_t wd_episode;              /* drop_t0 of the request last reported
                                         by the watchdog [mu] */
    _Atomic uint64_t wd_reports;      /* [mu writes] */
    _Atomic uint64_t wd_polls;        /* waiter wake-ups seen [mu writes] */

    /* Every GIL of the process, for fork handling (fork.c). */
    gil_t *all_next;                  /* guarded by fork.c's list mutex */
};

/* core.c */
void gil__acquired_slow(gil_t *gil, gil_tstate_t *ts, uint64_t wait_t0);
int gil__drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why);
/* Acquire with a validated state whose thread does not hold the GIL (the
 * fast CAS, else the policy's take, then the bookkeeping). */
int gil__take(gil_t *gil, gil_tstate_t *ts);
int gil__validate_own(const gil_tstate_t *ts, const char *fn);
/* For a policy's yield: the release bookkeeping (returns "a drop request was
 * pending") and the acquire bookkeeping around its own handover. */
bool gil__yield_release_bookkeeping(gil_t *gil, gil_tstate_t *ts);
int gil__yield_acquired(gil_t *gil, gil_tstate_t *ts, uint64_t wait_t0);
/* Wait until another thread than ts has taken the GIL (FORCE_SWITCHING) or
 * the GIL shuts down.  Called without any lock. */
void gil__wait_for_switch(gil_t *gil, gil_tstate_t *ts);
/* The CPython waiting protocol, shared by the policies that keep the
 * waiter-sets-drop-request rule.  Called with gil->mu held. */
void gil__set_holder_changed(gil_t *gil, gil_tstate_t *ts);

/* policy_cpython.c: the CPython waiting protocol, shared by the policies
 * that keep its rules.  The *_enter/leave/try_take/set_w/request_drop
 * helpers are called with gil->mu held. */
void gil__waiter_enter(gil_t *gil);
void gil__waiter_leave(gil_t *gil);
bool gil__waiter_try_take(gil_t *gil, gil_tstate_t *ts);
bool gil__waiter_set_w(gil_t *gil, uintptr_t w);
void gil__request_drop(gil_t *gil, gil_tstate_t *waiter, uintptr_t w);
uintptr_t gil__release_word_signal_one(gil_t *gil);
/* A policy's wait loop on gil->cond (mu held, caller registered).  With
 * not_before != GIL__ANY_SWITCH the caller may not take a free GIL until
 * switch_number has moved past not_before. */
#define GIL__ANY_SWITCH UINT64_MAX
typedef int (*gil__cond_wait_loop_fn)(gil_t *gil, gil_tstate_t *ts, uint64_t not_before);
/* take and gil_yield for the policies whose waiters share gil->cond
 * (CPYTHON, LEGACY), given the policy's wait loop. */
int gil__take_on_cond(gil_t *gil, gil_tstate_t *ts, gil__cond_wait_loop_fn wait);
int gil__yield_on_cond(gil_t *gil, gil_tstate_t *ts, gil__cond_wait_loop_fn wait);
/* True if a waiter registered with not_before may take a free GIL now. */
bool gil__may_take(gil_t *gil, uint64_t not_before);

/* registry.c */
int gil__registry_init(gil_t *gil);
void gil__registry_fini(gil_t *gil);
void gil__registry_set_breaker_all(gil_t *gil, uint32_t bits);
void gil__registry_after_fork_child(gil_t *gil, uintptr_t self);

/* observe.c: events for hooks (and traces).  Call only when
 * gil->flags has GIL__F_OBSERVE; never with an internal mutex held. */
void gil__emit(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts,
               const gil_tstate_t *other, uint64_t time_ns, uint64_t duration_ns,
               gil_reason_t reason);
static inline bool gil__observed(const gil_t *gil)
{
    return atomic_load_explicit(&((gil_t *)gil)->flags, memory_order_relaxed) & GIL__F_OBSERVE;
}
void gil__observe_init(gil_t *gil);
void gil__observe_fini(gil_t *gil);
/* A state is born / dies (registry.c, with reg_mu held): its id and
 * creation time, its trace ring. */
void gil__observe_tstate_new(gil_t *gil, gil_tstate_t *ts);
void gil__observe_tstate_delete(gil_t *gil, gil_tstate_t *ts);
/* GIL__F_OBSERVE follows the number of observers.  Called with obs_mu. */
void gil__observers_add(gil_t *gil, int delta);
/* The length (1-4) of the valid UTF-8 sequence at s, 0 if s does not start
 * one (or *s is NUL).  For the writers of JSON and Prometheus text. */
size_t gil__utf8_seq_len(const unsigned char *s);

/* trace.c */
/* Record an event in ts's ring, if it has one and the caller is ts's
 * owner.  Called from gil__emit inside its RCU read-side section. */
void gil__trace_record(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts,
                       const gil_tstate_t *other, uint64_t time_ns, gil_reason_t reason);
/* With reg_mu held: give a new state a ring if a trace records; detach a
 * dying state's ring (kept in the session) and stamp its end. */
void gil__trace_tstate_new(gil_t *gil, gil_tstate_t *ts);
/* The watchdog reported a long hold of holder_id: a mark in the waiter's
 * ring (the caller is the waiter's thread).  Any lock may be held. */
void gil__trace_watchdog(gil_t *gil, const gil_tstate_t *waiter, uint64_t holder_id, uint64_t time_ns);
void gil__trace_tstate_delete(gil_t *gil, gil_tstate_t *ts);
void gil__trace_fini(gil_t *gil);

/* metrics.c */
void gil__load_init(gil_t *gil, uint64_t now);
/* Advance the moving averages to now.  force: even if the last update is
 * recent (readers); else at most every GIL__LOAD_PERIOD_NS (waiters).
 * Never blocks: if another thread is updating, returns at once. */
void gil__load_update(gil_t *gil, uint64_t now, bool force);
/* One step of an exponential moving average: the average after dt_ns at a
 * constant rate, with time constant tau_ns.  (Exposed for the tests.) */
double gil__ema_step(double avg, double rate, uint64_t dt_ns, uint64_t tau_ns);
/* Fill the load fields of a snapshot (gil_stats_get / _tstate_stats_get). */
void gil__load_fill(const gil_t *gil, gil_stats_t *out);
void gil__load_fill_tstate(const gil_tstate_t *ts, gil_tstate_stats_t *out);
/* The GIL's cumulative timed hold time, including the hold in progress. */
uint64_t gil__held_total(const gil_t *gil, uint64_t now);

/* watchdog.c */
/* The waiter side's periodic hook: advance the load averages (rate-limited)
 * and look for a long hold (gil_config_t.watchdog_*).  Call it from a
 * policy's wait loop after every wake-up, with gil->mu held; it may drop
 * and retake mu to run the report callback, so the caller must re-read the
 * GIL's state after it (as after gil__request_drop). */
void gil__watchdog_poll(gil_t *gil, gil_tstate_t *waiter);

/* fork.c */
void gil__fork_register(gil_t *gil);
void gil__fork_unregister(gil_t *gil);

/* Thread-local current state (core.c). */
extern __thread gil_tstate_t *gil__tls_current __attribute__((tls_model("initial-exec")));

#endif /* GIL_INTERNAL_H */
