/*
 * lifecycle.c - configuration, creation and destruction of a GIL.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gil_config_init(gil_config_t *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->switch_interval_us = 5000;
    cfg->policy = GIL_POLICY_CPYTHON;
    cfg->pending_capacity = 256;
    cfg->timing = GIL_TIMING_CONTENDED;
    cfg->name = NULL;
    cfg->legacy_check_interval = 100;
    cfg->priority_spin_io_us = 10;
    cfg->priority_spin_cpu_us = 5;
    cfg->priority_abuse_ns = 2000;
    cfg->priority_abuse_count = 4;
}

static int validate_config(const gil_config_t *cfg)
{
    if (cfg->switch_interval_us == 0 || gil__policy_lookup(cfg->policy) == NULL)
        return GIL_EINVAL;
    if (cfg->timing != GIL_TIMING_CONTENDED && cfg->timing != GIL_TIMING_ALWAYS)
        return GIL_EINVAL;
    if (cfg->pending_capacity == 0 || cfg->pending_capacity > 65536)
        return GIL_EINVAL;
    if (cfg->legacy_check_interval == 0)
        return GIL_EINVAL;
    return 0;
}

static void init_sync(gil_t *gil)
{
    gil__mutex_init(&gil->mu);
    gil__cond_init(&gil->cond);
    gil__mutex_init(&gil->switch_mu);
    gil__cond_init(&gil->switch_cond);
}

static void destroy_sync(gil_t *gil)
{
    gil__cond_destroy(&gil->switch_cond);
    gil__mutex_destroy(&gil->switch_mu);
    gil__cond_destroy(&gil->cond);
    gil__mutex_destroy(&gil->mu);
}

int gil_create(gil_t **out, const gil_config_t *cfg)
{
    gil_config_t defaults;
    if (out == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    *out = NULL;
    if (cfg == NULL) {
        gil_config_init(&defaults);
        cfg = &defaults;
    }
    if (validate_config(cfg) != 0)
        return GIL__MISUSE(GIL_EINVAL);

    gil_t *gil = aligned_alloc(GIL__CACHELINE, (sizeof *gil + GIL__CACHELINE - 1) & ~(size_t)(GIL__CACHELINE - 1));
    if (gil == NULL)
        return GIL_ENOMEM;
    memset(gil, 0, sizeof *gil);
    gil->policy = gil__policy_lookup(cfg->policy);
    gil->config = *cfg;
    gil->config.name = NULL;
    gil->timing = cfg->timing;
    atomic_init(&gil->interval_us, cfg->switch_interval_us);
    atomic_init(&gil->flags, cfg->timing == GIL_TIMING_ALWAYS ? GIL__F_TIMING : 0u);
    snprintf(gil->name, sizeof gil->name, "%s", cfg->name != NULL ? cfg->name : "gil");

    if (gil__pending_init(&gil->pending, cfg->pending_capacity) != 0) {
        free(gil);
        return GIL_ENOMEM;
    }
    init_sync(gil);
    gil__observe_init(gil);
    if (gil__registry_init(gil) != 0 || (gil->policy->init != NULL && gil->policy->init(gil) != 0)) {
        gil__registry_fini(gil);
        gil__observe_fini(gil);
        destroy_sync(gil);
        gil__pending_fini(&gil->pending);
        free(gil);
        return GIL_ENOMEM;
    }
    gil__fork_register(gil);
    *out = gil;
    return 0;
}

int gil_destroy(gil_t *gil)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    gil__mutex_lock(&gil->reg_mu);
    bool in_use = gil->nstates != 0 || gil->reclaiming != 0;
    gil__mutex_unlock(&gil->reg_mu);
    if (in_use || atomic_load_explicit(&gil->word, memory_order_acquire) != 0)
        return GIL__MISUSE(GIL_EBUSY);
    gil__fork_unregister(gil);
    if (gil->policy->fini != NULL)
        gil->policy->fini(gil);
    gil__registry_fini(gil);
    gil__observe_fini(gil);
    destroy_sync(gil);
    gil__pending_fini(&gil->pending);
    free(gil);
    return 0;
}

const char *gil_name(const gil_t *gil)
{
    return gil != NULL ? gil->name : "";
}
