/*
 * core/thread.c - the OS threads that own thread states, and what happens
 * when one of them ends without deleting its states.
 *
 * Layer: core.
 *
 * Every thread that creates a state gets a record (malloc'ed on its first
 * gil_tstate_new) listing its live states of every GIL, and a pthread key
 * whose destructor runs when the thread ends: by returning from its start
 * routine, by pthread_exit, or by pthread_cancel.  An interpreter whose
 * threads are cancelled at exit, or a thread that simply forgets to delete
 * its state, must not take the GIL with it, nor leave a state that looks
 * like a live thread's.  So the destructor, for each state still alive:
 *   - releases the GIL if the state holds it (GIL_REASON_FINAL): a thread
 *     cancelled in user code while holding the GIL would otherwise leave
 *     everybody else waiting forever;
 *   - orphans the state: its owner becomes 0 (no live thread's id; a new
 *     thread that reuses the dead one's TLS block, hence its id, does not
 *     inherit the state), and any thread may then delete it.
 * It does not delete the state: the embedder may still hold the pointer and
 * delete it later (the documented contract: join, then delete), and a
 * deletion here could free memory that pointer then reuses.  gil_finalize
 * deletes orphans that nobody deleted.
 *
 * Locking.  threads_mu guards every record and every state's thread_next /
 * thread_rec.  It is the innermost lock of the library: taken under reg_mu
 * (a state is linked into its record while it is created, unlinked while it
 * is deleted) and never held while taking another.  The destructor marks
 * each of its states busy under threads_mu, and gil_tstate_delete checks
 * busy under threads_mu too, so a state is either deleted before the
 * destructor sees it or deleted only after the destructor is done with it.
 */
#include "core/core.h"

#include <stdlib.h>

typedef struct gil__thread_rec {
    gil_tstate_t *states;            /* live states, via thread_next [threads_mu] */
    uintptr_t tid;                   /* gil__thread_id() of the thread [const] */
    struct gil__thread_rec *next;    /* every record, for fork [threads_mu] */
    struct gil__thread_rec **pprev;  /* [threads_mu] */
} gil__thread_rec_t;

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static gil__thread_rec_t *all_recs;  /* [threads_mu] */
static __thread gil__thread_rec_t *tls_rec; /* the calling thread's record */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *rec);

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, on_thread_exit) != 0)
        gil__fatal("pthread_key_create failed");
}

static void rec_unlink(gil__thread_rec_t *rec)
{
    *rec->pprev = rec->next;
    if (rec->next != NULL)
        rec->next->pprev = rec->pprev;
}

int gil__thread_prepare(void)
{
    if (tls_rec != NULL)
        return 0;
    gil__thread_rec_t *rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return GIL_ENOMEM;
    rec->tid = gil__thread_id();
    pthread_once(&exit_key_once, make_exit_key);
    if (pthread_setspecific(exit_key, rec) != 0) {
        free(rec);
        return GIL_ENOMEM;
    }
    gil__mutex_lock(&threads_mu);
    rec->next = all_recs;
    rec->pprev = &all_recs;
    if (all_recs != NULL)
        all_recs->pprev = &rec->next;
    all_recs = rec;
    gil__mutex_unlock(&threads_mu);
    tls_rec = rec;
    return 0;
}

void gil__thread_link(gil_tstate_t *ts)
{
    gil__thread_rec_t *rec = tls_rec;
    gil__mutex_lock(&threads_mu);
    ts->thread_rec = rec;
    ts->thread_next = rec->states;
    rec->states = ts;
    gil__mutex_unlock(&threads_mu);
}

/* Unlink ts from its owner's record (if the owner has not ended). */
static void unlink_locked(gil_tstate_t *ts)
{
    gil__thread_rec_t *rec = ts->thread_rec;
    if (rec == NULL)
        return;
    for (gil_tstate_t **pp = &rec->states; *pp != NULL; pp = &(*pp)->thread_next) {
        if (*pp == ts) {
            *pp = ts->thread_next;
            break;
        }
    }
    ts->thread_rec = NULL;
    ts->thread_next = NULL;
}

