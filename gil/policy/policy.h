/*
 * policy/policy.h - the policy layer: the scheduling policies (cpython.c,
 * legacy.c, fifo.c, priority.c), the waiter protocol they share (waiter.c)
 * and the direct-handoff engine behind FIFO and PRIORITY (handoff.c).
 * Each policy implements core.h's gil__policy_ops_t; the core calls it only
 * through that table.  Includes only the layers below (core, platform).
 */
#ifndef GIL_POLICY_H
#define GIL_POLICY_H

#include "core/core.h"

/* table.c: the policy of an id, NULL for an unknown one. */
#define GIL__POLICY_MAX 4 /* entries in the table */
const gil__policy_ops_t *gil__policy_lookup(gil_policy_t id);

extern const gil__policy_ops_t gil__policy_cpython;
extern const gil__policy_ops_t gil__policy_legacy;
extern const gil__policy_ops_t gil__policy_fifo;
extern const gil__policy_ops_t gil__policy_priority;

/* ------------------------------------------------------------------------ */
/* waiter.c: the waiting protocol every policy shares                       */

/* What a wait loop is asked to do. */
#define GIL__ANY_SWITCH UINT64_MAX
typedef struct gil__wait_req {
    /* GIL__ANY_SWITCH, or (a yielder) do not take a free GIL until
     * switch_number has moved past this value: another thread first. */
    uint64_t not_before;
    const void *params;      /* the policy's own parameters, or NULL */
} gil__wait_req_t;

/* A policy's wait loop: called with gil->mu held and the caller registered
 * as a waiter; returns 0 holding the GIL, GIL_ESHUTDOWN, or one of the
 * GIL__WAIT_* codes below (holding the GIL, already unregistered by the
 * thread that handed it over).  It may drop and retake mu (hooks, the
 * watchdog, spinning), but every cancellation point inside it is a condvar
 * wait on gil->mu (see gil__waiter_run). */
#define GIL__WAIT_GRANTED_LOCKED 1   /* mu held */
#define GIL__WAIT_GRANTED_UNLOCKED 2 /* mu not held: a spinner saw its grant */
typedef int (*gil__wait_loop_fn)(gil_t *gil, gil_tstate_t *ts, const gil__wait_req_t *req);
/* Undo a cancelled wait loop's own bookkeeping (queues, flags), with
 * gil->mu held; if the GIL was handed to ts meanwhile, pass it on.  Returns
 * whether ts is still registered as a waiter (a handover unregisters its
 * grantee).  May be NULL for a loop that keeps no state of its own. */
typedef bool (*gil__wait_cancel_fn)(gil_t *gil, gil_tstate_t *ts);

/* Every policy's take, and the waiting half of a yield: lock mu, register
 * as a waiter (unless `registered`: a yielder registered before it let
 * go), run the loop, unregister, unlock.  A cancelled thread (pthread_cancel
 * in one of the loop's condvar waits) runs `cancel`, unregisters and
 * unlocks mu on its way out: it leaves the GIL usable by everyone else. */
int gil__waiter_run(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop, gil__wait_cancel_fn cancel,
                    const gil__wait_req_t *req, bool registered);

/* Register / unregister a waiter.  Called with gil->mu held. */
void gil__waiter_enter(gil_t *gil);
void gil__waiter_leave(gil_t *gil);
/* Try to take a free GIL (mu held, caller registered).  Keeps W in the
 * word when other waiters remain; clears the taker's own stale request. */
bool gil__waiter_try_take(gil_t *gil, gil_tstate_t *ts);
/* Make sure the holder's release will come to wake us.  Returns false if
 * the word changed under us (retry). */
bool gil__waiter_set_w(gil_t *gil, uintptr_t w);
/* True if a waiter with not_before may take a free GIL now. */
bool gil__may_take(gil_t *gil, uint64_t not_before);
/* Ask the holder named by word w to drop (mu held, by a waiter whose
 * interval expired without a switch); may drop and retake mu to run hooks,
 * so the caller must re-read the GIL's state after it. */
void gil__request_drop(gil_t *gil, gil_tstate_t *waiter, uintptr_t w);
/* Wait until another thread than ts has taken the GIL (FORCE_SWITCHING) or
 * the GIL shuts down.  Called without any lock; a cancellation point. */
void gil__wait_for_switch(gil_t *gil, gil_tstate_t *ts);

/* The policies whose waiters share one condvar (CPYTHON, LEGACY): the
 * condvar lives in their per-GIL state (cond_init / cond_fini / the fork
 * and shutdown hooks below are their table entries). */
int gil__shared_cond_init(gil_t *gil);
void gil__shared_cond_fini(gil_t *gil);
void gil__shared_cond_wake_all(gil_t *gil);
void gil__shared_cond_after_fork_child(gil_t *gil);
/* Wait on the shared condvar (mu held): untimed if timeout_ns is 0.
 * Returns 1 if the wait timed out. */
int gil__shared_cond_wait(gil_t *gil, uint64_t timeout_ns);
/* Release the word and wake one waiter of the shared condvar if any may
 * sleep.  Returns the old word. */
uintptr_t gil__release_word_signal_one(gil_t *gil);
/* take and gil_yield for the shared-condvar policies, given their loop. */
int gil__shared_cond_take(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop);
int gil__shared_cond_yield(gil_t *gil, gil_tstate_t *ts, gil__wait_loop_fn loop);

