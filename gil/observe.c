/*
 * observe.c - event hooks.
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
}

void gil__observe_fini(gil_t *gil)
{
    free(atomic_load_explicit(&gil->hooks, memory_order_relaxed));
    gil__mutex_destroy(&gil->obs_mu);
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
    struct gil__hooks *hooks = atomic_load_explicit(&gil->hooks, memory_order_acquire);
    for (size_t i = 0; hooks != NULL && i < hooks->n; i++)
        if (hooks->hook[i].mask & (unsigned)type)
            hooks->hook[i].fn(&ev, hooks->hook[i].arg);
    GIL__TSAN_RELEASE(&gil->obs_rcu_sync);
    urcu_bp_read_unlock();
}

/* Publish a new array (NULL when empty), free the old one after a grace
 * period, and keep GIL__F_OBSERVE in step.  Called with obs_mu. */
static void publish(gil_t *gil, struct gil__hooks *next)
{
    if (next != NULL && next->n == 0) {
        free(next);
        next = NULL;
    }
    if (next != NULL)
        atomic_fetch_or_explicit(&gil->flags, GIL__F_OBSERVE, memory_order_seq_cst);
    struct gil__hooks *old = atomic_exchange_explicit(&gil->hooks, next, memory_order_acq_rel);
    if (next == NULL)
        atomic_fetch_and_explicit(&gil->flags, ~GIL__F_OBSERVE, memory_order_seq_cst);
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
