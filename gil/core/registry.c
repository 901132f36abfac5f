/*
 * core/registry.c - thread states: creation, deletion, the RCU-protected list.
 *
 * Layer: core.
 *
 * The live states of a GIL form a doubly linked list.  Writers (create,
 * delete) hold gil->reg_mu; readers (gil_foreach_tstate, from any thread,
 * without the GIL) walk the forward links inside a liburcu-bp read-side
 * section, lock-free.  Forward links are C11 atomics: stored with release
 * (the node is fully initialised before it is reachable), loaded with
 * acquire.  A deleted node keeps its forward link, so a reader standing on
 * it continues into the list.
 *
 * Reclamation.  A deleted state goes to a limbo list; once limbo holds
 * LIMBO_BATCH states, one synchronize_rcu() (one grace period: every reader
 * that could still see them has finished) moves the batch to the GIL's free
 * pool, so the cost of a grace period is shared by many deletions.  Pooled
 * memory is reused by later gil_tstate_new calls and returned to malloc only
 * by gil_destroy.  That makes thread-state memory type-stable for the GIL's
 * lifetime, which two lock-free paths rely on: a pending-call producer (in a
 * signal handler) and gil_held() may read a state that has just been deleted
 * and find valid memory (see core.c).
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

#define LIMBO_BATCH 16

int gil__registry_init(gil_t *gil)
{
    gil__mutex_init(&gil->reg_mu);
    atomic_init(&gil->head, NULL);
    return 0;
}

/* Pooled and limbo memory holds no policy state (tstate_fini ran). */
static void free_chain(gil_tstate_t *ts)
{
    while (ts != NULL) {
        gil_tstate_t *next = ts->pool_next;
        free(ts);
        ts = next;
    }
}

void gil__registry_fini(gil_t *gil)
{
    /* No state is alive; readers that walked the list may still be leaving
     * their read-side sections, so wait once before freeing limbo. */
    if (gil->limbo != NULL) {
        synchronize_rcu();
        GIL__TSAN_ACQUIRE(&gil->rcu_sync);
    }
    free_chain(gil->limbo);
    free_chain(gil->pool);
    gil->limbo = gil->pool = NULL;
    gil__mutex_destroy(&gil->reg_mu);
}

/* Memory for a new state: from the pool, else malloc.  Called with reg_mu. */
static gil_tstate_t *alloc_tstate(gil_t *gil)
{
    gil_tstate_t *ts = gil->pool;
    if (ts != NULL) {
        gil->pool = ts->pool_next;
        return ts;
    }
    ts = aligned_alloc(GIL__CACHELINE, gil->tstate_bytes);
    if (ts != NULL)
        memset(ts, 0, gil->tstate_bytes);
    return ts;
}

/* Reset a state's fields for a new life.  The memory may be pooled; no
 * reader can see it (it is not on the list, and a grace period passed since
 * it left).  Stray breaker bits from lock-free writers that read it while it
 * was deleted are cleared here.  The policy's area is zeroed and handed to
 * the policy's tstate_init. */
static void init_tstate(gil_tstate_t *ts, gil_t *gil, const char *name)
{
    __atomic_store_n(&ts->head.breaker, 0, __ATOMIC_RELAXED);
    ts->gil = gil;
    atomic_store_explicit(&ts->owner, gil__thread_id(), memory_order_relaxed);
    gil__copy_str(ts->name, sizeof ts->name, name != NULL ? name : "");
    ts->prev = ts->pool_next = ts->prev_current = ts->thread_next = NULL;
    ts->thread_rec = NULL;
    atomic_store_explicit(&ts->orphaned, 0, memory_order_relaxed);
    ts->pending_error = 0;
    ts->last_release_why = GIL_REASON_RELEASE;
    ts->last_release_ns = 0;
    atomic_store_explicit(&ts->boosts, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->demotions, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->waiting, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->busy, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->interrupt_code, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->acquisitions, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->contended, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->drop_requests, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->forced_switches, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->wait_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->hold_ns, 0, memory_order_relaxed);
    gil__hist_reset(&ts->wait_hist);
    gil__hist_reset(&ts->hold_hist);
    atomic_store_explicit(&ts->obs_slot, NULL, memory_order_relaxed);
    atomic_store_explicit(&ts->obs_id, gil->next_tstate_id++, memory_order_relaxed);
    ts->created_ns = gil__now_ns();
    memset(ts->policy_area, 0, gil->policy->tstate_size);
    if (gil->policy->tstate_init != NULL)
        gil->policy->tstate_init(gil, ts);
}

static void observe_tstate_new(gil_t *gil, gil_tstate_t *ts)
{
    if (gil->observer != NULL && gil->observer->tstate_new != NULL)
        gil->observer->tstate_new(gil, ts);
}

static void observe_tstate_delete(gil_t *gil, gil_tstate_t *ts)
{
    if (gil->observer != NULL && gil->observer->tstate_delete != NULL)
        gil->observer->tstate_delete(gil, ts);
}

