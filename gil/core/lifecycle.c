/*
 * core/lifecycle.c - the core half of creating and destroying a GIL.
 *
 * Layer: core.  gil.c (the top of the library) validates the configuration,
 * picks the policy and attaches the observers around these.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void init_sync(gil_t *gil)
{
    gil__mutex_init(&gil->mu);
    gil__mutex_init(&gil->switch_mu);
    gil__cond_init(&gil->switch_cond);
}

static void destroy_sync(gil_t *gil)
{
    gil__cond_destroy(&gil->switch_cond);
    gil__mutex_destroy(&gil->switch_mu);
    gil__mutex_destroy(&gil->mu);
}

static size_t round_to_cacheline(size_t n)
{
    return (n + GIL__CACHELINE - 1) & ~(size_t)(GIL__CACHELINE - 1);
}

int gil__core_new(gil_t **out, const gil_config_t *cfg, const gil__policy_ops_t *policy)
{
    gil_t *gil = aligned_alloc(GIL__CACHELINE, round_to_cacheline(sizeof *gil));
    if (gil == NULL)
        return GIL_ENOMEM;
    memset(gil, 0, sizeof *gil);
    gil->policy = policy;
    gil->config = *cfg;
    gil->config.name = NULL;
    gil->tstate_bytes = round_to_cacheline(sizeof(gil_tstate_t) + policy->tstate_size);
    atomic_init(&gil->interval_us, cfg->switch_interval_us);
    bool timed = cfg->timing == GIL_TIMING_ALWAYS || (policy->flags & GIL__POLICY_TIMED);
    atomic_init(&gil->flags, timed ? GIL__F_TIMING : 0u);
    gil__copy_str(gil->name, sizeof gil->name, cfg->name != NULL ? cfg->name : "gil");
    gil->created_ns = gil__now_ns();
    gil->next_tstate_id = 1;

    if (gil__pending_init(&gil->pending, cfg->pending_capacity) != 0) {
        free(gil);
        return GIL_ENOMEM;
    }
    init_sync(gil);
    gil__registry_init(gil);
    *out = gil;
    return 0;
}

int gil__core_busy(gil_t *gil)
{
    gil__mutex_lock(&gil->reg_mu);
    bool in_use = gil->nstates != 0 || gil->reclaiming != 0;
    gil__mutex_unlock(&gil->reg_mu);
    if (in_use || atomic_load_explicit(&gil->word, memory_order_acquire) != 0)
        return GIL_EBUSY;
    return 0;
}

_Atomic unsigned long gil__finalized_frees;

void gil__core_free(gil_t *gil)
{
    if (gil->finalize != GIL__FIN_NONE)
        atomic_fetch_add_explicit(&gil__finalized_frees, 1, memory_order_release);
    gil__registry_fini(gil);
    destroy_sync(gil);
    gil__pending_fini(&gil->pending);
    free(gil);
}

/* One line on stderr: the states gil_finalize had to leave behind.  No
 * printf family (a host may interpose it). */
void gil__report_left(const char *name, unsigned running, unsigned stuck)
{
    char line[256];
    gil__fmt_t f;
    gil__fmt_init(&f, line, sizeof line);
    gil__fmt_str(&f, "libgil: gil_finalize: gil \"");
    gil__fmt_str(&f, name);
    gil__fmt_str(&f, "\": ");
    gil__fmt_u64(&f, running);
    gil__fmt_str(&f, " thread state(s) of running threads and ");
    gil__fmt_u64(&f, stuck);
    gil__fmt_str(&f, " still inside libgil are left; the GIL stays allocated until the last of them is "
                    "deleted\n");
    gil__write_stderr(line, f.used);
}

const char *gil_name(const gil_t *gil)
{
    return gil != NULL ? gil->name : "";
}

/* ------------------------------------------------------------------------ */
/* Finalization with threads still running (gil_finalize)                   */
/*
 * The exiting thread must never hang and must never free memory another
 * thread will touch.  What may still touch the GIL is exactly a live state:
 * its thread can come back (from an allow-threads section, a wait, a check
 * point) and finds the GIL through it.  So gil_finalize deletes every state
 * it may (its own; orphans, whose threads ended: core/thread.c), waits a
 * bounded time for the threads inside libgil to leave it (shutdown woke
 * them), and frees the GIL only if no state is left.  Otherwise the last
 * deletion frees it (registry.c's claim_deferred_free), whoever makes it:
 * the thread itself after GIL_ESHUTDOWN, a parking thread, or the caller of
 * gil_tstate_delete on an orphan.  Until then the GIL stays registered for
 * fork handling, hence reachable: intentionally kept, never reported as a
 * leak.  CPython's finalization makes the other choice for such threads
 * (<= 3.13 exits them, 3.14 hangs them) and never frees what they might
 * touch either; GIL_FINALIZE_PARK is 3.14's behaviour without the hang of
 * the exiting thread.
 */

