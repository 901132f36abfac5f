/*
 * observe/trace.c - per-thread flight recorders of GIL state changes, and their
 * Chrome Trace Event Format export.
 *
 * Layer: observe (calls core and platform only).
 *
 * Recording.  A trace session (gil__obs(gil)->trace) owns one ring per thread state
 * that existed while it recorded.  A ring is written only by its state's
 * owner thread, from the event handler (hooks.c), which every event already goes
 * through while GIL__F_OBSERVE is set: the recorder loads the state's ring
 * pointer, fills one 16-byte record and publishes it by bumping the ring's
 * head.  No lock, no allocation, no read-modify-write instruction: the
 * single writer makes a relaxed load + release store enough.  When the ring
 * is full the oldest record is overwritten; the head counts every record
 * ever written, so "head - capacity" is exactly the number lost.
 *
 * Rings are allocated where allocation is allowed: for every live state at
 * gil_trace_start, and for a state created while recording in
 * gil_tstate_new (the core's registry calls gil__trace_tstate_new, through the observer
 * table, with reg_mu held).
 * Deleting a state detaches its ring and stamps its end; the ring stays in
 * the session, so the track of a thread that came and went is kept.
 *
 * Lifetime.  The recorder runs inside the event handler's RCU read-side section.
 * gil_trace_stop clears every state's ring pointer under reg_mu, drops its
 * observer count and waits for a grace period: after that no recorder can
 * still be writing, and the session is immutable until the next
 * gil_trace_start (which frees it) or gil_destroy.  Export (visit, JSON)
 * reads it under obs->mu, which start and stop also hold.
 * Lock order: obs->mu, then reg_mu (as everywhere in the library).
 *
 * The initial state.  A state that exists when the trace starts gets a
 * first record describing its state at that moment (holds the GIL, waits,
 * or neither), written before the ring is published to its owner.  The
 * hold in progress is made timed (gil->hold_t0 stamped, as a waiter's
 * arrival does), so that its release is an event too.
 *
 * Replay.  A track's state is rebuilt from its records: ACQUIRED -> running;
 * WAIT -> wants_gil (blaming the holder the event names); RELEASED ->
 * released, except after a drop request or a yield, where the thread gives
 * the GIL away only to take it back at once: wants_gil.  Drop requests are
 * recorded by the waiter (its own ring) and shown on the holder's track.
 */
#include "observe/observe.h"

#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

#define DEFAULT_CAPACITY 65536u
#define MAX_CAPACITY (1u << 24)

/* Record types (the ring's own codes; 0 is never written). */
enum {
    REC_NEW = 1,      /* TSTATE_NEW: exists, does not hold the GIL */
    REC_WAIT,         /* WAIT: other = the holder */
    REC_ACQUIRED,
    REC_RELEASED,     /* reason */
    REC_DROP,         /* this waiter asked other (the holder) to drop */
    REC_INIT_RUNNING, /* the state when the trace started */
    REC_INIT_WAITING,
    REC_INIT_RELEASED,
    REC_WATCHDOG      /* the watchdog, in this waiter, reported other's hold */
};

typedef struct gil__trace_rec {
    uint64_t t;      /* CLOCK_MONOTONIC ns */
    uint32_t other;  /* gil_tstate_id of the event's other state, 0 if none */
    uint8_t type;    /* REC_* */
    uint8_t reason;  /* gil_reason_t, REC_RELEASED */
    uint16_t unused;
} gil__trace_rec_t;

struct gil__trace_ring {
    _Atomic uint64_t head;     /* records ever written [owner: relaxed load,
                                  release store] */
    uint64_t mask;             /* [const] capacity - 1 */
    uint64_t id;               /* [const] the state's gil_tstate_id */
    char name[32];             /* [const] */
    uint64_t begin_ns;         /* [const] trace start or state creation */
    uint64_t end_ns;           /* state deletion, 0 if it outlived the
                                  recording [reg] */
    gil__trace_ring_t *next;   /* the session's list [reg] */
    gil__trace_rec_t rec[];
};