/* ------------------------------------------------------------------------ */
/* handoff.c: direct handoff with per-class FIFO queues (FIFO, PRIORITY)   */

/* Who spins before sleeping (see handoff.c for the measured budgets). */
typedef enum {
    GIL__SPIN_NONE = 0,  /* sleep at once */
    GIL__SPIN_ASKER,     /* just asked the holder to drop: the grant is near */
    GIL__SPIN_RESUMER    /* a CPU thread an I/O thread interrupted */
} gil__spin_t;

typedef struct gil__wait_params {
    int klass;           /* 0 (served first) or 1 */
    gil__spin_t spin;
    uint64_t spin_cap_ns;/* never spin longer than this (ns); 0: do not spin */
    bool ask_at_once;    /* make a drop request without waiting a turn */
    bool resume;         /* queue at the front: resume an interrupted turn */
} gil__wait_params_t;

/* A waiter's state in the handoff engine.  A policy built on the engine
 * puts this first in its per-thread state (gil__policy_tstate). */
typedef struct gil__handoff_waiter {
    pthread_cond_t wake;          /* its private wake-up; waits on gil->mu */
    gil_tstate_t *q_next;         /* wait-queue link [mu] */
    _Atomic int granted;          /* ownership was handed to us: set under mu
                                     with release, read by a spinning waiter
                                     without mu with acquire */
    int queued;                   /* on a wait queue; which one: klass [mu] */
    int klass;                    /* wait queue class, 0 served first [mu] */
    int sleeping;                 /* blocked on wake (a handoff must signal) [mu] */
    int timing;                   /* asleep as the head of class 1, timing the
                                     current turn [mu] */
    int resuming;                 /* queued at the front of its class to resume
                                     a turn an I/O thread interrupted [mu] */
    int slept;                    /* was asleep when granted [mu] */
    int ask_missed;               /* as the head of class 1, its last
                                     end-of-turn request found nobody to ask
                                     [mu] */
    int boosted;                  /* holds the GIL as a class-0 (I/O) thread;
                                     cleared when it hands over [mu] */
    uint64_t granted_ns;          /* ns of the last grant (start of the hold) [mu] */
    uint64_t asked_ns;            /* ns of its pending drop request, 0 if none [mu] */
    _Atomic int preempted_by_io;  /* the pending drop request came from a
                                     class-0 waiter; set under mu before the
                                     DROP bit (release), read by the owner
                                     after it saw the bit */
    /* The resumed turn's protection (see "Protection" in handoff.c). */
    int resumed;                  /* the last grant resumed an interrupted
                                     turn [mu, then the grantee's after the
                                     grant] */
    uint64_t gap_io_ns;           /* with `resumed`: ns of I/O threads' own
                                     work while this owner was away [same] */
    uint64_t ran_ns;              /* ns when its current hold began, as it
                                     saw it (its take returned) [owner] */
    uint64_t dropped_ns;          /* ns of its last release as a turn owner
                                     [owner, under mu] */
    _Atomic uint64_t ema_dead_ns; /* what an interruption costs it beyond the
                                     I/O threads' own work; written by the
                                     owner, read relaxed by the granter of
                                     its resumption */
    _Atomic uint64_t protect_until_ns; /* class-0 waiters do not ask before
                                     this (ns) while it holds; set by the
                                     granter of a resumption, cleared by the
                                     owner when it drops, read relaxed by
                                     askers under mu (a stale value costs one
                                     early or one late request, never a
                                     lost one) */
} gil__handoff_waiter_t;

/* The engine's measured estimates (ns), for tests and reports. */
typedef struct gil__handoff_estimates {
    uint64_t grant_ns;       /* ask -> grant */
    uint64_t boost_hold_ns;  /* an I/O thread's hold */
    uint64_t wake_ns;        /* grant -> a sleeping grantee runs */
    uint64_t deferred_asks;  /* class-0 asks deferred by a resumed turn's
                                protection (a count) */
    uint64_t lost_resumptions; /* interrupted turn owners that came back to
                                find a fresh turn begun (a count) */
    uint64_t io_hold_floor_ns; /* the part of an I/O hold taken as the
                                lock's own cost, not work */
} gil__handoff_estimates_t;
void gil__handoff_estimates(const gil_t *gil, gil__handoff_estimates_t *out);

static inline gil__handoff_waiter_t *gil__handoff_waiter(const gil_tstate_t *ts)
{
    return (gil__handoff_waiter_t *)gil__policy_tstate(ts);
}

int gil__handoff_take(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p);
void gil__handoff_drop(gil_t *gil, gil_tstate_t *ts);
int gil__handoff_yield(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p);
/* The policy's honour_drop on the engine: queue (at the front if
 * p->resume and ts's turn is the current one), hand over, wait. */
int gil__handoff_honour_drop(gil_t *gil, gil_tstate_t *ts, const gil__wait_params_t *p);
void gil__handoff_wake_all(gil_t *gil);
int gil__handoff_init(gil_t *gil);
void gil__handoff_fini(gil_t *gil);
void gil__handoff_tstate_init(gil_t *gil, gil_tstate_t *ts);
void gil__handoff_tstate_fini(gil_t *gil, gil_tstate_t *ts);
void gil__handoff_after_fork_child(gil_t *gil);
void gil__handoff_tstate_after_fork_child(gil_t *gil, gil_tstate_t *ts, bool survivor);

#endif /* GIL_POLICY_H */
