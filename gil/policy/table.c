/*
 * policy/table.c - the table of scheduling policies and their names.
 *
 * Layer: policy.
 */
#include "policy/policy.h"

#include <strings.h>

static const gil__policy_ops_t *const policies[GIL__POLICY_MAX] = {
    [GIL_POLICY_CPYTHON] = &gil__policy_cpython,
    [GIL_POLICY_LEGACY] = &gil__policy_legacy,
    [GIL_POLICY_FIFO] = &gil__policy_fifo,
    [GIL_POLICY_PRIORITY] = &gil__policy_priority,
};

const gil__policy_ops_t *gil__policy_lookup(gil_policy_t id)
{
    if ((unsigned)id >= GIL__POLICY_MAX)
        return NULL;
    return policies[id];
}

const char *gil_policy_name(gil_policy_t policy)
{
    const gil__policy_ops_t *ops = gil__policy_lookup(policy);
    return ops != NULL ? ops->name : NULL;
}

int gil_policy_from_name(const char *name, gil_policy_t *out)
{
    if (name == NULL || out == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    for (unsigned i = 0; i < GIL__POLICY_MAX; i++) {
        if (policies[i] != NULL && strcasecmp(policies[i]->name, name) == 0) {
            *out = (gil_policy_t)i;
            return 0;
        }
    }
    return GIL_EINVAL; /* not a misuse: names come from users */
}

gil_policy_t gil_get_policy(const gil_t *gil)
{
    return gil != NULL ? gil->policy->id : GIL_POLICY_CPYTHON;
}