struct gil__trace {
    uint64_t start_ns, stop_ns;  /* [obs->mu] */
    unsigned long interval_us;   /* at stop [obs->mu] */
    size_t capacity;             /* [const] */
    int recording;               /* [obs->mu and reg_mu to write] */
    uint64_t untraced;           /* states that got no ring [reg] */
    gil__trace_ring_t *rings;    /* newest first [reg] */
    size_t nrings;               /* [reg] */
};

/* ------------------------------------------------------------------------ */
/* Recording                                                                */

static uint8_t rec_type(gil_event_type_t type)
{
    switch (type) {
    case GIL_EVENT_TSTATE_NEW: return REC_NEW;
    case GIL_EVENT_WAIT: return REC_WAIT;
    case GIL_EVENT_ACQUIRED: return REC_ACQUIRED;
    case GIL_EVENT_RELEASED: return REC_RELEASED;
    case GIL_EVENT_DROP_REQUEST: return REC_DROP;
    default: return 0;
    }
}

/* The single writer's append.  Also used at start, before publication. */
static inline void ring_put(gil__trace_ring_t *r, uint64_t t, uint8_t type, uint64_t other,
                            gil_reason_t reason)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    gil__trace_rec_t *e = &r->rec[h & r->mask];
    e->t = t;
    e->other = (uint32_t)other;
    e->type = type;
    e->reason = (uint8_t)reason;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

void gil__trace_record(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts,
                       const gil_tstate_t *other, uint64_t time_ns, gil_reason_t reason)
{
    (void)gil;
    gil__trace_ring_t *r = (gil__trace_ring_t *)atomic_load_explicit(&((gil_tstate_t *)ts)->obs_slot, memory_order_acquire);
    /* Only the owner writes its ring; an event about ts raised by another
     * thread (a deletion after shutdown) is not recorded. */
    if (r == NULL || gil__owner(ts) != gil__thread_id())
        return;
    uint8_t code = rec_type(type);
    if (code != 0)
        ring_put(r, time_ns, code, other != NULL ? gil_tstate_id(other) : 0, reason);
}

void gil__trace_watchdog(gil_t *gil, const gil_tstate_t *waiter, uint64_t holder_id, uint64_t time_ns)
{
    if (!gil__observed(gil))
        return;
    urcu_bp_read_lock(); /* the ring's lifetime, as in the event handler */
    gil__trace_ring_t *r = (gil__trace_ring_t *)atomic_load_explicit(&((gil_tstate_t *)waiter)->obs_slot, memory_order_acquire);
    if (r != NULL && gil__owner(waiter) == gil__thread_id())
        ring_put(r, time_ns, REC_WATCHDOG, holder_id, GIL_REASON_RELEASE);
    GIL__TSAN_RELEASE(&gil__obs(gil)->rcu_sync);
    urcu_bp_read_unlock();
}

/* ------------------------------------------------------------------------ */
/* Sessions and rings                                                       */

static size_t round_capacity(size_t want)
{
    size_t c = 4;
    while (c < want)
        c <<= 1;
    return c;
}

/* A ring for ts, linked into the session.  Called with reg_mu. */
static gil__trace_ring_t *ring_new(gil__trace_t *s, gil_tstate_t *ts, uint64_t begin_ns)
{
    gil__trace_ring_t *r = malloc(sizeof *r + s->capacity * sizeof r->rec[0]);
    if (r == NULL)
        return NULL;
    atomic_init(&r->head, 0);
    r->mask = s->capacity - 1;
    r->id = gil_tstate_id(ts);
    memcpy(r->name, ts->name, sizeof r->name);
    r->name[sizeof r->name - 1] = '\0';
    r->begin_ns = begin_ns;
    r->end_ns = 0;
    r->next = s->rings;
    s->rings = r;
    s->nrings++;
    return r;
}

static void session_free(gil__trace_t *s)
{
    if (s == NULL)
        return;
    for (gil__trace_ring_t *r = s->rings, *next; r != NULL; r = next) {
        next = r->next;
        free(r);
    }
    free(s);
}

