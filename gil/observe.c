/*
 * observe.c - event hooks, and the plumbing shared by every observer.
 *
 * The installed hooks form an immutable array that gil_hook_add/remove
 * replace whole (copy on write, under gil->obs_mu).  gil__emit reads the
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
 * counts once in gil->observers, under obs_mu, and the flag is set exactly
 * while the count is positive, so that adding a hook during a trace or
 * stopping a trace while hooks remain never switches the other one off.
 *
 * Thread states get their observability identity here (registry.c calls
 * in with reg_mu held): an id that is never reused within the GIL, which
 * names the state's trace track and its metric series, and its creation
 * time, the denominator of its load figures.
 */
#include "internal.h"

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

void gil__observe_init(gil_t *gil)
{
    gil__mutex_init(&gil->obs_mu);
    atomic_init(&gil->hooks, NULL);
    gil->next_hook_id = 1;
    gil->observers = 0;
    gil->trace = NULL;
    gil->next_tstate_id = 1;
    gil->created_ns = gil__now_ns();
    gil__load_init(gil, gil->created_ns);
}

void gil__observe_fini(gil_t *gil)
{
    gil__trace_fini(gil);
    free(atomic_load_explicit(&gil->hooks, memory_order_relaxed));
    gil__mutex_destroy(&gil->obs_mu);
}

void gil__observers_add(gil_t *gil, int delta)
{
    unsigned before = gil->observers;
    gil->observers = (unsigned)((int)before + delta);
    if (before == 0 && gil->observers > 0)
        atomic_fetch_or_explicit(&gil->flags, GIL__F_OBSERVE, memory_order_seq_cst);
    else if (before > 0 && gil->observers == 0)
        atomic_fetch_and_explicit(&gil->flags, ~GIL__F_OBSERVE, memory_order_seq_cst);
}

void gil__observe_tstate_new(gil_t *gil, gil_tstate_t *ts)
{
    atomic_store_explicit(&ts->obs_id, gil->next_tstate_id++, memory_order_relaxed);
    ts->created_ns = gil__now_ns();
    gil__trace_tstate_new(gil, ts);
}

void gil__observe_tstate_delete(gil_t *gil, gil_tstate_t *ts)
{
    gil__trace_tstate_delete(gil, ts);
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

void gil__emit(gil_t *gil, gil_event_type_t type, const gil_tstate_t *ts, const gil_tstate_t *other,
               uint64_t time_ns, uint64_t duration_ns, gil_reason_t reason)
{
    gil_event_t ev = {
        .type = type,
        .gil = gil,
        .tstate = ts,
        .other = other,
        .time_ns = time_ns,
        .duration_ns = duration_ns,
        .reason = reason,
    };
    urcu_bp_read_lock();
    if (type != GIL_EVENT_TSTATE_DELETE) /* a trace ends a track at deletion itself */
        gil__trace_record(gil, type, ts, other, time_ns, reason);
    struct gil__hooks *hooks = atomic_load_explicit(&gil->hooks, memory_order_acquire);
    for (size_t i = 0; hooks != NULL && i < hooks->n; i++)
        if (hooks->hook[i].mask & (unsigned)type)
            hooks->hook[i].fn(&ev, hooks->hook[i].arg);
    GIL__TSAN_RELEASE(&gil->obs_rcu_sync);
    urcu_bp_read_unlock();
}

/* Publish a new array (NULL when empty), free the old one after a grace
 * period, and keep the observer count in step: the flag goes up before the
 * first hook is visible and down after the last one is gone.  Called with
 * obs_mu. */
static void publish(gil_t *gil, struct gil__hooks *next)
{
    if (next != NULL && next->n == 0) {
        free(next);
        next = NULL;
    }
    bool had = atomic_load_explicit(&gil->hooks, memory_order_relaxed) != NULL;
    if (next != NULL && !had)
        gil__observers_add(gil, +1);
    struct gil__hooks *old = atomic_exchange_explicit(&gil->hooks, next, memory_order_acq_rel);
    if (next == NULL && had)
        gil__observers_add(gil, -1);
    synchronize_rcu();
    GIL__TSAN_ACQUIRE(&gil->obs_rcu_sync);
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
    gil__mutex_lock(&gil->obs_mu);
    struct gil__hooks *next = copy_hooks(atomic_load_explicit(&gil->hooks, memory_order_relaxed), 1);
    if (next == NULL) {
        gil__mutex_unlock(&gil->obs_mu);
        return GIL_ENOMEM;
    }
    *handle = gil->next_hook_id++;
    next->hook[next->n++] = (gil__hook_t){*handle, mask, fn, arg};
    publish(gil, next);
    gil__mutex_unlock(&gil->obs_mu);
    return 0;
}

int gil_hook_remove(gil_t *gil, gil_hook_handle_t handle)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (urcu_bp_read_ongoing())
        return GIL__MISUSE(GIL_EDEADLK); /* a grace period would wait for ourselves */
    gil__mutex_lock(&gil->obs_mu);
    struct gil__hooks *cur = atomic_load_explicit(&gil->hooks, memory_order_relaxed);
    size_t at = cur != NULL ? cur->n : 0;
    for (size_t i = 0; cur != NULL && i < cur->n; i++)
        if (cur->hook[i].id == handle)
            at = i;
    if (cur == NULL || at == cur->n) {
        gil__mutex_unlock(&gil->obs_mu);
        return GIL__MISUSE(GIL_EINVAL);
    }
    struct gil__hooks *next = copy_hooks(cur, 0);
    if (next == NULL) {
        gil__mutex_unlock(&gil->obs_mu);
        return GIL_ENOMEM;
    }
    next->hook[at] = next->hook[--next->n];
    publish(gil, next);
    gil__mutex_unlock(&gil->obs_mu);
    return 0;
}