#define DRAIN_DEFAULT_MS 1000u
#define DRAIN_POLL_NS 200000u /* 0.2 ms between sweeps */

/* Find a state gil_finalize may delete now: the caller's own, or an orphan
 * that is not busy.  Counts the others.  Called with reg_mu. */
static gil_tstate_t *find_deletable(gil_t *gil, uintptr_t self, unsigned *inside, unsigned *running)
{
    *inside = *running = 0;
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_relaxed)) {
        bool busy = atomic_load_explicit(&ts->busy, memory_order_seq_cst) != 0 ||
                    atomic_load_explicit(&ts->waiting, memory_order_acquire) != 0;
        if (busy)
            (*inside)++;
        else if (gil__owner(ts) == self || gil__orphaned(ts))
            return ts;
        else
            (*running)++;
    }
    return NULL;
}

/* Delete what may be deleted; wait (bounded) for the threads inside libgil.
 * Returns the counts of the last sweep. */
static void sweep(gil_t *gil, unsigned drain_ms, gil_finalize_report_t *r)
{
    uintptr_t self = gil__thread_id();
    uint64_t deadline = gil__now_ns() + (uint64_t)drain_ms * 1000000u;
    unsigned first_inside = UINT32_MAX, inside, running;
    for (;;) {
        gil__mutex_lock(&gil->reg_mu);
        gil_tstate_t *ts = find_deletable(gil, self, &inside, &running);
        gil__mutex_unlock(&gil->reg_mu);
        if (first_inside == UINT32_MAX)
            first_inside = inside;
        if (ts != NULL) {
            /* Ours may hold the GIL: let go first (no forced switch). */
            if (gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire)) == ts &&
                gil__owner(ts) == self)
                gil__drop(gil, ts, GIL_REASON_FINAL);
            if (gil_tstate_delete(ts) == 0)
                r->deleted++;
            continue;
        }
        if (inside == 0 || gil__now_ns() >= deadline)
            break;
        gil__sleep_ns(DRAIN_POLL_NS);
    }
    r->running = running;
    r->stuck = inside;
    r->drained = first_inside > inside ? first_inside - inside : 0;
}

int gil_finalize(gil_t *gil, unsigned flags, unsigned drain_ms, gil_finalize_report_t *report)
{
    gil_finalize_report_t r = {0, 0, 0, 0, 0};
    if (report != NULL)
        *report = r;
    if (gil == NULL || (flags & ~(unsigned)(GIL_FINALIZE_PARK | GIL_FINALIZE_QUIET)) != 0)
        return GIL__MISUSE(GIL_EINVAL);
    /* The whole call is one step of the exiting thread: not cancellable
     * half-way (it holds no lock while it sleeps, but a half-done sweep
     * would leave the GIL neither freed nor deferred). */
    int cancel_state = gil__cancel_disable();
    /* Park mode first: a waiter that shutdown wakes must already see it. */
    if (flags & GIL_FINALIZE_PARK)
        atomic_store_explicit(&gil->park, 1, memory_order_seq_cst);
    gil_shutdown(gil);
    sweep(gil, drain_ms != 0 ? drain_ms : DRAIN_DEFAULT_MS, &r);

    char name[sizeof gil->name];
    gil__copy_str(name, sizeof name, gil->name);
    gil__mutex_lock(&gil->reg_mu);
    bool free_now = gil->nstates == 0 && gil->reclaiming == 0;
    gil->finalize = free_now ? GIL__FIN_FREEING : GIL__FIN_DEFERRED;
    gil__mutex_unlock(&gil->reg_mu);
    /* From here on a deferred GIL may be freed by another thread at any
     * moment: nothing below touches it. */
    if (free_now)
        gil->destroy(gil);
    r.freed = free_now;
    if (!free_now && !(flags & GIL_FINALIZE_QUIET))
        gil__report_left(name, r.running, r.stuck);
    if (report != NULL)
        *report = r;
    gil__cancel_restore(cancel_state);
    return 0;
}
