/*
 * observe/hooks.c - event hooks, and the plumbing shared by every observer:
 * the observer table the core calls (gil__observe_ops).
 *
 * Layer: observe (calls core and platform only).
 *
 * The installed hooks form an immutable array that gil_hook_add/remove
 * replace whole (copy on write, under obs->mu).  The event handler reads the
 * current array inside a liburcu-bp read-side section and calls each
 * matching hook: no mutex on the event path, and hooks run concurrently
 * from the threads the events happen in.  A replaced array is freed after a
 * grace period, which is also what lets gil_hook_remove promise that the
 * removed hook is not running when it returns.
 *
 * Events are emitted only while GIL__F_OBSERVE is set, so a GIL without
 * hooks pays nothing beyond the flags test its slow paths already make.
 * Two observers need events: the hook array (while it is not empty) and a
 * recording trace (trace.c, whose recorder gil__emit calls first).  Each
 * counts once in obs->observers, under obs->mu, and the flag is set exactly
 * while the count is positive, so that adding a hook during a trace or
 * stopping a trace while hooks remain never switches the other one off.
 *
 * The core gives every state an id that is never reused within the GIL
 * (gil_tstate_id: the state's trace track and metric series) and its
 * creation time (the denominator of its load figures); births and deaths
 * reach the trace through the table below.
 */
#include "observe/observe.h"

#include <stdlib.h>
#include <urcu-bp.h>

typedef struct gil__hook {
    gil_hook_handle_t id;
    unsigned mask;
    gil_hook_fn fn;
    void *arg;
} gil__hook_t;

struct gil__hooks {
    size_t n;
    gil__hook_t hook[];
};

const char *gil_reason_name(gil_reason_t reason)
{
    switch (reason) {
    case GIL_REASON_RELEASE: return "release";
    case GIL_REASON_SAVE: return "save";
    case GIL_REASON_DROP: return "drop_request";
    case GIL_REASON_YIELD: return "yield";
    case GIL_REASON_POLICY: return "policy";
    case GIL_REASON_FINAL: return "final";
    }
    return "unknown";
}

void gil__observers_add(gil_t *gil, int delta)
{
    gil__obs_t *o = gil__obs(gil);
    unsigned before = o->observers;
    o->observers = (unsigned)((int)before + delta);
    if (before == 0 && o->observers > 0)
        atomic_fetch_or_explicit(&gil->flags, GIL__F_OBSERVE, memory_order_seq_cst);
    else if (before > 0 && o->observers == 0)
        atomic_fetch_and_explicit(&gil->flags, ~GIL__F_OBSERVE, memory_order_seq_cst);
}

size_t gil__utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values beyond Unicode are invalid. */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

uint64_t gil_tstate_id(const gil_tstate_t *ts)
{
    return ts != NULL ? atomic_load_explicit(&((gil_tstate_t *)ts)->obs_id, memory_order_relaxed) : 0;
}

/* The core's events: the trace's recorder first, then every matching hook,
 * inside one RCU read-side section (the hook array and the rings live at
 * least until it ends). */
static void on_event(gil_t *gil, const gil_event_t *ev)
{
    gil__obs_t *o = gil__obs(gil);
    urcu_bp_read_lock();
    if (ev->type != GIL_EVENT_TSTATE_DELETE) /* a trace ends a track at deletion itself */
        gil__trace_record(gil, ev->type, ev->tstate, ev->other, ev->time_ns, ev->reason);
    struct gil__hooks *hooks = atomic_load_explicit(&o->hooks, memory_order_acquire);
    for (size_t i = 0; hooks != NULL && i < hooks->n; i++)
        if (hooks->hook[i].mask & (unsigned)ev->type)
            hooks->hook[i].fn(ev, hooks->hook[i].arg);
    GIL__TSAN_RELEASE(&o->rcu_sync);
    urcu_bp_read_unlock();
}

static void before_fork(gil_t *gil)
{
    gil__mutex_lock(&gil__obs(gil)->mu);
}

static void after_fork_parent(gil_t *gil)
{
    gil__mutex_unlock(&gil__obs(gil)->mu);
}

static void after_fork_child(gil_t *gil)
{
    gil__mutex_reinit(&gil__obs(gil)->mu);
}