int gil__thread_unlink_if_idle(gil_tstate_t *ts, int own_busy)
{
    gil__mutex_lock(&threads_mu);
    if (atomic_load_explicit(&ts->waiting, memory_order_acquire) ||
        atomic_load_explicit(&ts->busy, memory_order_seq_cst) > own_busy) {
        gil__mutex_unlock(&threads_mu);
        return GIL_EBUSY;
    }
    unlink_locked(ts);
    gil__mutex_unlock(&threads_mu);
    return 0;
}

bool gil__orphaned(const gil_tstate_t *ts)
{
    return atomic_load_explicit(&((gil_tstate_t *)ts)->orphaned, memory_order_acquire) != 0;
}

/* The thread is ending (its TLS is still valid while key destructors run). */
static gil_tstate_t *take_states(gil__thread_rec_t *rec);
static void release_if_held(gil_tstate_t *ts);
static void orphan(gil_tstate_t *ts);

static void on_thread_exit(void *arg)
{
    gil__thread_rec_t *rec = arg;
    gil_tstate_t *list = take_states(rec);
    gil__mutex_lock(&threads_mu);
    rec_unlink(rec);
    gil__mutex_unlock(&threads_mu);
    tls_rec = NULL;
    free(rec);
    while (list != NULL) {
        gil_tstate_t *ts = list;
        list = ts->thread_next; /* ours alone now: detached under threads_mu */
        ts->thread_next = NULL;
        release_if_held(ts);
        orphan(ts);
        gil__busy_leave(ts);
    }
}

_Atomic unsigned long gil__parked_threads;

/* Detach the calling thread's states from its record (each marked busy:
 * no deletion while we work on them) and return them. */
static gil_tstate_t *take_states(gil__thread_rec_t *rec)
{
    gil__mutex_lock(&threads_mu);
    gil_tstate_t *list = rec->states;
    for (gil_tstate_t *ts = list; ts != NULL; ts = ts->thread_next) {
        gil__busy_enter(ts);
        ts->thread_rec = NULL;
    }
    rec->states = NULL;
    gil__mutex_unlock(&threads_mu);
    return list;
}

static void release_if_held(gil_tstate_t *ts)
{
    gil_t *gil = ts->gil;
    if (gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire)) == ts)
        gil__drop(gil, ts, GIL_REASON_FINAL);
}

static void orphan(gil_tstate_t *ts)
{
    atomic_store_explicit(&ts->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&ts->orphaned, 1, memory_order_release);
}

void gil__thread_park(void)
{
    gil__thread_rec_t *rec = tls_rec;
    gil_tstate_t *list = rec != NULL ? take_states(rec) : NULL;
    while (list != NULL) {
        gil_tstate_t *ts = list;
        list = ts->thread_next;
        ts->thread_next = NULL;
        release_if_held(ts);
        if (atomic_load_explicit(&ts->gil->park, memory_order_acquire)) {
            /* Ours, and still marked busy by us: nobody else deletes it
             * meanwhile.  Its deletion may free the GIL. */
            gil__tstate_delete_busy(ts);
        } else {
            orphan(ts); /* another GIL: the thread will never use it again */
            gil__busy_leave(ts);
        }
    }
    atomic_fetch_add_explicit(&gil__parked_threads, 1, memory_order_relaxed);
    gil__park_forever();
}

void gil__thread_before_fork(void)
{
    gil__mutex_lock(&threads_mu);
}

void gil__thread_after_fork_parent(void)
{
    gil__mutex_unlock(&threads_mu);
}

/* Only the forking thread exists: the other records belong to threads that
 * are gone (their states were deleted by each GIL's repair, which also
 * cleared their thread_rec). */
void gil__thread_after_fork_child(void)
{
    gil__mutex_reinit(&threads_mu);
    for (gil__thread_rec_t *rec = all_recs, *next; rec != NULL; rec = next) {
        next = rec->next;
        if (rec != tls_rec)
            free(rec);
    }
    all_recs = tls_rec;
    if (tls_rec != NULL) {
        tls_rec->next = NULL;
        tls_rec->pprev = &all_recs;
    }
}
