/*
 * core/fork.c - keeping every GIL usable in a forked child.
 *
 * Layer: core (the policy and the observers repair their own state through
 * their tables' fork hooks).
 *
 * Prefork servers fork while other threads hold or wait for the GIL.  The
 * child has only the forking thread; any mutex another thread held is held
 * forever there.  So (pthread_atfork, registered with the first GIL):
 *   prepare: take every GIL's internal mutexes (and liburcu-bp's), so that no
 *            other thread is inside a critical section at the fork;
 *   parent:  release them;
 *   child:   re-initialise them and every condvar (threads that waited on
 *            them do not exist), then repair the state: the forking thread
 *            keeps the GIL if it held it, every other thread's state is
 *            deleted, no one waits, no forced switch is pending.
 * Lock order (also in the rest of the library): the list lock, the
 * observers' lock (observe/observe.h), reg_mu, mu, switch_mu.
 */
#include "core/core.h"

#include <urcu-bp.h>

static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static gil_t *all_gils; /* [all_mu] */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t fork_generation; /* forks this process descends from */

uint64_t gil__fork_generation(void)
{
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

static void prepare(void)
{
    gil__mutex_lock(&all_mu);
    for (gil_t *g = all_gils; g != NULL; g = g->all_next) {
        if (g->observer != NULL && g->observer->before_fork != NULL)
            g->observer->before_fork(g);
        gil__mutex_lock(&g->reg_mu);
        gil__mutex_lock(&g->mu);
        gil__mutex_lock(&g->switch_mu);
    }
    gil__thread_before_fork(); /* the innermost lock */
    urcu_bp_before_fork();
}

static void parent(void)
{
    urcu_bp_after_fork_parent();
    gil__thread_after_fork_parent();
    for (gil_t *g = all_gils; g != NULL; g = g->all_next) {
        gil__mutex_unlock(&g->switch_mu);
        gil__mutex_unlock(&g->mu);
        gil__mutex_unlock(&g->reg_mu);
        if (g->observer != NULL && g->observer->after_fork_parent != NULL)
            g->observer->after_fork_parent(g);
    }
    gil__mutex_unlock(&all_mu);
}

static void repair_child(gil_t *g, uintptr_t self)
{
    gil__mutex_reinit(&g->reg_mu);
    gil__mutex_reinit(&g->mu);
    gil__mutex_reinit(&g->switch_mu);
    gil__cond_reinit(&g->switch_cond);

    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&g->word, memory_order_relaxed));
    bool keep = holder != NULL && gil__owner(holder) == self;
    atomic_store_explicit(&g->word, keep ? (uintptr_t)holder : 0, memory_order_relaxed);
    if (keep)
        gil__breaker_clear(holder, GIL__BREAK_DROP); /* its requester is gone */
    else
        atomic_store_explicit(&g->hold_t0, 0, memory_order_relaxed);
    g->nwaiters = 0;
    atomic_store_explicit(&g->waiting_now, 0, memory_order_relaxed);
    atomic_store_explicit(&g->switch_waiters, 0, memory_order_relaxed);
    atomic_fetch_and_explicit(&g->flags, ~GIL__F_WAITERS, memory_order_relaxed);
    gil__registry_after_fork_child(g, self);
    gil__pending_after_fork_child(g, &g->pending);
    if (g->policy->after_fork_child != NULL)
        g->policy->after_fork_child(g);
    if (g->observer != NULL && g->observer->after_fork_child != NULL)
        g->observer->after_fork_child(g);
}

static void child(void)
{
    urcu_bp_after_fork_child();
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
    uintptr_t self = gil__thread_id();
    for (gil_t *g = all_gils; g != NULL; g = g->all_next)
        repair_child(g, self);
    gil__thread_after_fork_child(); /* after the repairs: they unlink the dead threads' states */
    gil__mutex_reinit(&all_mu);
}

static void install(void)
{
    if (pthread_atfork(prepare, parent, child) != 0)
        gil__fatal("pthread_atfork failed");
}

void gil__fork_register(gil_t *gil)
{
    pthread_once(&atfork_once, install);
    gil__mutex_lock(&all_mu);
    gil->all_next = all_gils;
    all_gils = gil;
    gil__mutex_unlock(&all_mu);
}

void gil__fork_unregister(gil_t *gil)
{
    gil__mutex_lock(&all_mu);
    gil_t **pp = &all_gils;
    while (*pp != NULL && *pp != gil)
        pp = &(*pp)->all_next;
    if (*pp == gil)
        *pp = gil->all_next;
    gil__mutex_unlock(&all_mu);
}
