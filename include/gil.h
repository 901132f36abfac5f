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
    XX(ESHUTDOWN, ESHUTDOWN, "the GIL is shutting down")

typedef enum {
#define GIL__ERR_ENUM(name, val, msg) GIL_##name = -(val),
    GIL_ERRNO_MAP(GIL__ERR_ENUM)
#undef GIL__ERR_ENUM
    GIL__ERR_DUMMY = 0
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
    GIL_POLICY_COUNT__      /* number of policies; not a policy */
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
    /* A name for this GIL (reports, traces, metrics labels); copied, at most
     * 63 bytes kept.  NULL means "gil". */
    const char *name;
    /* GIL_POLICY_LEGACY: check points ("ticks") between forced releases
     * (Python <= 3.1's sys.setcheckinterval).  Default 100. */
    unsigned legacy_check_interval;
    /* GIL_POLICY_PRIORITY tuning (see docs/policies.md for where the
     * defaults come from; they were measured on a 2-core machine):
     * how long a returning I/O thread spins for a handoff before sleeping
     * (default 10 us), how long a CPU-bound waiter spins (default 5 us; 0
     * disables spinning), and the abuse guard: a thread loses its I/O
     * priority after `priority_abuse_count` (default 4) consecutive
     * allow-threads sections shorter than `priority_abuse_ns` (default
     * 2000 ns): it did not really block. */
    unsigned priority_spin_io_us;
    unsigned priority_spin_cpu_us;
    unsigned priority_abuse_ns;
    unsigned priority_abuse_count;
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

/* Destroy a GIL.  GIL_EBUSY while any thread state of it exists (delete them
 * first; after gil_shutdown() that can be done even for threads that were
 * blocked).  GIL_EINVAL for NULL.  Threads: any, no GIL held. */
GIL_EXTERN int gil_destroy(gil_t *gil);

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

/* Delete a thread state.  GIL_EBUSY if it holds the GIL; GIL_EPERM if it is
 * another thread's (except after gil_shutdown, or in a forked child, where
 * any thread may delete states left behind); GIL_EINVAL for NULL or an
 * already deleted state.  The memory is reused only after every concurrent
 * gil_foreach_tstate reader has finished (RCU grace period). */
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
#define GIL_BEGIN_ALLOW_THREADS { gil_tstate_t *gil__save = gil_save();
#define GIL_BLOCK_THREADS (void)gil_restore(gil__save);
#define GIL_UNBLOCK_THREADS gil__save = gil_save();
#define GIL_END_ALLOW_THREADS (void)gil_restore(gil__save); }

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
struct gil__tstate_head {
    uint32_t breaker; /* GIL__BREAK_* bits; accessed with __atomic builtins */
};
#define GIL__BREAK_DROP 0x1u      /* a waiter asks the holder to drop */
#define GIL__BREAK_PENDING 0x2u   /* pending calls may be queued */
#define GIL__BREAK_INTERRUPT 0x4u /* gil_tstate_interrupt */
#define GIL__BREAK_SHUTDOWN 0x8u  /* gil_shutdown */
#define GIL__BREAK_POLICY 0x10u   /* policy-specific work (ticks, ...) */

GIL_EXTERN int gil__check_slow(gil_tstate_t *ts);

#if defined(__GNUC__) || defined(__clang__)
#define GIL__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define GIL__UNLIKELY(x) (x)
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
#define GIL__CHECK_ALWAYS_SLOW 1
#else
#define GIL__CHECK_ALWAYS_SLOW 0
#endif
/* Not API: a breaker that is never 0, read instead of a NULL state's, so
 * that gil_check(NULL) reaches the slow path (GIL_EINVAL) without a second
 * branch in the caller's loop: the select below is loop-invariant. */
GIL_EXTERN extern const uint32_t gil__null_breaker;

static inline int gil_check(gil_tstate_t *ts)
{
    const uint32_t *breaker =
        ts != NULL ? &((struct gil__tstate_head *)(void *)ts)->breaker : &gil__null_breaker;
    if (GIL__UNLIKELY(GIL__CHECK_ALWAYS_SLOW || __atomic_load_n(breaker, __ATOMIC_RELAXED) != 0))
        return gil__check_slow(ts);
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
 * log-linear histogram with ~2 significant digits (relative error <= 1/64). */
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
    gil_t *gil;
    const gil_tstate_t *tstate;  /* the thread the event is about */
    const gil_tstate_t *other;   /* see the types; NULL if none */
    uint64_t time_ns;            /* CLOCK_MONOTONIC, nanoseconds */
    uint64_t duration_ns;        /* see the types */
    gil_reason_t reason;         /* GIL_EVENT_RELEASED only */
} gil_event_t;

typedef void (*gil_hook_fn)(const gil_event_t *ev, void *arg);
typedef uint64_t gil_hook_handle_t;

/* Call fn(ev, arg) for every event whose type is in mask, in the thread the
 * event happens in.  Hooks run with no internal mutex held, possibly
 * concurrently from several threads; ACQUIRED and RELEASED run while that
 * thread holds the GIL.  A hook must be quick and must not call libgil
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

#ifdef __cplusplus
}
#endif
#endif /* GIL_H */