void gil__trace_tstate_new(gil_t *gil, gil_tstate_t *ts)
{
    gil__trace_ring_t *r = NULL;
    gil__trace_t *s = gil__obs(gil)->trace;
    if (s != NULL && s->recording) {
        r = ring_new(s, ts, ts->created_ns);
        if (r != NULL)
            ring_put(r, ts->created_ns, REC_INIT_RELEASED, 0, GIL_REASON_RELEASE);
        else
            s->untraced++; /* reported, never fatal for gil_tstate_new */
    }
    /* Always stored: pooled memory may hold a pointer from an earlier life. */
    atomic_store_explicit(&ts->obs_slot, r, memory_order_release);
}

void gil__trace_tstate_delete(gil_t *gil, gil_tstate_t *ts)
{
    (void)gil;
    gil__trace_ring_t *r = (gil__trace_ring_t *)atomic_load_explicit(&ts->obs_slot, memory_order_relaxed);
    if (r == NULL)
        return;
    atomic_store_explicit(&ts->obs_slot, NULL, memory_order_relaxed);
    r->end_ns = gil__now_ns();
}

void gil__trace_fini(gil_t *gil)
{
    session_free(gil__obs(gil)->trace);
    gil__obs(gil)->trace = NULL;
}

/* Make the hold in progress timed, so that its release is recorded (the
 * way a waiter's arrival does; see "Statistics without a clock" in core.c).
 * Called after GIL__F_OBSERVE is set: an acquirer that CASes the word after
 * our load reads the flag after its CAS and times its hold itself. */
static void time_current_hold(gil_t *gil, uint64_t now)
{
    if (gil__word_holder(atomic_load_explicit(&gil->word, memory_order_seq_cst)) == NULL)
        return;
    uint64_t untimed = 0;
    atomic_compare_exchange_strong_explicit(&gil->hold_t0, &untimed, now, memory_order_relaxed,
                                            memory_order_relaxed);
}

/* Rings for every live state, each starting with the state's state.
 * All or nothing: nothing is published unless every ring exists (an owner
 * may start writing as soon as it sees its ring).  Called with obs->mu and
 * reg_mu.  Returns false when out of memory. */
static bool attach_rings(gil_t *gil, gil__trace_t *s, uint64_t now)
{
    gil__trace_ring_t **made = malloc((gil->nstates ? gil->nstates : 1) * sizeof *made);
    if (made == NULL)
        return false;
    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire));
    size_t n = 0;
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_relaxed)) {
        gil__trace_ring_t *r = ring_new(s, ts, now);
        if (r == NULL) {
            free(made);
            return false; /* the caller frees the session and its rings */
        }
        uint8_t init = ts == holder ? REC_INIT_RUNNING
                       : atomic_load_explicit(&ts->waiting, memory_order_relaxed) ? REC_INIT_WAITING
                                                                                   : REC_INIT_RELEASED;
        ring_put(r, now, init, 0, GIL_REASON_RELEASE);
        made[n++] = r;
    }
    n = 0;
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_relaxed))
        atomic_store_explicit(&ts->obs_slot, made[n++], memory_order_release);
    free(made);
    return true;
}

int gil_trace_start(gil_t *gil, size_t capacity)
{
    if (gil == NULL || capacity > MAX_CAPACITY)
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK); /* from inside a hook */
    gil__trace_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return GIL_ENOMEM;
    s->capacity = round_capacity(capacity != 0 ? capacity : DEFAULT_CAPACITY);

    gil__mutex_lock(&gil__obs(gil)->mu);
    if (gil__obs(gil)->trace != NULL && gil__obs(gil)->trace->recording) {
        gil__mutex_unlock(&gil__obs(gil)->mu);
        free(s);
        return GIL__MISUSE(GIL_EBUSY);
    }
    /* Events first, then the snapshot of every state: whatever happens
     * after a state's snapshot is an event its ring will see. */
    gil__observers_add(gil, +1);
    uint64_t now = gil__now_ns();
    time_current_hold(gil, now);
    s->start_ns = now;
    s->recording = 1;

    gil__mutex_lock(&gil->reg_mu);
    /* The old session is unreachable: its stop cleared every ring pointer
     * and waited for a grace period. */
    gil__trace_t *old = gil__obs(gil)->trace;
    bool ok = attach_rings(gil, s, now);
    if (ok)
        gil__obs(gil)->trace = s;
    gil__mutex_unlock(&gil->reg_mu);

    if (!ok) {
        gil__observers_add(gil, -1);
        gil__mutex_unlock(&gil__obs(gil)->mu);
        session_free(s);
        return GIL_ENOMEM;
    }
    gil__mutex_unlock(&gil__obs(gil)->mu);
    session_free(old);
    return 0;
}

