/*
 * core/ensure.c - gil_ensure / gil_ensure_release (PyGILState_Ensure/Release).
 *
 * Layer: core.
 *
 * Each thread keeps a small list of records, one per GIL it has called
 * gil_ensure on: the state used, the nesting counter, and whether libgil
 * created the state (then it is deleted when the counter returns to 0).
 * The list lives in thread-local storage; a pthread key destructor cleans up
 * after a thread that exits with records left (releasing a GIL it still holds
 * through them, so that other threads are not blocked forever).
 */
#include "core/core.h"

#include <stdlib.h>

typedef struct ensure_rec {
    gil_t *gil;
    gil_tstate_t *ts;
    unsigned long counter; /* outstanding gil_ensure calls */
    bool auto_created;     /* ts was created by gil_ensure */
    struct ensure_rec *next;
} ensure_rec_t;

static __thread ensure_rec_t *tls_recs;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void free_rec(ensure_rec_t *rec);

/* Thread exit with outstanding records: undo them. */
static void on_thread_exit(void *unused)
{
    (void)unused;
    while (tls_recs != NULL) {
        ensure_rec_t *rec = tls_recs;
        if (gil__word_holder(atomic_load_explicit(&rec->gil->word, memory_order_acquire)) == rec->ts)
            gil__drop(rec->gil, rec->ts, GIL_REASON_FINAL);
        free_rec(rec);
    }
}

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, on_thread_exit) != 0)
        gil__fatal("pthread_key_create failed");
}

static ensure_rec_t *find_rec(const gil_t *gil)
{
    for (ensure_rec_t *r = tls_recs; r != NULL; r = r->next)
        if (r->gil == gil)
            return r;
    return NULL;
}

static ensure_rec_t *new_rec(gil_t *gil)
{
    ensure_rec_t *rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return NULL;
    pthread_once(&exit_key_once, make_exit_key);
    pthread_setspecific(exit_key, (void *)1); /* any non-NULL value arms the destructor */
    rec->gil = gil;
    rec->next = tls_recs;
    tls_recs = rec;
    return rec;
}

/* Unlink and free; delete the state if libgil created it. */
static void free_rec(ensure_rec_t *rec)
{
    ensure_rec_t **pp = &tls_recs;
    while (*pp != rec)
        pp = &(*pp)->next;
    *pp = rec->next;
    if (rec->auto_created)
        gil_tstate_delete(rec->ts);
    free(rec);
}

int gil_ensure(gil_t *gil, gil_ensure_t *state)
{
    if (gil == NULL || state == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    ensure_rec_t *rec = find_rec(gil);
    if (gil_held(gil)) {
        if (rec == NULL) {
            if ((rec = new_rec(gil)) == NULL)
                return GIL_ENOMEM;
            rec->ts = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire));
        }
        rec->counter++;
        *state = GIL_ENSURE_LOCKED;
        return 0;
    }
    if (rec == NULL) {
        if ((rec = new_rec(gil)) == NULL)
            return GIL_ENOMEM;
        int rc = gil_tstate_new(gil, "ensure", &rec->ts);
        if (rc != 0) {
            free_rec(rec);
            return rc;
        }
        rec->auto_created = true;
    }
    int rc = gil__acquire(rec->ts);
    if (rc != 0) {
        if (rec->counter == 0)
            free_rec(rec);
        if (rc == GIL_ESHUTDOWN && gil__parking(gil))
            gil__thread_park(); /* our own records are settled: never come back */
        return rc;
    }
    rec->counter++;
    *state = GIL_ENSURE_UNLOCKED;
    return 0;
}

int gil_ensure_release(gil_t *gil, gil_ensure_t state)
{
    if (gil == NULL || (state != GIL_ENSURE_LOCKED && state != GIL_ENSURE_UNLOCKED))
        return GIL__MISUSE(GIL_EINVAL);
    ensure_rec_t *rec = find_rec(gil);
    if (rec == NULL || rec->counter == 0 || !gil_held(gil))
        return GIL__MISUSE(GIL_EPERM);
    if (state == GIL_ENSURE_UNLOCKED &&
        gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire)) != rec->ts)
        return GIL__MISUSE(GIL_EPERM); /* held with another state: not ours to drop */
    rec->counter--;
    bool last = rec->counter == 0;
    if (state == GIL_ENSURE_UNLOCKED)
        gil__drop(gil, rec->ts, last && rec->auto_created ? GIL_REASON_FINAL : GIL_REASON_RELEASE);
    if (last)
        free_rec(rec);
    return 0;
}
