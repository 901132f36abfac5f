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

void gil__core_free(gil_t *gil)
{
    gil__registry_fini(gil);
    destroy_sync(gil);
    gil__pending_fini(&gil->pending);
    free(gil);
}

const char *gil_name(const gil_t *gil)
{
    return gil != NULL ? gil->name : "";
}