int gil_trace_stop(gil_t *gil)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK); /* a grace period would wait for ourselves */
    gil__mutex_lock(&gil__obs(gil)->mu);
    gil__trace_t *s = gil__obs(gil)->trace;
    if (s == NULL || !s->recording) {
        gil__mutex_unlock(&gil__obs(gil)->mu);
        return GIL__MISUSE(GIL_EINVAL);
    }
    gil__mutex_lock(&gil->reg_mu);
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_relaxed))
        atomic_store_explicit(&ts->obs_slot, NULL, memory_order_relaxed);
    s->recording = 0;
    s->stop_ns = gil__now_ns();
    s->interval_us = gil_get_switch_interval(gil);
    gil__mutex_unlock(&gil->reg_mu);
    gil__observers_add(gil, -1);
    /* Every recorder that could still hold a ring pointer is inside a
     * read-side section that started before the clearing. */
    synchronize_rcu();
    GIL__TSAN_ACQUIRE(&gil__obs(gil)->rcu_sync);
    gil__mutex_unlock(&gil__obs(gil)->mu);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading a stopped session                                                */

typedef struct view {
    gil_t *gil;
    gil__trace_t *s;
    gil__trace_ring_t **rings; /* sorted by id */
    size_t n;
    int cancel_state;          /* restored by view_close */
} view_t;

static int view_lock(gil_t *gil, view_t *v);

static int cmp_ring(const void *a, const void *b)
{
    uint64_t x = (*(gil__trace_ring_t *const *)a)->id, y = (*(gil__trace_ring_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Lock obs->mu and index the stopped session.  On error nothing is held.
 * Cancellation is off while the view is open: a visitor or a write to the
 * stream may reach a cancellation point, and a thread cancelled there would
 * end holding obs->mu. */
static int view_open(gil_t *gil, view_t *v)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK);
    int rc = view_lock(gil, v);
    if (rc != 0)
        gil__cancel_restore(v->cancel_state);
    return rc;
}

static int view_lock(gil_t *gil, view_t *v)
{
    v->cancel_state = gil__cancel_disable();
    gil__mutex_lock(&gil__obs(gil)->mu);
    v->gil = gil;
    v->s = gil__obs(gil)->trace;
    if (v->s == NULL || v->s->recording) {
        gil__mutex_unlock(&gil__obs(gil)->mu);
        return v->s == NULL ? GIL__MISUSE(GIL_EINVAL) : GIL__MISUSE(GIL_EBUSY);
    }
    v->n = v->s->nrings;
    v->rings = malloc((v->n ? v->n : 1) * sizeof *v->rings);
    if (v->rings == NULL) {
        gil__mutex_unlock(&gil__obs(gil)->mu);
        return GIL_ENOMEM;
    }
    size_t i = 0;
    for (gil__trace_ring_t *r = v->s->rings; r != NULL; r = r->next)
        v->rings[i++] = r;
    qsort(v->rings, v->n, sizeof *v->rings, cmp_ring);
    return 0;
}

static void view_close(view_t *v)
{
    free(v->rings);
    gil__mutex_unlock(&gil__obs(v->gil)->mu);
    gil__cancel_restore(v->cancel_state);
}

static const char *view_name(const view_t *v, uint64_t id)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->rings[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->rings[lo]->id == id ? v->rings[lo]->name : NULL;
}

static void view_info(const view_t *v, gil_trace_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->gil_name = v->gil->name;
    info->policy = v->gil->policy->name;
    info->interval_us = v->s->interval_us;
    info->start_ns = v->s->start_ns;
    info->stop_ns = v->s->stop_ns;
    info->capacity = v->s->capacity;
    info->tracks = v->n;
    info->untraced = v->s->untraced;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t head = atomic_load_explicit(&v->rings[i]->head, memory_order_acquire);
        info->events += head;
        info->lost += head > v->s->capacity ? head - v->s->capacity : 0;
    }
}

