/*
 * gil.h - libgil, an embeddable global interpreter lock modelled on CPython's.
 *
 * One public header.  Every public name starts with gil_ / GIL_; names that
 * start with gil__ / GIL__ are internal and appear here only because the
 * check point (gil_check) is inline.
 *
 * Conventions used in the comments below:
 *   "GIL: held -> held"   the calling thread must hold the GIL before the call
 *                         and still holds it after.
 *   "GIL: any"            the call may be made with or without the GIL.
 *   "Threads: ..."        which threads may make the call.
 *   "Memory order: ..."   what the call orders, for callers that share data
 *                         through it.
 * Every function that can fail returns 0 on success or a negative GIL_E*
 * code.  Failure of an operating-system primitive (pthread_*) is not an
 * error code: the library prints a message naming the call and aborts,
 * because a lock whose mutex is broken cannot be reasoned about.
 *
 * Debug builds (the library compiled with -DGIL_DEBUG, `make debug`) turn
 * every misuse (a GIL_EPERM, GIL_EDEADLK, GIL_EBUSY or GIL_EINVAL caused by
 * the caller) into an abort whose message names the function and the thread.
 */
#ifndef GIL_H
#define GIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* FILE, for the trace and metrics writers */

#ifdef __cplusplus
extern "C" {
#endif

/* Every public function is exported from the shared library; everything
 * else is hidden (the library is built with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define GIL_EXTERN __attribute__((visibility("default")))
#else
#define GIL_EXTERN
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */

#define GIL_VERSION_MAJOR 0
#define GIL_VERSION_MINOR 1
#define GIL_VERSION_PATCH 0
#define GIL_VERSION_HEX \
    ((GIL_VERSION_MAJOR << 16) | (GIL_VERSION_MINOR << 8) | GIL_VERSION_PATCH)

/* The version of the library actually loaded, as "MAJOR.MINOR.PATCH". */
GIL_EXTERN const char *gil_version_string(void);
/* The same as GIL_VERSION_HEX, but of the loaded library. */
GIL_EXTERN unsigned gil_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/* X-macro: XX(NAME, errno value, message).  Codes are negated errno values,
 * so they can be passed through interfaces that speak errno. */
#define GIL_ERRNO_MAP(XX)                                                     \
    XX(EINVAL, EINVAL, "invalid argument")                                    \
    XX(ENOMEM, ENOMEM, "out of memory")                                       \
    XX(EPERM, EPERM, "the calling thread does not hold the GIL with this "    \
                     "thread state, or the state is not the caller's")        \
    XX(EDEADLK, EDEADLK, "the calling thread already holds this GIL")         \
    XX(EBUSY, EBUSY, "the object is still in use")                            \
    XX(EAGAIN, EAGAIN, "the pending-call queue is full, try again")           \
    XX(ESHUTDOWN, ESHUTDOWN, "the GIL is shutting down")                      \
    XX(EIO, EIO, "writing to an output stream failed")

typedef enum {
    GIL_OK = 0 /* success: what every function returns when it succeeds */
#define GIL_INTERNAL_ERR_ENUM(name, val, msg) , GIL_##name = -(val)
    GIL_ERRNO_MAP(GIL_INTERNAL_ERR_ENUM)
#undef GIL_INTERNAL_ERR_ENUM
} gil_errno_t;

/* A message for a GIL_E* code ("unknown error" for anything else).
 * Threads: any.  Never NULL; the string is static. */
GIL_EXTERN const char *gil_strerror(int err);
/* The code's name without the GIL_ prefix ("EPERM"), or "UNKNOWN". */
GIL_EXTERN const char *gil_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

/* One lock.  One per interpreter; a process may have many. Opaque. */
typedef struct gil gil_t;
/* A thread's state for one gil_t (like PyThreadState).  Bound to the OS
 * thread that created it.  Opaque. */
typedef struct gil_tstate gil_tstate_t;

typedef enum {
    GIL_POLICY_CPYTHON = 0, /* CPython >= 3.2: timed drop requests, forced switching */
    GIL_POLICY_LEGACY = 1,  /* Python <= 3.1: release and re-acquire every N ticks, no handoff */
    GIL_POLICY_FIFO = 2,    /* Ruby 3.3: FIFO queue, direct handoff, yield after the interval */
    GIL_POLICY_PRIORITY = 3 /* libgil's convoy fix: returning I/O threads are served first */
} gil_policy_t;

typedef enum {
    GIL_ENSURE_LOCKED = 0,  /* the thread already held the GIL */
    GIL_ENSURE_UNLOCKED = 1 /* gil_ensure took it; gil_ensure_release drops it */
} gil_ensure_t;

/* When timestamps are taken.  Wait and hold times cost a clock read at each
 * end; an uncontended acquire/release takes none in the default mode. */
typedef enum {
    /* Default.  An acquisition or hold is timed whenever another thread
     * waits, tracing is on, or a hook is installed; a purely uncontended
     * acquire/release is counted but not timed (no clock read). */
    GIL_TIMING_CONTENDED = 0,
    /* Every acquisition and hold is timed (two clock reads per
     * acquire/release pair, measured in `make bench-micro`). */
    GIL_TIMING_ALWAYS = 1
} gil_timing_t;

/* The long-hold watchdog's callback (see "Observability"). */
struct gil_watchdog_report;
typedef void (*gil_watchdog_fn)(const struct gil_watchdog_report *report, void *arg);

/* Configuration for gil_create.  Always initialise with gil_config_init();
 * fields may be appended in later versions. */
typedef struct gil_config {
    /* Switch interval in microseconds (CPython's sys.setswitchinterval):
     * how long a waiter waits before it asks the holder to drop. > 0. */
    unsigned long switch_interval_us;
    /* Scheduling policy. */
    gil_policy_t policy;
    /* Capacity of the pending-call queue, in calls (rounded up to a power of
     * two, at least 2, at most 65536).  Default 256. */
    unsigned pending_capacity;
    /* Timing mode, see gil_timing_t. */
    gil_timing_t timing;
    /* GIL_POLICY_LEGACY: check points ("ticks") between forced releases
     * (Python <= 3.1's sys.setcheckinterval).  Default 100. */
    unsigned legacy_check_interval;
    /* A name for this GIL (reports, traces, metrics labels); copied, at most
     * 63 bytes kept.  NULL means "gil". */
    const char *name;
    /* GIL_POLICY_PRIORITY tuning (docs/policies.md says how each default
     * was chosen and how to calibrate it on another machine).
     * priority_spin_io_us (us, default 100; 0: never spin): the most a
     *   returning I/O thread spins for the grant it asked for before it
     *   sleeps.  A ceiling: the policy spins about 3x the measured time
     *   holders take to hand over, and never more than twice the measured
     *   cost of a sleep and wake-up (so on most machines a few us).  It
     *   also bounds how long the I/O thread defers its request while a
     *   resumed CPU thread is protected (at most 50 us; 0 turns the
     *   protection off; docs/policies.md).
     * priority_spin_cpu_us (us, default 100; 0: never spin): the same
     *   ceiling for a CPU thread an I/O thread interrupted, which spins
     *   about 2x the measured length of I/O threads' holds.
     * priority_abuse_ns (ns, default 2000) and priority_abuse_count
     *   (default 4; 0 turns the guard off): the abuse guard.  A thread loses its I/O priority
     *   after priority_abuse_count consecutive allow-threads sections
     *   shorter than priority_abuse_ns (it did not really block) and gets
     *   it back at its next longer one.  Calibrate priority_abuse_ns above
     *   your non-blocking calls (a non-blocking send() of a few bytes takes
     *   1-2 us on the 2-core machine the default comes from) and below a
     *   real block (at least one sleep and wake-up: 10 us or more there). */
    unsigned priority_spin_io_us;
    unsigned priority_spin_cpu_us;
    unsigned priority_abuse_ns;
    unsigned priority_abuse_count;
    /* Long-hold watchdog (see "Observability" below): when the holder has
     * ignored a drop request for more than watchdog_factor x the switch
     * interval, report it once per episode through watchdog_fn(report,
     * watchdog_arg), or with one line on stderr if watchdog_fn is NULL.
     * 0 (the default) turns the watchdog off. */
    unsigned watchdog_factor;
    unsigned reserved;            /* 0 (explicit padding) */
    gil_watchdog_fn watchdog_fn;
    void *watchdog_arg;
} gil_config_t;

/* The policy's short name ("cpython"), or NULL for an unknown value. */
GIL_EXTERN const char *gil_policy_name(gil_policy_t policy);
/* Parse a name as printed by gil_policy_name (case-insensitive).
 * Returns 0 and sets *out, or GIL_EINVAL. */
GIL_EXTERN int gil_policy_from_name(const char *name, gil_policy_t *out);

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                 */

/* Fill *cfg with the defaults: 5000 us, GIL_POLICY_CPYTHON, 256 pending
 * calls, GIL_TIMING_CONTENDED, name NULL.  Threads: any. */
GIL_EXTERN void gil_config_init(gil_config_t *cfg);

/* Create a GIL.  cfg NULL means defaults.  Nobody holds the new GIL.
 * Returns 0 and sets *out, or GIL_EINVAL (NULL out, interval 0, unknown
 * policy or timing, capacity out of range) or GIL_ENOMEM.  Threads: any. */
GIL_EXTERN int gil_create(gil_t **out, const gil_config_t *cfg);

/* Destroy a GIL.  GIL_EBUSY while any thread state of it exists, or while a
 * deletion is still finishing its grace period (delete them first; after
 * gil_shutdown() that can be done even for threads that were blocked; polling
 * until it returns 0 is fine).  GIL_EBUSY is an expected answer, never a
 * misuse: a checker build does not abort on it.  An interpreter that exits
 * with threads still running uses gil_finalize instead.  GIL_EINVAL for
 * NULL.  Threads: any, no GIL held. */
GIL_EXTERN int gil_destroy(gil_t *gil);

/* gil_finalize's flags. */
typedef enum {
    /* A thread that comes back to this GIL after gil_finalize (from an
     * allow-threads section, a wait, a check point, its first acquire)
     * releases whatever it holds, deletes its state and blocks forever,
     * instead of getting GIL_ESHUTDOWN: it never runs interpreter code
     * again (CPython 3.14's choice).  Without it such a thread gets
     * GIL_ESHUTDOWN and must unwind (CPython <= 3.13 exited the thread). */
    GIL_FINALIZE_PARK = 1u << 0,
    /* No line on stderr when threads are left running. */
    GIL_FINALIZE_QUIET = 1u << 1
} gil_finalize_flags_t;

typedef struct gil_finalize_report {
    unsigned deleted;   /* states gil_finalize deleted: the caller's own, and
                           those of threads that had ended (orphans) */
    unsigned drained;   /* threads that were inside libgil (waiting, being
                           switched out) and left it before the deadline */
    unsigned running;   /* states whose threads run outside libgil (holding
                           the GIL, inside an allow-threads section, not yet
                           started): they may come back */
    unsigned stuck;     /* threads still inside libgil at the deadline (in a
                           pending call or a hook that did not return) */
    int freed;          /* 1: the GIL is freed (the pointer is dead now);
                           0: it is freed by the deletion of the last state
                           left (running + stuck of them) */
} gil_finalize_report_t;

/* Tear a GIL down at interpreter exit while threads may still run (daemon
 * threads, threads blocked in a call, threads waiting for the GIL).
 *   1. gil_shutdown; with GIL_FINALIZE_PARK, coming back parks a thread;
 *   2. the calling thread releases the GIL if it holds it and its states of
 *      this GIL are deleted;
 *   3. waiters are woken and leave libgil (GIL_ESHUTDOWN, or parked); the
 *      call waits up to drain_ms (0: 1000 ms) for every thread inside
 *      libgil to leave, never longer: it does not hang;
 *   4. states of threads that ended without deleting them are deleted;
 *   5. if no state is left the GIL is freed now; otherwise it stays
 *      allocated (reachable, so no leak report) until the last state left
 *      is deleted -- by its thread after GIL_ESHUTDOWN, by parking, or by
 *      gil_finalize's caller of an orphan -- and that deletion frees it.  A
 *      line on stderr reports the states left (unless GIL_FINALIZE_QUIET).
 * After the call `gil` must not be used by the caller (it may be freed at
 * any moment); the threads that own the states left may still use their
 * own states, and must end with gil_tstate_delete (the deletion of the last
 * state may free the GIL, so nothing may follow it).  Threads that have no
 * state must not use `gil` any more.  *report (may be NULL) says what was
 * done.  Returns 0, or GIL_EINVAL (NULL gil, unknown flags).  GIL: any ->
 * not held.  Threads: any.  Memory order: as gil_shutdown. */
GIL_EXTERN int gil_finalize(gil_t *gil, unsigned flags, unsigned drain_ms, gil_finalize_report_t *report);

/* The policy the GIL was created with. */
GIL_EXTERN gil_policy_t gil_get_policy(const gil_t *gil);
/* The GIL's name (config name, or "gil"). */
GIL_EXTERN const char *gil_name(const gil_t *gil);

/* Begin finalization.  Every thread waiting in, or later calling,
 * gil_acquire / gil_restore / gil_ensure on this GIL returns GIL_ESHUTDOWN
 * promptly; the holder's gil_check returns GIL_ESHUTDOWN from its next call
 * on (every call, so that an interpreter unwinds).  Releasing, deleting
 * states and destroying keep working.  Idempotent.  GIL: any.  Threads: any.
 * Memory order: everything before gil_shutdown happens before the
 * GIL_ESHUTDOWN returns it causes. */
GIL_EXTERN int gil_shutdown(gil_t *gil);

/* ------------------------------------------------------------------------ */
/* Thread states                                                            */

/* Register a thread state for the calling OS thread (it is bound to it: only
 * this thread may use it).  Does not take the GIL.  name (may be NULL) is
 * copied, at most 31 bytes kept.  A thread may own several states.
 * Returns 0, GIL_EINVAL, GIL_ENOMEM or GIL_ESHUTDOWN.  GIL: any. */
GIL_EXTERN int gil_tstate_new(gil_t *gil, const char *name, gil_tstate_t **out);

/* Delete a thread state.  GIL_EBUSY if it holds the GIL or its thread is
 * inside a slow path of libgil (waiting, being switched out, running a check
 * point's work); GIL_EPERM if it is another thread's (except after
 * gil_shutdown, or in a forked child, where any thread may delete states
 * left behind: do so once their threads have returned from libgil, e.g.
 * after joining them; GIL_EBUSY is the safety net, not the protocol);
 * GIL_EINVAL for NULL or an already deleted state.  The memory is reused
 * only after every concurrent gil_foreach_tstate reader has finished (RCU
 * grace period). */
GIL_EXTERN int gil_tstate_delete(gil_tstate_t *ts);

/* The state's name ("" if none).  Threads: any; valid while the state is
 * alive or, inside gil_foreach_tstate, for the duration of the callback. */
GIL_EXTERN const char *gil_tstate_name(const gil_tstate_t *ts);

/* The GIL a state belongs to. */
GIL_EXTERN gil_t *gil_tstate_gil(const gil_tstate_t *ts);

/* Call fn(ts, arg) for every live thread state of gil, newest first, until
 * fn returns non-zero (that value is returned; 0 if the walk completed).
 * Lock-free for the walker: an RCU read-side section (liburcu-bp), so it may
 * run in a monitor thread without the GIL while other threads create and
 * delete states.  fn must not create or delete states of this GIL or call
 * gil_destroy.  GIL: any.  Threads: any. */
GIL_EXTERN int gil_foreach_tstate(gil_t *gil, int (*fn)(const gil_tstate_t *ts, void *arg),
                       void *arg);

/* ------------------------------------------------------------------------ */
/* Taking and releasing                                                     */

/* Block until the calling thread holds the GIL with ts; ts becomes the
 * thread's current state.  Pending calls run before it returns (a failing
 * one is reported by the next gil_check).
 * Errors: GIL_EINVAL (NULL / deleted ts), GIL_EPERM (ts is another thread's),
 * GIL_EDEADLK (this thread already holds this GIL, with any of its states),
 * GIL_ESHUTDOWN.  GIL: not held -> held (on success).
 * Memory order: acquire; everything the previous holder did before releasing
 * happens before this returns. */
GIL_EXTERN int gil_acquire(gil_tstate_t *ts);

/* Release the GIL held with ts.  If a drop request is pending (CPython's
 * FORCE_SWITCHING) it returns only once another thread has taken the GIL.
 * Errors: GIL_EINVAL, GIL_EPERM (ts does not hold it or is not the calling
 * thread's).  GIL: held -> not held.  Memory order: release. */
GIL_EXTERN int gil_release(gil_tstate_t *ts);

/* PyEval_SaveThread: release the GIL the calling thread holds (the one of
 * its current state) and return that state; NULL if it holds none. */
GIL_EXTERN gil_tstate_t *gil_save(void);

/* PyEval_RestoreThread: re-acquire with ts (as gil_acquire).  Preserves
 * errno.  GIL_EINVAL for NULL; otherwise as gil_acquire. */
GIL_EXTERN int gil_restore(gil_tstate_t *ts);

/* The calling thread's current state: the state with which it most recently
 * acquired a GIL it still holds; NULL if it holds none.  Threads: any. */
GIL_EXTERN gil_tstate_t *gil_current(void);

/* 1 if the calling thread holds gil, else 0 (also for NULL).  Threads: any. */
GIL_EXTERN int gil_held(const gil_t *gil);

/* CPython's Py_BEGIN_ALLOW_THREADS family, the same shape: a block around a
 * save/restore pair; never nest.  errno set by the blocking call survives
 * GIL_END_ALLOW_THREADS.  If the restore fails (only GIL_ESHUTDOWN can happen
 * for a valid state) the thread continues without the GIL: check
 * gil_held() or the next gil_check() result. */
#define GIL_BEGIN_ALLOW_THREADS { gil_tstate_t *gil_internal_save = gil_save();
#define GIL_BLOCK_THREADS (void)gil_restore(gil_internal_save);
#define GIL_UNBLOCK_THREADS gil_internal_save = gil_save();
#define GIL_END_ALLOW_THREADS (void)gil_restore(gil_internal_save); }

/* PyGILState_Ensure: make sure the calling thread holds gil, from any thread,
 * including one libgil never saw (a state named "ensure" is created on first
 * use and bound to the thread).  Re-entrant through a per-thread counter.
 * *state receives GIL_ENSURE_LOCKED if the thread already held gil, else
 * GIL_ENSURE_UNLOCKED.  Returns 0, GIL_EINVAL, GIL_ENOMEM or GIL_ESHUTDOWN.
 * GIL: any -> held. */
GIL_EXTERN int gil_ensure(gil_t *gil, gil_ensure_t *state);

/* PyGILState_Release: undo one gil_ensure.  Releases the GIL if state is
 * GIL_ENSURE_UNLOCKED; deletes the auto-created state when the counter
 * returns to 0.  GIL_EPERM if the thread has no outstanding gil_ensure on
 * gil or does not hold it.  GIL: held -> as before the matching gil_ensure. */
GIL_EXTERN int gil_ensure_release(gil_t *gil, gil_ensure_t state);

/* ------------------------------------------------------------------------ */
/* The check point                                                          */

/* Not API: the first member of every gil_tstate_t, exposed so that the
 * check point can be inline.  breaker != 0 means "take the slow path". */
struct gil_internal_tstate_head {
    uint32_t breaker; /* reasons to take the slow path (their bits are the
                         library's business); accessed with __atomic builtins */
};

GIL_EXTERN int gil_internal_check_slow(gil_tstate_t *ts);

#if defined(__GNUC__) || defined(__clang__)
#define GIL_INTERNAL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GIL_INTERNAL_UNLIKELY(x) (x)
#endif

/* The check point: call it, with the GIL held, on every back edge and call
 * of the interpreter loop.  Fast path (inline): one relaxed load of the
 * state's breaker word and a branch.  Slow path (out of line): honour a drop
 * request (release, wait for the switch, re-acquire), run pending calls,
 * deliver an interrupt.
 * Returns 0, or non-zero: an interrupt's code, a failing pending call's
 * return value, GIL_ESHUTDOWN (the GIL is shutting down: unwind; the caller
 * still holds the GIL), GIL_EPERM (ts does not hold the GIL), GIL_EINVAL.
 * GIL: held -> held (unless a re-acquire fails with GIL_ESHUTDOWN: then not
 * held).  Memory order: none on the fast path; a switch is acquire/release.
 * The fast path does not check that ts is the caller's holding state (that
 * would cost the check point its speed); define GIL_CHECKED before including
 * gil.h to send every call through the validating slow path (GIL_EPERM for a
 * state that does not hold the GIL or is another thread's). */
#ifdef GIL_CHECKED
#define GIL_INTERNAL_CHECK_ALWAYS_SLOW 1
#else
#define GIL_INTERNAL_CHECK_ALWAYS_SLOW 0
#endif
/* Not API: a breaker that is never 0, read instead of a NULL state's, so
 * that gil_check(NULL) reaches the slow path (GIL_EINVAL) without a second
 * branch in the caller's loop: the select below is loop-invariant. */
GIL_EXTERN extern const uint32_t gil_internal_null_breaker;

#if defined(__cplusplus) && __cplusplus >= 201103L
#define GIL_INTERNAL_NULLPTR nullptr
#define GIL_INTERNAL_HEAD(ts) reinterpret_cast<struct gil_internal_tstate_head *>(ts)
#else
#define GIL_INTERNAL_NULLPTR NULL
#define GIL_INTERNAL_HEAD(ts) ((struct gil_internal_tstate_head *)(void *)(ts))
#endif

static inline int gil_check(gil_tstate_t *ts)
{
    const uint32_t *breaker =
        ts != GIL_INTERNAL_NULLPTR ? &GIL_INTERNAL_HEAD(ts)->breaker : &gil_internal_null_breaker;
    if (GIL_INTERNAL_UNLIKELY(GIL_INTERNAL_CHECK_ALWAYS_SLOW || __atomic_load_n(breaker, __ATOMIC_RELAXED) != 0))
        return gil_internal_check_slow(ts);
    return 0;
}

/* If another thread waits for the GIL, hand it over and re-acquire after
 * that thread (or another) has held it; return at once if nobody waits.
 * The yielding thread counts as a waiter while it waits to get the GIL back
 * (OCaml fix #2112), so two yielding threads alternate.
 * Errors: as gil_release and gil_acquire.  GIL: held -> held. */
GIL_EXTERN int gil_yield(gil_tstate_t *ts);

/* Switch interval in microseconds (> 0, else GIL_EINVAL).  Applies to waits
 * that start after the change.  GIL: any.  Threads: any. */
GIL_EXTERN int gil_set_switch_interval(gil_t *gil, unsigned long usec);
/* The switch interval in microseconds (0 for NULL). */
GIL_EXTERN unsigned long gil_get_switch_interval(const gil_t *gil);

/* ------------------------------------------------------------------------ */
/* Pending calls and interrupts                                             */

/* Queue fn(arg) to run in whichever thread holds the GIL, at its next
 * gil_check or acquire, one call at a time, in FIFO order (per producer).
 * Callable from any thread, with or without the GIL, and from a signal
 * handler: async-signal-safe (no allocation, no mutex: a bounded lock-free
 * ring).  Returns 0, GIL_EAGAIN when the queue is full (the call is not
 * queued; never silently dropped), GIL_EINVAL, GIL_ESHUTDOWN.
 * fn runs with the GIL held and must return with it held; a non-zero return
 * is returned by the gil_check that ran it.
 * Memory order: the add happens before fn runs. */
GIL_EXTERN int gil_add_pending_call(gil_t *gil, int (*fn)(void *arg), void *arg);

/* PyThreadState_SetAsyncExc: the target's next gil_check returns code, once.
 * code > 0; 0 clears an undelivered interrupt; negative -> GIL_EINVAL.
 * GIL: any.  Threads: any (the target must be alive). */
GIL_EXTERN int gil_tstate_interrupt(gil_tstate_t *ts, int code);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */

/* A latency distribution summary, in nanoseconds.  Percentiles come from a
 * log-linear histogram with ~2 significant digits (relative error <= 1/32). */
typedef struct gil_hist_summary {
    uint64_t count;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
} gil_hist_summary_t;

typedef struct gil_stats {
    uint64_t acquisitions;    /* successful acquisitions (any path) */
    uint64_t contended;       /* acquisitions that had to wait */
    uint64_t drop_requests;   /* drop requests made by waiters */
    uint64_t forced_switches; /* releases caused by a drop request */
    uint64_t requests_withheld; /* waits that timed out with the GIL held but
                                   made no drop request because the holder
                                   changed during the interval (CPython's
                                   switch_number rule) */
    uint64_t switches;        /* the holder changed (CPython's switch_number) */
    uint64_t wait_ns;         /* total time waited by contended acquisitions */
    uint64_t hold_ns;         /* total timed hold time (see gil_timing_t) */
    uint64_t timed_holds;     /* holds that were timed (the rest were uncontended) */
    uint64_t pending_calls_run;
    uint64_t pending_calls_rejected; /* GIL_EAGAIN returned */
    uint64_t waiting_now;     /* threads waiting at the time of the call */
    gil_hist_summary_t wait;         /* asked -> got, contended acquisitions */
    gil_hist_summary_t hold;         /* got -> released, timed holds */
    gil_hist_summary_t drop_latency; /* drop request set -> released */

    /* Load figures (see "Load figures" under Observability for exactly what
     * is measured in each timing mode).  "since start" is since gil_create;
     * the _1s/_5s/_15s ratios are exponential moving averages with those
     * time constants (Linux load-average style). */
    uint64_t uptime_ns;       /* since gil_create */
    double held_ratio;        /* fraction of time held (timed holds), since start */
    double held_ratio_1s, held_ratio_5s, held_ratio_15s;
    double wait_ratio;        /* waiting threads on average (wait time per
                                 unit of time), since start; with one waiter
                                 at a time it is the fraction of time waited */
    double wait_ratio_1s, wait_ratio_5s, wait_ratio_15s;
    double switches_per_sec;  /* holder changes per second, 1 s average */
    uint64_t watchdog_reports;/* long holds reported by the watchdog */
} gil_stats_t;

typedef struct gil_tstate_stats {
    uint64_t acquisitions;
    uint64_t contended;
    uint64_t drop_requests;   /* made by this thread while waiting */
    uint64_t forced_switches; /* releases by this thread caused by a request */
    uint64_t wait_ns;
    uint64_t hold_ns;
    gil_hist_summary_t wait;
    gil_hist_summary_t hold;
    uint64_t boosts;          /* GIL_POLICY_PRIORITY: waits served with I/O priority */
    uint64_t demotions;       /* GIL_POLICY_PRIORITY: privilege lost to the abuse guard */
    /* Observability: the state's id (gil_tstate_id) and its load since it
     * was created: the fraction of its lifetime it held the GIL (timed
     * holds, as gil_stats_t.held_ratio) and spent waiting for it (0..1). */
    uint64_t id;
    double held_ratio;
    double wait_ratio;
} gil_tstate_stats_t;

/* Snapshot of the counters.  Always on.  Counters are read one by one
 * (relaxed), so a snapshot taken while threads run is not atomic as a whole.
 * GIL: any.  Threads: any (for a tstate: while it is alive). */
GIL_EXTERN int gil_stats_get(const gil_t *gil, gil_stats_t *out);
GIL_EXTERN int gil_tstate_stats_get(const gil_tstate_t *ts, gil_tstate_stats_t *out);
/* Reset the histograms (not the counters) of the GIL and its states. */
GIL_EXTERN int gil_stats_reset(gil_t *gil);

/* ------------------------------------------------------------------------ */
/* Event hooks                                                              */

/* Why the GIL was released (GIL_EVENT_RELEASED). */
typedef enum {
    GIL_REASON_RELEASE = 0, /* gil_release */
    GIL_REASON_SAVE,        /* gil_save / GIL_BEGIN_ALLOW_THREADS: a blocking call */
    GIL_REASON_DROP,        /* a check point honoured a drop request */
    GIL_REASON_YIELD,       /* gil_yield */
    GIL_REASON_POLICY,      /* the policy's own release (GIL_POLICY_LEGACY's ticks) */
    GIL_REASON_FINAL        /* the state is done with the GIL (gil_ensure_release's
                               last level, an acquire undone by shutdown) */
} gil_reason_t;

/* The reason's short name ("save"), or "unknown". */
GIL_EXTERN const char *gil_reason_name(gil_reason_t reason);

typedef enum {
    GIL_EVENT_TSTATE_NEW = 1u << 0,    /* a state was created */
    GIL_EVENT_WAIT = 1u << 1,          /* tstate wants the GIL and must wait;
                                          other = the holder then (blame) */
    GIL_EVENT_ACQUIRED = 1u << 2,      /* tstate got it; duration_ns = the wait
                                          (0 if uncontended) */
    GIL_EVENT_RELEASED = 1u << 3,      /* tstate let go; reason; duration_ns =
                                          the hold if it was timed, else 0 */
    GIL_EVENT_DROP_REQUEST = 1u << 4,  /* tstate (a waiter) asked other (the
                                          holder) to drop */
    GIL_EVENT_TSTATE_DELETE = 1u << 5, /* a state is being deleted */
    GIL_EVENT_ALL = (1u << 6) - 1
} gil_event_type_t;

typedef struct gil_event {
    gil_event_type_t type;
    gil_reason_t reason;         /* GIL_EVENT_RELEASED only */
    gil_t *gil;
    const gil_tstate_t *tstate;  /* the thread the event is about */
    const gil_tstate_t *other;   /* see the types; NULL if none */
    uint64_t time_ns;            /* CLOCK_MONOTONIC, nanoseconds */
    uint64_t duration_ns;        /* see the types */
} gil_event_t;

typedef void (*gil_hook_fn)(const gil_event_t *ev, void *arg);
typedef uint64_t gil_hook_handle_t;

/* Call fn(ev, arg) for every event whose type is in mask, in the thread the
 * event happens in.  Hooks run with no internal mutex held, possibly
 * concurrently from several threads; ACQUIRED and RELEASED run while that
 * thread holds the GIL.  WAIT and DROP_REQUEST run in the waiting thread,
 * which may be handed the GIL while its hook runs (FIFO and PRIORITY hand
 * over directly): gil_held() inside such a hook may read either.  A hook must be quick and must not call libgil
 * functions that take or release this GIL, add or remove hooks, or block;
 * reading statistics and names is fine.  `other` may be a state that is
 * being deleted: use it only for its name and only inside the hook.
 * With no hook installed the cost is one predictable branch on paths that
 * already branch on a flags word.  Returns 0 and *handle, GIL_EINVAL,
 * GIL_ENOMEM.  GIL: any.  Threads: any. */
GIL_EXTERN int gil_hook_add(gil_t *gil, unsigned mask, gil_hook_fn fn, void *arg,
                            gil_hook_handle_t *handle);
/* Remove a hook.  When it returns, the hook is not running and will not run
 * again (an RCU grace period).  GIL_EINVAL for an unknown handle,
 * GIL_EDEADLK if called from inside a hook.  Threads: any, not a hook. */
GIL_EXTERN int gil_hook_remove(gil_t *gil, gil_hook_handle_t handle);

/* ------------------------------------------------------------------------ */
/* Observability                                                            */
/*                                                                          */
/* Load figures, a one-line summary, Prometheus metrics, traces (Chrome     */
/* Trace Event JSON for Perfetto / chrome://tracing, or any format through  */
/* gil_trace_visit) and the long-hold watchdog.  docs/observability.md has  */
/* an example of every output.                                              */

/* A state's id: 1, 2, 3... in creation order within its GIL, never reused
 * by that GIL.  The same number labels the state's trace track ("tid");
 * Prometheus series are labelled by state name instead, so that thread
 * churn does not mint series.  0 for NULL.  Threads: any,
 * while the state is alive. */
GIL_EXTERN uint64_t gil_tstate_id(const gil_tstate_t *ts);

/* Load figures (gil_stats_t.held_ratio*, .wait_ratio*, .switches_per_sec).
 *
 * held_ratio: the time the GIL was held in TIMED holds, divided by the elapsed
 *   time.  A hold in progress counts up to the moment of the call.  Under
 *   GIL_TIMING_ALWAYS every hold is timed, so this is the fraction of time
 *   the GIL was held, as gil_load reports it.  Under GIL_TIMING_CONTENDED
 *   (the default) an uncontended hold is not timed (that is what keeps the
 *   clock off the fast path); a hold is timed from the moment another
 *   thread starts waiting for it (or from its start when threads already
 *   wait, or while a hook or a trace is active) until its release.  So the
 *   default figure is "the fraction of time the GIL was held while somebody
 *   wanted it": 0 for a single thread running alone, close to 1 under a
 *   convoy.  It never over-states.
 * wait_ratio: the total time threads spent waiting (contended acquisitions,
 *   counted when the wait ends), divided by the elapsed time: the average
 *   number of waiting threads.  With one waiter at a time it is the
 *   fraction of time waited (0..1, gilknocker's contention figure); with N
 *   threads queued it approaches N.  Always measured (a contended
 *   acquisition reads the clock anyway).
 * _1s/_5s/_15s: exponential moving averages of the same rates with those
 *   time constants, starting from 0 at gil_create.  They are advanced when
 *   a figure is read (gil_stats_get, gil_stats_format, the Prometheus
 *   writer) and, while threads wait, by the waiters themselves at most
 *   every 10 ms; between two updates the rate is taken as constant.  So a
 *   monitor that reads once a second gets 1 s resolution, and a contended
 *   GIL is sampled finely without any monitor.
 * Cost: nothing on the uncontended fast path (no clock read, no atomic
 * read-modify-write); the waiters' update is a few multiplications every
 * 10 ms, under a try-lock that never blocks. */

/* One line summarising the GIL's load and latencies, in the spirit of
 * gil_load, e.g.
 *   gil "main" held 0.95 (1s 0.93, 5s 0.91, 15s 0.90) wait 0.98 (1s 1.00,
 *   5s 0.97, 15s 0.92) waiting 1 switches/s 199 wait p50 5.07ms p99 5.2ms
 *   hold p99 5.1ms drop p99 3.1us
 * (one line, no newline).  snprintf semantics: writes at most len bytes
 * including the terminating NUL (buf may be NULL when len is 0) and returns
 * the length the whole line has, so a return >= len means it was truncated.
 * Returns GIL_EINVAL for a NULL gil (or NULL buf with len > 0).  Formatted
 * by the library itself: no printf-family function is called, so a host
 * that replaces them (a statically linked interpreter) is not involved.
 * GIL: any.  Threads: any (advances the moving averages).  Memory order:
 * as gil_stats_get (each figure read relaxed, not one atomic snapshot). */
GIL_EXTERN int gil_stats_format(const gil_t *gil, char *buf, size_t len);

/* Write every counter, gauge and latency histogram of the GIL and of its
 * live states in the Prometheus text exposition format (version 0.0.4;
 * HTTP Content-Type "text/plain; version=0.0.4; charset=utf-8").
 * Families are named gil_* (per-thread families gil_thread_*), each with
 * # HELP and # TYPE; every sample has the label gil="<name>".
 *  - Counters (*_total) for everything that only grows, seconds as exact
 *    decimals of the nanosecond counts; no precomputed rates or moving
 *    averages (use rate()); gil_start_time_seconds is the Unix time of
 *    gil_create; gil_held_ratio is the since-start fraction, 0..1.
 *  - Latencies (gil_wait_duration_seconds, gil_hold_duration_seconds,
 *    gil_drop_latency_seconds, and per thread wait and hold) are
 *    histograms with the same fixed bounds everywhere, so they aggregate
 *    across GILs and processes: le = 1e-06 2.5e-06 5e-06 ... 5.0 10.0 +Inf
 *    (1, 2.5, 5 per decade from 1 us to 10 s), plus _sum and _count
 *    (_count equals the +Inf bucket).  The counts come from the log-linear
 *    histograms: a log-linear bucket that straddles a bound is counted
 *    under the next bound, so the count at `le` never exceeds the number of
 *    observations <= le and misses at most those in (le x 32/33, le].
 *    gil_stats_reset resets them, which Prometheus sees as a counter reset.
 *    The maxima are gauges (..._max_seconds).
 *  - Per-thread series are labelled thread="<state name>" (no state id):
 *    states with the same name share one series, their counts summed; at
 *    most 64 names per GIL get a series of their own (the names of the
 *    oldest states first) and the other states are summed into
 *    thread="other", so thread churn cannot grow the number of series.
 *    gil_thread_states says how many live states each series sums.  A
 *    series sums live states only: a deleted state's counts leave it (a
 *    counter reset to rate()).  Name states by role ("worker"), not by a
 *    unique number.
 * Label values are escaped as the format requires (\\ \" \n) and invalid
 * UTF-8 is replaced.  No printf-family function is called (a host may
 * replace them).  The stream is flushed.  Returns 0, or GIL_EINVAL (NULL
 * argument), GIL_ENOMEM, or GIL_EIO if writing failed (ferror).  GIL: any.
 * Threads: any; not from a signal handler.  Memory order: as gil_stats_get;
 * the states are walked as by gil_foreach_tstate (a state deleted meanwhile
 * may be missing). */
GIL_EXTERN int gil_stats_write_prometheus(const gil_t *gil, FILE *out);
/* The same for n GILs in one exposition: each family once, with one
 * sample set per GIL (the format forbids repeating a family, so use this,
 * not repeated calls, to export several GILs).  GIL names should differ. */
GIL_EXTERN int gil_stats_write_prometheus_many(const gil_t *const *gils, size_t n, FILE *out);
/* The same families and samples for n GILs (n may be 1) in the OpenMetrics
 * 1.0 text format (HTTP Content-Type "application/openmetrics-text;
 * version=1.0.0; charset=utf-8"): counter families are named without
 * _total in # HELP / # TYPE (their samples keep it), the policy and version
 * are an info family ("gil", sample gil_info), families in seconds have
 * # UNIT seconds, and the exposition ends with "# EOF".  Returns as
 * gil_stats_write_prometheus. */
GIL_EXTERN int gil_stats_write_openmetrics(const gil_t *const *gils, size_t n, FILE *out);

/* Tracing.
 *
 * gil_trace_start records every thread's GIL state changes into a ring
 * buffer of `capacity` events per thread state (0 means 65536; rounded up
 * to a power of two, at most 2^24; 16 bytes per event).  A ring is
 * allocated for every live state at the start and for every state created
 * while tracing (at creation), never on the event path: recording an event
 * is a few stores into the thread's own ring, no lock, no allocation.  When
 * a ring is full the oldest events are overwritten (a flight recorder);
 * the number lost is counted per thread and reported, never hidden.  States
 * deleted while tracing keep their tracks.  While tracing, every hold is
 * timed (as with a hook installed).  Tracing and hooks work together.
 * Returns 0, GIL_EBUSY if a trace is already recording, GIL_EINVAL,
 * GIL_ENOMEM, GIL_EDEADLK from inside a hook.  Discards the data of a
 * previous trace.  GIL: any.  Threads: any, not a hook.  Memory order: an
 * event that happens after gil_trace_start returned is recorded; one that
 * races with it may or may not be (every state's ring starts with the
 * state's state at the start, so the tracks are consistent either way). */
GIL_EXTERN int gil_trace_start(gil_t *gil, size_t capacity);
/* Stop recording; the data stays until the next gil_trace_start or
 * gil_destroy.  Returns 0, GIL_EINVAL (not recording), GIL_EDEADLK from
 * inside a hook.  Threads: any, not a hook.  Memory order: when it returns
 * no event is being recorded (an RCU grace period), and every recorded
 * event is visible to gil_trace_write_json / gil_trace_visit in any
 * thread. */
GIL_EXTERN int gil_trace_stop(gil_t *gil);
/* Write the stopped trace as Chrome Trace Event Format JSON (opens in
 * https://ui.perfetto.dev and chrome://tracing): one track per thread
 * state (tid = gil_tstate_id) named after the state, complete events
 * "running", "wants_gil" and "released" (args: the release reason, the
 * holder blamed for a wait), instant events "drop_request" and "watchdog"
 * (a long-hold report) on the holder's track, an instant "events_lost"
 * where a track's data begins if its ring
 * overflowed, and "otherData" with the GIL name, policy, switch interval,
 * libgil version, capacity, event and loss counts.  Times are microseconds
 * since gil_trace_start.  Returns 0, GIL_EINVAL (NULL, or no trace),
 * GIL_EBUSY (still recording: stop first), GIL_EIO (write error).
 * Threads: any, not a hook. */
GIL_EXTERN int gil_trace_write_json(gil_t *gil, FILE *out);

/* A thread state's GIL state on its track. */
typedef enum {
    GIL_TRACE_RUNNING = 0,   /* holds the GIL */
    GIL_TRACE_WANTS_GIL = 1, /* waiting for it; also from a release on a drop
                                request or a yield until it has it back */
    GIL_TRACE_RELEASED = 2   /* runs without it (blocking call, not started) */
} gil_trace_state_t;
/* "running", "wants_gil", "released", or "unknown". */
GIL_EXTERN const char *gil_trace_state_name(gil_trace_state_t state);

typedef struct gil_trace_info {
    const char *gil_name;
    const char *policy;          /* gil_policy_name */
    unsigned long interval_us;   /* switch interval when the trace stopped */
    uint64_t start_ns, stop_ns;  /* CLOCK_MONOTONIC */
    size_t capacity;             /* events per ring */
    size_t tracks;
    uint64_t events;             /* recorded, all tracks */
    uint64_t lost;               /* overwritten, all tracks */
    uint64_t untraced;           /* states created while tracing that got no
                                    ring (out of memory) */
} gil_trace_info_t;

typedef struct gil_trace_track {
    uint64_t id;                 /* gil_tstate_id of the state */
    const char *name;            /* its name ("" if none) */
    uint64_t events, lost;       /* recorded on this track / overwritten */
    uint64_t begin_ns;           /* data is complete from here: the trace
                                    start, the state's creation, or (lost >
                                    0) the oldest event kept */
    uint64_t end_ns;             /* the trace stop or the state's deletion */
    int deleted;                 /* the state was deleted while tracing */
    int reserved;                /* 0 (explicit padding) */
} gil_trace_track_t;

typedef struct gil_trace_slice {
    gil_trace_state_t state;
    int has_reason;              /* reason is meaningful: */
    gil_reason_t reason;         /* RUNNING: the release that ended it;
                                    others: the release that began it */
    int open;                    /* still the current state at end_ns */
    uint64_t start_ns, end_ns;   /* CLOCK_MONOTONIC, start <= end */
    uint64_t blamed;             /* WANTS_GIL: id of the holder when the wait
                                    began; 0 if unknown */
} gil_trace_slice_t;

typedef enum {
    GIL_TRACE_MARK_DROP_REQUEST = 0, /* a waiter asked the holder to drop */
    GIL_TRACE_MARK_WATCHDOG = 1      /* the watchdog reported a long hold */
} gil_trace_mark_kind_t;

typedef struct gil_trace_mark {  /* an instant on the holder's track */
    uint64_t time_ns;
    uint64_t holder;             /* id of the state holding the GIL */
    uint64_t waiter;             /* id of the waiter that asked / noticed */
    gil_trace_mark_kind_t kind;
    int reserved;                /* 0 (explicit padding) */
} gil_trace_mark_t;

/* Callbacks for gil_trace_visit; any may be NULL.  A non-zero return stops
 * the visit and is returned by it. */
typedef struct gil_trace_visitor {
    int (*info)(const gil_trace_info_t *info, void *arg);
    int (*track)(const gil_trace_track_t *track, void *arg);
    int (*slice)(const gil_trace_track_t *track, const gil_trace_slice_t *slice, void *arg);
    int (*mark)(const gil_trace_mark_t *mark, void *arg);
} gil_trace_visitor_t;

/* Walk the stopped trace: info once; then per track (in id order) track()
 * followed by its slices in time order; then every mark (drop requests and
 * watchdog reports).
 * Pointers passed to the callbacks are valid during the call only.  The
 * callbacks run under an internal mutex: they must not start, stop, visit
 * or write a trace, nor add or remove hooks.  Returns 0, a callback's
 * non-zero value, GIL_EINVAL (no trace), GIL_EBUSY (still recording).
 * Threads: any, not a hook. */
GIL_EXTERN int gil_trace_visit(gil_t *gil, const gil_trace_visitor_t *v, void *arg);

/* The long-hold watchdog (gil_config_t.watchdog_*).
 *
 * A holder that ignores a drop request (no check point, e.g. a long C call
 * made without releasing the GIL: "C extensions are a wild card") starves
 * every waiter.  The waiters wake every switch interval anyway; each wake-up
 * looks at the pending request, and when it has been pending for more than
 * watchdog_factor x interval the watchdog reports the episode, once.  The
 * episode ends when the holder releases the GIL; a later request starts a
 * new one.  The report runs in the waiter's thread with no internal mutex
 * held; it may read statistics and names but must not take or release this
 * GIL.  A report can also mean that the holder's thread was not scheduled
 * for that long (an overloaded machine): the hold time tells. */
typedef struct gil_watchdog_report {
    gil_t *gil;
    char holder[32];             /* the holder's state name */
    uint64_t holder_id;          /* its gil_tstate_id */
    char waiter[32];             /* the waiter that noticed */
    uint64_t waiter_id;
    uint64_t waiting;            /* threads waiting at the time */
    uint64_t ignored_ns;         /* since the drop request was made */
    uint64_t held_ns;            /* since the hold began being timed (its
                                    start, or the first waiter's arrival if
                                    it began uncontended): a lower bound */
    uint64_t limit_ns;           /* watchdog_factor x interval */
} gil_watchdog_report_t;

/* The default report: one line on stderr, e.g.
 *   libgil: watchdog: gil "main": "hog" (tstate 1) held the GIL 52.3ms and
 *   ignored a drop request for 50.1ms (limit 50ms); 1 waiting, "io"
 *   (tstate 2) noticed
 * Usable as watchdog_fn (arg ignored). */
GIL_EXTERN void gil_watchdog_print(const gil_watchdog_report_t *report, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* GIL_H */