static const gil__observer_ops_t observe_ops = {
    .event = on_event,
    .tstate_new = gil__trace_tstate_new,
    .tstate_delete = gil__trace_tstate_delete,
    .waiter_poll = gil__watchdog_poll,
    .before_fork = before_fork,
    .after_fork_parent = after_fork_parent,
    .after_fork_child = after_fork_child,
};

int gil__observe_attach(gil_t *gil)
{
    gil__obs_t *o = calloc(1, sizeof *o);
    if (o == NULL)
        return GIL_ENOMEM;
    gil__mutex_init(&o->mu);
    atomic_init(&o->hooks, NULL);
    o->next_hook_id = 1;
    gil->obs = o;
    gil__load_init(gil, gil->created_ns);
    gil->observer = &observe_ops;
    return 0;
}

void gil__observe_detach(gil_t *gil)
{
    gil__obs_t *o = gil__obs(gil);
    gil->observer = NULL;
    gil__trace_fini(gil);
    free(atomic_load_explicit(&o->hooks, memory_order_relaxed));
    gil__mutex_destroy(&o->mu);
    free(o);
    gil->obs = NULL;
}

/* Publish a new array (NULL when empty), free the old one after a grace
 * period, and keep the observer count in step: the flag goes up before the
 * first hook is visible and down after the last one is gone.  Called with
 * obs->mu. */
static void publish(gil_t *gil, struct gil__hooks *next)
{
    if (next != NULL && next->n == 0) {
        free(next);
        next = NULL;
    }
    gil__obs_t *o = gil__obs(gil);
    bool had = atomic_load_explicit(&o->hooks, memory_order_relaxed) != NULL;
    if (next != NULL && !had)
        gil__observers_add(gil, +1);
    struct gil__hooks *old = atomic_exchange_explicit(&o->hooks, next, memory_order_acq_rel);
    if (next == NULL && had)
        gil__observers_add(gil, -1);
    synchronize_rcu();
    GIL__TSAN_ACQUIRE(&o->rcu_sync);
    free(old);
}

static struct gil__hooks *copy_hooks(const struct gil__hooks *from, size_t extra)
{
    size_t n = from != NULL ? from->n : 0;
    struct gil__hooks *h = malloc(sizeof *h + (n + extra) * sizeof h->hook[0]);
    if (h == NULL)
        return NULL;
    h->n = n;
    for (size_t i = 0; i < n; i++)
        h->hook[i] = from->hook[i];
    return h;
}

int gil_hook_add(gil_t *gil, unsigned mask, gil_hook_fn fn, void *arg, gil_hook_handle_t *handle)
{
    if (gil == NULL || fn == NULL || handle == NULL || mask == 0 || (mask & ~(unsigned)GIL_EVENT_ALL))
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK); /* from inside a hook */
    gil__obs_t *o = gil__obs(gil);
    gil__mutex_lock(&o->mu);
    struct gil__hooks *next = copy_hooks(atomic_load_explicit(&o->hooks, memory_order_relaxed), 1);
    if (next == NULL) {
        gil__mutex_unlock(&o->mu);
        return GIL_ENOMEM;
    }
    *handle = o->next_hook_id++;
    next->hook[next->n++] = (gil__hook_t){*handle, mask, fn, arg};
    publish(gil, next);
    gil__mutex_unlock(&o->mu);
    return 0;
}

int gil_hook_remove(gil_t *gil, gil_hook_handle_t handle)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK); /* a grace period would wait for ourselves */
    gil__obs_t *o = gil__obs(gil);
    gil__mutex_lock(&o->mu);
    struct gil__hooks *cur = atomic_load_explicit(&o->hooks, memory_order_relaxed);
    size_t at = cur != NULL ? cur->n : 0;
    for (size_t i = 0; cur != NULL && i < cur->n; i++)
        if (cur->hook[i].id == handle)
            at = i;
    if (cur == NULL || at == cur->n) {
        gil__mutex_unlock(&o->mu);
        return GIL__MISUSE(GIL_EINVAL);
    }
    struct gil__hooks *next = copy_hooks(cur, 0);
    if (next == NULL) {
        gil__mutex_unlock(&o->mu);
        return GIL_ENOMEM;
    }
    next->hook[at] = next->hook[--next->n];
    publish(gil, next);
    gil__mutex_unlock(&o->mu);
    return 0;
}