int gil_tstate_new(gil_t *gil, const char *name, gil_tstate_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (gil == NULL || out == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    if (gil__thread_prepare() != 0)
        return GIL_ENOMEM;
    gil__mutex_lock(&gil->reg_mu);
    if (atomic_load_explicit(&gil->shutdown, memory_order_acquire)) {
        gil__mutex_unlock(&gil->reg_mu);
        return GIL_ESHUTDOWN;
    }
    gil_tstate_t *ts = alloc_tstate(gil);
    if (ts == NULL) {
        gil__mutex_unlock(&gil->reg_mu);
        return GIL_ENOMEM;
    }
    init_tstate(ts, gil, name);
    observe_tstate_new(gil, ts); /* its trace ring */
    atomic_store_explicit(&ts->magic, GIL__TS_ALIVE, memory_order_relaxed);
    gil_tstate_t *first = atomic_load_explicit(&gil->head, memory_order_relaxed);
    atomic_store_explicit(&ts->next, first, memory_order_relaxed);
    if (first != NULL)
        first->prev = ts;
    gil__thread_link(ts); /* before publication: a deleter finds it linked */
    atomic_store_explicit(&gil->head, ts, memory_order_release); /* publish */
    gil->nstates++;
    gil__mutex_unlock(&gil->reg_mu);
    *out = ts;
    if (gil__observed(gil))
        gil__emit(gil, GIL_EVENT_TSTATE_NEW, ts, NULL, gil__now_ns(), 0, GIL_REASON_RELEASE);
    return 0;
}

/* Unlink ts.  Called with reg_mu. */
static void unlink_tstate(gil_t *gil, gil_tstate_t *ts)
{
    gil_tstate_t *next = atomic_load_explicit(&ts->next, memory_order_relaxed);
    if (ts->prev != NULL)
        atomic_store_explicit(&ts->prev->next, next, memory_order_release);
    else
        atomic_store_explicit(&gil->head, next, memory_order_release);
    if (next != NULL)
        next->prev = ts->prev;
    gil->nstates--;
}

/* Move limbo to the pool after a grace period, when limbo is large enough.
 * Called with reg_mu; may drop and retake it. */
static void reclaim_limbo(gil_t *gil)
{
    if (gil->nlimbo < LIMBO_BATCH || urcu_bp_read_ongoing())
        return; /* a grace period inside a read-side section would deadlock */
    gil_tstate_t *batch = gil->limbo;
    gil->limbo = NULL;
    gil->nlimbo = 0;
    /* gil_destroy must not free the GIL while we are away from reg_mu: the
     * states are already off the list, so nstates cannot tell it. */
    gil->reclaiming++;
    gil__mutex_unlock(&gil->reg_mu);
    synchronize_rcu();
    GIL__TSAN_ACQUIRE(&gil->rcu_sync);
    gil__mutex_lock(&gil->reg_mu);
    gil->reclaiming--;
    while (batch != NULL) {
        gil_tstate_t *next = batch->pool_next;
        batch->pool_next = gil->pool;
        gil->pool = batch;
        batch = next;
    }
}

/* May a thread other than the owner delete ts?  After shutdown (threads are
 * being unwound), or when the owner is gone (forked child: the registry
 * already removed those). */
static bool may_delete(const gil_tstate_t *ts)
{
    return gil__owner(ts) == gil__thread_id() || gil__orphaned(ts) ||
           atomic_load_explicit(&ts->gil->shutdown, memory_order_acquire);
}

/* After gil_finalize left states behind, the deletion of the last one frees
 * the GIL (and so does the end of the last grace period).  Called with
 * reg_mu; true if the caller must call gil->destroy once it has let go. */
static bool claim_deferred_free(gil_t *gil)
{
    if (gil->finalize != GIL__FIN_DEFERRED || gil->nstates != 0 || gil->reclaiming != 0)
        return false;
    gil->finalize = GIL__FIN_FREEING;
    return true;
}

static int delete_state(gil_tstate_t *ts, int own_busy);

int gil_tstate_delete(gil_tstate_t *ts)
{
    return delete_state(ts, 0);
}

int gil__tstate_delete_busy(gil_tstate_t *ts)
{
    return delete_state(ts, 1);
}

/* own_busy: busy marks the caller holds on ts itself. */
static int delete_state(gil_tstate_t *ts, int own_busy)
{
    if (ts == NULL || atomic_load_explicit(&ts->magic, memory_order_relaxed) != GIL__TS_ALIVE)
        return GIL__MISUSE(GIL_EINVAL);
    gil_t *gil = ts->gil;
    bool own = gil__owner(ts) == gil__thread_id();
    if (!may_delete(ts))
        return GIL__MISUSE(GIL_EPERM);
    /* Deleting the state one holds the GIL with is a mistake; finding
     * another thread's state busy (after shutdown, or an orphan whose thread
     * is still ending) is the documented safety net: retry later. */
    if (gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire)) == ts)
        return own ? GIL__MISUSE(GIL_EBUSY) : GIL_EBUSY;
    if (atomic_load_explicit(&ts->waiting, memory_order_acquire) ||
        atomic_load_explicit(&ts->busy, memory_order_seq_cst) > own_busy)
        return GIL_EBUSY; /* its thread is still inside a libgil slow path */
    if (gil__observed(gil))
        gil__emit(gil, GIL_EVENT_TSTATE_DELETE, ts, NULL, gil__now_ns(), 0, GIL_REASON_RELEASE);
    gil__mutex_lock(&gil->reg_mu);
    if (atomic_load_explicit(&ts->magic, memory_order_relaxed) != GIL__TS_ALIVE) {
        gil__mutex_unlock(&gil->reg_mu); /* lost a race with another deleter */
        return GIL__MISUSE(GIL_EINVAL);
    }
    /* Under threads_mu: an ending owner thread marks its states busy there. */
    if (gil__thread_unlink_if_idle(ts, own_busy) != 0) {
        gil__mutex_unlock(&gil->reg_mu);
        return GIL_EBUSY;
    }
    atomic_store_explicit(&ts->magic, GIL__TS_DEAD, memory_order_relaxed);
    unlink_tstate(gil, ts);
    observe_tstate_delete(gil, ts); /* its trace track ends here */
    if (gil->policy->tstate_fini != NULL)
        gil->policy->tstate_fini(gil, ts);
    ts->pool_next = gil->limbo;
    gil->limbo = ts;
    gil->nlimbo++;
    reclaim_limbo(gil);
    bool free_gil = claim_deferred_free(gil);
    gil__mutex_unlock(&gil->reg_mu);
    if (free_gil)
        gil->destroy(gil);
    return 0;
}

