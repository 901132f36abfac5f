/*
 * gil.c - the top of the library: gil_create and gil_destroy wire a core
 * GIL (core/) to its scheduling policy (policy/) and to the observers
 * (observe/).  The only file that includes every layer's header; nothing
 * includes it.
 */
#include "core/core.h"
#include "observe/observe.h"
#include "policy/policy.h"

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
    cfg->priority_spin_io_us = 100;
    cfg->priority_spin_cpu_us = 100;
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

/* Everything gil_create made, in reverse; also the core's deferred free of
 * a finalized GIL (gil->destroy). */
static void destroy_now(gil_t *gil)
{
    gil__fork_unregister(gil);
    if (gil->policy->fini != NULL)
        gil->policy->fini(gil);
    gil__observe_detach(gil);
    gil__core_free(gil);
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

    gil_t *gil;
    const gil__policy_ops_t *policy = gil__policy_lookup(cfg->policy);
    int rc = gil__core_new(&gil, cfg, policy);
    if (rc != 0)
        return rc;
    if (gil__observe_attach(gil) != 0) {
        gil__core_free(gil);
        return GIL_ENOMEM;
    }
    if (policy->init != NULL && policy->init(gil) != 0) {
        gil__observe_detach(gil);
        gil__core_free(gil);
        return GIL_ENOMEM;
    }
    gil->destroy = destroy_now;
    /* Visible to fork handling only once complete. */
    gil__fork_register(gil);
    *out = gil;
    return 0;
}

int gil_destroy(gil_t *gil)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    /* Live states or a grace period in progress: an expected answer (poll,
     * or use gil_finalize), never a misuse. */
    int rc = gil__core_busy(gil);
    if (rc != 0)
        return rc;
    destroy_now(gil);
    return 0;
}