/* The oldest record kept. */
static uint64_t ring_first(const gil__trace_ring_t *r, uint64_t head)
{
    return head > r->mask + 1 ? head - (r->mask + 1) : 0;
}

static void view_track(const view_t *v, const gil__trace_ring_t *r, gil_trace_track_t *t)
{
    memset(t, 0, sizeof *t);
    uint64_t head = atomic_load_explicit(&((gil__trace_ring_t *)r)->head, memory_order_acquire);
    uint64_t first = ring_first(r, head);
    t->id = r->id;
    t->name = r->name;
    t->events = head;
    t->lost = first;
    t->begin_ns = first == 0 || head == 0 ? r->begin_ns : r->rec[first & r->mask].t;
    t->end_ns = r->end_ns != 0 ? r->end_ns : v->s->stop_ns;
    t->deleted = r->end_ns != 0;
    if (t->end_ns < t->begin_ns)
        t->end_ns = t->begin_ns;
}

/* Rebuilding a track's slices from its records. */
typedef int (*slice_fn)(const gil_trace_track_t *t, const gil_trace_slice_t *sl, void *arg);

typedef struct replay {
    const gil_trace_track_t *track;
    slice_fn fn;
    void *arg;
    int have;             /* a current state exists */
    gil_trace_slice_t cur; /* the slice being built */
} replay_t;

/* Enter state st at time t: close the current slice if the state changes. */
static int enter(replay_t *rp, gil_trace_state_t st, uint64_t t, uint64_t blamed, int has_reason,
                 gil_reason_t reason)
{
    if (rp->have && rp->cur.state == st) {
        if (st == GIL_TRACE_WANTS_GIL && rp->cur.blamed == 0)
            rp->cur.blamed = blamed; /* the WAIT after a release names the holder */
        return 0;
    }
    if (rp->have) {
        rp->cur.end_ns = t > rp->cur.start_ns ? t : rp->cur.start_ns;
        if (rp->cur.state == GIL_TRACE_RUNNING) {
            rp->cur.has_reason = has_reason;
            rp->cur.reason = reason;
        }
        int rc = rp->fn(rp->track, &rp->cur, rp->arg);
        if (rc != 0)
            return rc;
    }
    rp->have = 1;
    memset(&rp->cur, 0, sizeof rp->cur);
    rp->cur.state = st;
    rp->cur.start_ns = t;
    rp->cur.blamed = st == GIL_TRACE_WANTS_GIL ? blamed : 0;
    if (st != GIL_TRACE_RUNNING) {
        rp->cur.has_reason = has_reason;
        rp->cur.reason = reason;
    }
    return 0;
}

static int replay_rec(replay_t *rp, const gil__trace_rec_t *e)
{
    switch (e->type) {
    case REC_INIT_RUNNING:
    case REC_ACQUIRED:
        return enter(rp, GIL_TRACE_RUNNING, e->t, 0, 0, GIL_REASON_RELEASE);
    case REC_INIT_WAITING:
        return enter(rp, GIL_TRACE_WANTS_GIL, e->t, 0, 0, GIL_REASON_RELEASE);
    case REC_WAIT:
        return enter(rp, GIL_TRACE_WANTS_GIL, e->t, e->other, 0, GIL_REASON_RELEASE);
    case REC_INIT_RELEASED:
    case REC_NEW:
        return enter(rp, GIL_TRACE_RELEASED, e->t, 0, 0, GIL_REASON_RELEASE);
    case REC_RELEASED: {
        gil_reason_t why = (gil_reason_t)e->reason;
        bool back = why == GIL_REASON_DROP || why == GIL_REASON_YIELD;
        return enter(rp, back ? GIL_TRACE_WANTS_GIL : GIL_TRACE_RELEASED, e->t, 0, 1, why);
    }
    default: /* REC_DROP, REC_WATCHDOG: marks, not states */
        return 0;
    }
}

