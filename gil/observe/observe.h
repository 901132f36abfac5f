/*
 * observe/observe.h - the observability layer: event hooks (hooks.c),
 * statistics snapshots (stats.c), load figures (load.c), the one-line
 * summary (summary.c), Prometheus (prometheus.c), traces (trace.c) and the
 * long-hold watchdog (watchdog.c).
 *
 * Layer: observe.  A client of the core: it reads the core's counters and
 * implements core.h's gil__observer_ops_t, through which the core hands it
 * events, state births and deaths, waiters' wake-ups and fork.  The core
 * never names anything declared here; policies never call it either.
 * Includes only the layers below (core, platform).
 */
#ifndef GIL_OBSERVE_H
#define GIL_OBSERVE_H

#include "core/core.h"

typedef struct gil__trace gil__trace_t;           /* a trace session (trace.c) */
typedef struct gil__trace_ring gil__trace_ring_t; /* one state's events (trace.c) */
struct gil__hooks;                                /* the hook array (hooks.c) */

/* Moving averages of the load (load.c).  Updated by whoever gets the
 * try-lock: readers of the figures, and waiters at most every
 * GIL__LOAD_PERIOD_NS.  Never blocks anyone. */
#define GIL__LOAD_WINDOWS 3 /* 1 s, 5 s, 15 s */
#define GIL__LOAD_PERIOD_NS 10000000u
typedef struct gil__load {
    _Atomic uint64_t lock;        /* 0 free, else (fork generation << 1) | 1:
                                     a lock taken before a fork is stale in the
                                     child and may be taken over there */
    _Atomic uint64_t t;           /* ns of the last update [lock]; read
                                     relaxed by the waiters' rate limit */
    uint64_t held, wait, switches;/* cumulative values at t [lock] */
    /* The averages, as double bit patterns [lock writes, anyone reads]. */
    _Atomic uint64_t held_ema[GIL__LOAD_WINDOWS];
    _Atomic uint64_t wait_ema[GIL__LOAD_WINDOWS];
    _Atomic uint64_t switch_rate; /* switches per second, 1 s window */
} gil__load_t;

/* The observers' state of one GIL (gil->obs). */
typedef struct gil__obs {
    pthread_mutex_t mu;               /* serialises hook add/remove and trace
                                         start/stop/export; lock order: before
                                         the core's reg_mu */
    _Atomic(struct gil__hooks *) hooks; /* immutable array, replaced whole;
                                         read inside an RCU read-side section */
    uint64_t next_hook_id;            /* [mu] */
    int rcu_sync;                     /* address for the TSan RCU annotations */
    unsigned observers;               /* reasons to emit events: 1 while a
                                         hook array is installed, 1 while a
                                         trace records; GIL__F_OBSERVE is set
                                         iff > 0 [mu] */
    gil__trace_t *trace;              /* the last trace session, NULL if none
                                         [mu and the core's reg_mu to write;
                                         either to read] */
    gil__load_t load;                 /* moving averages (load.c) */
    uint64_t wd_episode;              /* drop_t0 of the request last reported
                                         by the watchdog [gil->mu] */
    _Atomic uint64_t wd_reports;      /* [gil->mu writes] */
    _Atomic uint64_t wd_polls;        /* waiter wake-ups seen [gil->mu writes] */
} gil__obs_t;

static inline gil__obs_t *gil__obs(const gil_t *gil)
{
    return (gil__obs_t *)gil->obs;
}

/* hooks.c: attach the observers to a new GIL (gil.c), detach them from a
 * GIL being destroyed.  Returns 0 or GIL_ENOMEM. */
int gil__observe_attach(gil_t *gil);
void gil__observe_detach(gil_t *gil);
/* GIL__F_OBSERVE follows the number of observers.  Called with obs->mu. */
void gil__observers_add(gil_t *gil, int delta);
/* The length (1-4) of the valid UTF-8 sequence at s, 0 if s does not start
 * one (or *s is NUL).  For the writers of JSON and Prometheus text. */
size_t gil__utf8_seq_len(const unsigned char *s);

/* trace.c */
/* Record an event in ts's ring, if it has one and the caller is ts's
 * owner.  Called from the event handler inside its RCU read-side section. */
void gil__trace_record(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts,
                       const gil_tstate_t *other, uint64_t time_ns, gil_reason_t reason);
/* With reg_mu held: give a new state a ring if a trace records; detach a
 * dying state's ring (kept in the session) and stamp its end. */
void gil__trace_tstate_new(gil_t *gil, gil_tstate_t *ts);
void gil__trace_tstate_delete(gil_t *gil, gil_tstate_t *ts);
/* The watchdog reported a long hold of holder_id: a mark in the waiter's
 * ring (the caller is the waiter's thread).  Any lock may be held. */
void gil__trace_watchdog(gil_t *gil, const gil_tstate_t *waiter, uint64_t holder_id, uint64_t time_ns);
void gil__trace_fini(gil_t *gil);

/* load.c */
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

/* watchdog.c: the waiters' periodic duty (gil__observer_ops_t.waiter_poll):
 * advance the load averages (rate-limited) and look for a long hold
 * (gil_config_t.watchdog_*).  With gil->mu held; may drop and retake it to
 * run the report callback. */
void gil__watchdog_poll(gil_t *gil, gil_tstate_t *waiter);

#endif /* GIL_OBSERVE_H */