const char *gil_tstate_name(const gil_tstate_t *ts)
{
    return ts != NULL ? ts->name : "";
}

gil_t *gil_tstate_gil(const gil_tstate_t *ts)
{
    return ts != NULL ? ts->gil : NULL;
}

int gil_foreach_tstate(gil_t *gil, int (*fn)(const gil_tstate_t *, void *), void *arg)
{
    if (gil == NULL || fn == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    int rc = 0;
    /* A cancellation point inside fn would end the thread inside a read-side
     * section, and every later grace period (every deletion) would wait for
     * it forever. */
    int cancel_state = gil__cancel_disable();
    urcu_bp_read_lock();
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_acquire); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_acquire)) {
        if (atomic_load_explicit(&ts->magic, memory_order_relaxed) != GIL__TS_ALIVE)
            continue; /* deleted while we walk: skip it */
        if ((rc = fn(ts, arg)) != 0)
            break;
    }
    GIL__TSAN_RELEASE(&gil->rcu_sync);
    urcu_bp_read_unlock();
    gil__cancel_restore(cancel_state);
    return rc;
}

void gil__registry_set_breaker_all(gil_t *gil, uint32_t bits)
{
    gil__mutex_lock(&gil->reg_mu);
    for (gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed); ts != NULL;
         ts = atomic_load_explicit(&ts->next, memory_order_relaxed))
        gil__breaker_set(ts, bits);
    gil__mutex_unlock(&gil->reg_mu);
}

/* In a forked child: only the forking thread exists.  Every other thread's
 * state is deleted (straight to the pool: there are no readers left), and
 * limbo needs no grace period either. */
void gil__registry_after_fork_child(gil_t *gil, uintptr_t self)
{
    gil_tstate_t *ts = atomic_load_explicit(&gil->head, memory_order_relaxed);
    while (ts != NULL) {
        gil_tstate_t *next = atomic_load_explicit(&ts->next, memory_order_relaxed);
        bool survivor = gil__owner(ts) == self;
        /* Threads that no longer exist may have been waiting on the policy's
         * condvars: the policy abandons or rebuilds them, never destroys. */
        if (gil->policy->tstate_after_fork_child != NULL)
            gil->policy->tstate_after_fork_child(gil, ts, survivor);
        if (!survivor) {
            ts->thread_rec = NULL; /* its thread's record is freed (thread.c) */
            ts->thread_next = NULL;
            atomic_store_explicit(&ts->magic, GIL__TS_DEAD, memory_order_relaxed);
            unlink_tstate(gil, ts);
            observe_tstate_delete(gil, ts);
            ts->pool_next = gil->pool;
            gil->pool = ts;
        } else {
            atomic_store_explicit(&ts->waiting, 0, memory_order_relaxed);
            atomic_store_explicit(&ts->busy, 0, memory_order_relaxed);
        }
        ts = next;
    }
    while (gil->limbo != NULL) {
        ts = gil->limbo;
        gil->limbo = ts->pool_next;
        ts->pool_next = gil->pool;
        gil->pool = ts;
    }
    gil->nlimbo = 0;
    gil->reclaiming = 0; /* the reclaimers were other threads: gone */
}