static int replay_ring(const gil__trace_ring_t *r, const gil_trace_track_t *t, slice_fn fn, void *arg)
{
    replay_t rp = {.track = t, .fn = fn, .arg = arg};
    uint64_t head = atomic_load_explicit(&((gil__trace_ring_t *)r)->head, memory_order_acquire);
    for (uint64_t i = ring_first(r, head); i < head; i++) {
        /* An event's time is read before it is recorded: one that straddles
         * the start of the trace is moved to the start of its track. */
        gil__trace_rec_t e = r->rec[i & r->mask];
        e.t = e.t < t->begin_ns ? t->begin_ns : e.t > t->end_ns ? t->end_ns : e.t;
        int rc = replay_rec(&rp, &e);
        if (rc != 0)
            return rc;
    }
    if (!rp.have)
        return 0;
    rp.cur.end_ns = t->end_ns > rp.cur.start_ns ? t->end_ns : rp.cur.start_ns;
    rp.cur.open = 1;
    return fn(t, &rp.cur, arg);
}

typedef int (*mark_fn)(const gil_trace_mark_t *m, void *arg);

static int ring_marks(const gil__trace_ring_t *r, mark_fn fn, void *arg)
{
    uint64_t head = atomic_load_explicit(&((gil__trace_ring_t *)r)->head, memory_order_acquire);
    for (uint64_t i = ring_first(r, head); i < head; i++) {
        const gil__trace_rec_t *e = &r->rec[i & r->mask];
        if (e->type != REC_DROP && e->type != REC_WATCHDOG)
            continue;
        gil_trace_mark_t m = {.time_ns = e->t, .holder = e->other, .waiter = r->id,
                              .kind = e->type == REC_DROP ? GIL_TRACE_MARK_DROP_REQUEST : GIL_TRACE_MARK_WATCHDOG};
        int rc = fn(&m, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *gil_trace_state_name(gil_trace_state_t state)
{
    switch (state) {
    case GIL_TRACE_RUNNING: return "running";
    case GIL_TRACE_WANTS_GIL: return "wants_gil";
    case GIL_TRACE_RELEASED: return "released";
    }
    return "unknown";
}

int gil_trace_visit(gil_t *gil, const gil_trace_visitor_t *vis, void *arg)
{
    if (vis == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    view_t v;
    int rc = view_open(gil, &v);
    if (rc != 0)
        return rc;
    gil_trace_info_t info;
    view_info(&v, &info);
    if (vis->info != NULL)
        rc = vis->info(&info, arg);
    for (size_t i = 0; rc == 0 && i < v.n; i++) {
        gil_trace_track_t t;
        view_track(&v, v.rings[i], &t);
        if (vis->track != NULL)
            rc = vis->track(&t, arg);
        if (rc == 0 && vis->slice != NULL)
            rc = replay_ring(v.rings[i], &t, vis->slice, arg);
    }
    for (size_t i = 0; rc == 0 && vis->mark != NULL && i < v.n; i++)
        rc = ring_marks(v.rings[i], vis->mark, arg);
    view_close(&v);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Chrome Trace Event Format                                                */

/* Written through the library's own formatter (platform/format.c), never
 * the printf family, which a host may replace: a gil__fmt_t in stream mode
 * buffers the output and fwrite()s it.  Times are exact fixed-point
 * decimals of the integer nanoseconds, not doubles. */

/* A JSON string: escapes quotes, backslashes and control characters, and
 * replaces bytes that are not valid UTF-8 (JSON text must be UTF-8). */
static void json_str(gil__fmt_t *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    gil__fmt_char(f, '"');
    while (*p != '\0') {
        size_t n = gil__utf8_seq_len(p);
        if (n == 0) {
            gil__fmt_str(f, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            gil__fmt_char(f, '\\');
            gil__fmt_char(f, (char)*p++);
        } else if (*p < 0x20) {
            gil__fmt_str(f, "\\u");
            gil__fmt_hex(f, *p++, 4);
        } else {
            gil__fmt_mem(f, (const char *)p, n);
            p += n;
        }
    }
    gil__fmt_char(f, '"');
}

/* "key":value pieces: ,"key": then the value. */
static void json_key(gil__fmt_t *f, const char *sep, const char *key)
{
    gil__fmt_str(f, sep);
    gil__fmt_char(f, '"');
    gil__fmt_str(f, key);
    gil__fmt_str(f, "\":");
}

static void json_u64(gil__fmt_t *f, const char *sep, const char *key, uint64_t v)
{
    json_key(f, sep, key);
    gil__fmt_u64(f, v);
}

/* Nanoseconds as microseconds with 3 decimals (exact). */
static void json_us(gil__fmt_t *f, const char *sep, const char *key, uint64_t ns)
{
    json_key(f, sep, key);
    gil__fmt_scaled(f, ns, 3, false);
}

typedef struct json_out {
    gil__fmt_t *f;
    const view_t *v;
    uint64_t t0;       /* trace start: time 0 of the file */
    const char *sep;   /* "" before the first event, then ",\n" */
} json_out_t;

/* Microseconds since the trace start, as the format wants them. */
static void json_ts(json_out_t *o, const char *key, uint64_t ns)
{
    json_us(o->f, "", key, ns >= o->t0 ? ns - o->t0 : 0);
}

static void json_event_head(json_out_t *o, const char *name, const char *ph, uint64_t tid)
{
    gil__fmt_str(o->f, o->sep);
    o->sep = ",\n";
    gil__fmt_str(o->f, "{\"name\":");
    json_str(o->f, name);
    gil__fmt_str(o->f, ",\"cat\":\"gil\",\"ph\":\"");
    gil__fmt_str(o->f, ph);
    gil__fmt_str(o->f, "\",\"pid\":1");
    json_u64(o->f, ",", "tid", tid);
    gil__fmt_char(o->f, ',');
}

/* chrome://tracing's reserved colour names; Perfetto picks its own. */
static const char *state_colour(gil_trace_state_t st)
{
    return st == GIL_TRACE_RUNNING ? "good" : st == GIL_TRACE_WANTS_GIL ? "terrible" : "grey";
}

static int json_slice(const gil_trace_track_t *t, const gil_trace_slice_t *sl, void *arg)
{
    json_out_t *o = arg;
    gil__fmt_t *f = o->f;
    json_event_head(o, gil_trace_state_name(sl->state), "X", t->id);
    json_ts(o, "ts", sl->start_ns);
    json_us(f, ",", "dur", sl->end_ns - sl->start_ns);
    gil__fmt_str(f, ",\"cname\":\"");
    gil__fmt_str(f, state_colour(sl->state));
    gil__fmt_str(f, "\",\"args\":{");
    const char *sep = "";
    if (sl->has_reason) {
        json_key(f, sep, sl->state == GIL_TRACE_RUNNING ? "released" : "after");
        json_str(f, gil_reason_name(sl->reason));
        sep = ",";
    }
    if (sl->blamed != 0) {
        const char *holder = view_name(o->v, sl->blamed);
        json_u64(f, sep, "holder_id", sl->blamed);
        json_key(f, ",", "holder");
        json_str(f, holder != NULL ? holder : "");
        sep = ",";
    }
    if (sl->open) {
        json_key(f, sep, "open");
        gil__fmt_str(f, "true");
    }
    gil__fmt_str(f, "}}");
    return 0;
}

static int json_mark(const gil_trace_mark_t *m, void *arg)
{
    json_out_t *o = arg;
    bool drop = m->kind == GIL_TRACE_MARK_DROP_REQUEST;
    json_event_head(o, drop ? "drop_request" : "watchdog", "i", m->holder);
    json_ts(o, "ts", m->time_ns);
    const char *from = view_name(o->v, m->waiter);
    gil__fmt_str(o->f, drop ? ",\"s\":\"t\",\"args\":{" : ",\"s\":\"t\",\"cname\":\"terrible\",\"args\":{");
    json_u64(o->f, "", "from_id", m->waiter);
    json_key(o->f, ",", "from");
    json_str(o->f, from != NULL ? from : "");
    gil__fmt_str(o->f, "}}");
    return 0;
}

static void json_thread_meta(json_out_t *o, const gil_trace_track_t *t)
{
    char label[64];
    gil__fmt_t lf;
    gil__fmt_init(&lf, label, sizeof label);
    if (t->name[0] != '\0') {
        gil__fmt_str(&lf, t->name);
    } else {
        gil__fmt_str(&lf, "tstate ");
        gil__fmt_u64(&lf, t->id);
    }
    json_event_head(o, "thread_name", "M", t->id);
    gil__fmt_str(o->f, "\"args\":{\"name\":");
    json_str(o->f, label);
    gil__fmt_str(o->f, "}}");
    json_event_head(o, "thread_sort_index", "M", t->id);
    json_u64(o->f, "\"args\":{", "sort_index", t->id);
    gil__fmt_str(o->f, "}}");
    if (t->lost != 0) {
        /* Visible where the track's data begins, not only in metadata. */
        json_event_head(o, "events_lost", "i", t->id);
        json_ts(o, "ts", t->begin_ns);
        json_u64(o->f, ",\"s\":\"t\",\"args\":{", "lost", t->lost);
        gil__fmt_str(o->f, "}}");
    }
}

static void json_other_data(json_out_t *o, const gil_trace_info_t *info)
{
    gil__fmt_t *f = o->f;
    gil__fmt_str(f, "\"otherData\":{\"libgil_version\":");
    json_str(f, gil_version_string());
    gil__fmt_str(f, ",\"gil\":");
    json_str(f, info->gil_name);
    gil__fmt_str(f, ",\"policy\":");
    json_str(f, info->policy);
    json_u64(f, ",", "switch_interval_us", info->interval_us);
    json_u64(f, ",", "capacity_per_thread", info->capacity);
    json_u64(f, ",", "threads", info->tracks);
    json_u64(f, ",", "events", info->events);
    json_u64(f, ",", "events_lost", info->lost);
    json_u64(f, ",", "untraced_threads", info->untraced);
    json_u64(f, ",", "start_monotonic_ns", info->start_ns);
    json_us(f, ",", "duration_us", info->stop_ns - info->start_ns);
    gil__fmt_str(f, ",\"lost_per_thread\":{");
    const char *sep = "";
    for (size_t i = 0; i < o->v->n; i++) {
        gil_trace_track_t t;
        view_track(o->v, o->v->rings[i], &t);
        if (t.lost == 0)
            continue;
        gil__fmt_str(f, sep);
        gil__fmt_char(f, '"');
        gil__fmt_u64(f, t.id);
        gil__fmt_str(f, "\":");
        gil__fmt_u64(f, t.lost);
        sep = ",";
    }
    gil__fmt_str(f, "}}");
}

static void json_process_name(json_out_t *o, const gil_trace_info_t *info)
{
    char pname[128];
    gil__fmt_t pf;
    gil__fmt_init(&pf, pname, sizeof pname);
    gil__fmt_str(&pf, "libgil ");
    gil__fmt_str(&pf, info->gil_name);
    gil__fmt_str(&pf, " (");
    gil__fmt_str(&pf, info->policy);
    gil__fmt_str(&pf, ", ");
    gil__fmt_u64(&pf, info->interval_us);
    gil__fmt_str(&pf, " us)");
    json_event_head(o, "process_name", "M", 0);
    gil__fmt_str(o->f, "\"args\":{\"name\":");
    json_str(o->f, pname);
    gil__fmt_str(o->f, "}}");
}

int gil_trace_write_json(gil_t *gil, FILE *out)
{
    if (out == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    view_t v;
    int rc = view_open(gil, &v);
    if (rc != 0)
        return rc;
    gil_trace_info_t info;
    view_info(&v, &info);
    char buf[4096];
    gil__fmt_t f;
    gil__fmt_init_stream(&f, buf, sizeof buf, out);
    json_out_t o = {.f = &f, .v = &v, .t0 = info.start_ns, .sep = ""};

    gil__fmt_str(&f, "{\"traceEvents\":[\n");
    json_process_name(&o, &info);
    for (size_t i = 0; i < v.n; i++) {
        gil_trace_track_t t;
        view_track(&v, v.rings[i], &t);
        json_thread_meta(&o, &t);
        replay_ring(v.rings[i], &t, json_slice, &o);
    }
    for (size_t i = 0; i < v.n; i++)
        ring_marks(v.rings[i], json_mark, &o);
    gil__fmt_str(&f, "\n],\n\"displayTimeUnit\":\"ns\",\n");
    json_other_data(&o, &info);
    gil__fmt_str(&f, "}\n");
    view_close(&v);
    bool written = gil__fmt_flush(&f);
    if (fflush(out) != 0 || ferror(out) || !written)
        return GIL_EIO;
    return 0;
}
