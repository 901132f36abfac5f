/*
 * core/pending.c - pending calls (Py_AddPendingCall) and their delivery.
 *
 * Layer: core.
 *
 * The queue is Dmitry Vyukov's bounded MPMC ring, used here with many
 * producers and one consumer at a time.  Each slot carries a sequence
 * number: a producer claims position pos by CAS on enqueue_pos when slot
 * seq == pos, writes fn/arg, then publishes with seq = pos + 1 (release).
 * The consumer takes position pos when seq == pos + 1 (acquire), reads the
 * call, and frees the slot for the next lap with seq = pos + capacity.
 * Only atomics on pre-allocated memory: async-signal-safe, so a signal
 * handler may add a call even when it interrupted a producer in the middle
 * of its own add (it just claims the next position).  A full ring answers
 * GIL_EAGAIN; nothing is dropped silently.
 *
 * Delivery.  After publishing, the producer sets GIL__F_PENDING on the GIL
 * and GIL__BREAK_PENDING on the current holder (see core.c for the Dekker
 * pair with the acquirer).  The consumer clears GIL__F_PENDING when it finds
 * the ring empty and then looks once more, so a call published in between
 * is not left without a flag.
 */
#include "core/core.h"

#include <stdlib.h>

int gil__pending_init(gil__pending_t *p, unsigned capacity)
{
    uint64_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    p->slots = calloc(cap, sizeof *p->slots);
    if (p->slots == NULL)
        return GIL_ENOMEM;
    p->mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++)
        atomic_init(&p->slots[i].seq, i);
    atomic_init(&p->enqueue_pos, 0);
    atomic_init(&p->dequeue_pos, 0);
    atomic_init(&p->busy, 0);
    return 0;
}

void gil__pending_fini(gil__pending_t *p)
{
    free(p->slots);
    p->slots = NULL;
}

static int ring_push(gil__pending_t *p, int (*fn)(void *), void *arg)
{
    uint64_t pos = atomic_load_explicit(&p->enqueue_pos, memory_order_relaxed);
    for (;;) {
        gil__pending_slot_t *slot = &p->slots[pos & p->mask];
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        int64_t diff = (int64_t)(seq - pos);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&p->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                slot->fn = fn;
                slot->arg = arg;
                atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
                return 0;
            }
        } else if (diff < 0) {
            return GIL_EAGAIN; /* the slot still holds a call from the last lap */
        } else {
            pos = atomic_load_explicit(&p->enqueue_pos, memory_order_relaxed);
        }
    }
}

/* Returns 1 and the call if one is published at the head, else 0. */
static int ring_pop(gil__pending_t *p, int (**fn)(void *), void **arg)
{
    uint64_t pos = atomic_load_explicit(&p->dequeue_pos, memory_order_relaxed);
    gil__pending_slot_t *slot = &p->slots[pos & p->mask];
    if (atomic_load_explicit(&slot->seq, memory_order_acquire) != pos + 1)
        return 0; /* empty, or the head producer has not published yet */
    *fn = slot->fn;
    *arg = slot->arg;
    atomic_store_explicit(&p->dequeue_pos, pos + 1, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, pos + p->mask + 1, memory_order_release);
    return 1;
}

static bool ring_maybe_nonempty(gil__pending_t *p)
{
    return atomic_load_explicit(&p->enqueue_pos, memory_order_seq_cst) !=
           atomic_load_explicit(&p->dequeue_pos, memory_order_relaxed);
}

int gil_add_pending_call(gil_t *gil, int (*fn)(void *), void *arg)
{
    if (gil == NULL || fn == NULL)
        return GIL_EINVAL; /* no gil__misuse: it may print, and we may be in a signal handler */
    if (atomic_load_explicit(&gil->shutdown, memory_order_acquire))
        return GIL_ESHUTDOWN;
    if (ring_push(&gil->pending, fn, arg) != 0) {
        atomic_fetch_add_explicit(&gil->pending_rejected, 1, memory_order_relaxed);
        return GIL_EAGAIN;
    }
    /* Dekker pair with the acquirer (core.c): flag, then look at the word. */
    atomic_fetch_or_explicit(&gil->flags, GIL__F_PENDING, memory_order_seq_cst);
    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_seq_cst));
    if (holder != NULL)
        gil__breaker_set(holder, GIL__BREAK_PENDING);
    return 0;
}

/* Keep the pending state armed for the next check point of ts. */
static void rearm(gil_t *gil, gil_tstate_t *ts)
{
    atomic_fetch_or_explicit(&gil->flags, GIL__F_PENDING, memory_order_seq_cst);
    gil__breaker_set(ts, GIL__BREAK_PENDING);
}

/* The consumer was cancelled inside a call (pthread_cancel at one of the
 * call's cancellation points): let the next holder run the rest. */
static void consumer_cancelled(void *arg)
{
    gil_t *gil = arg;
    atomic_fetch_or_explicit(&gil->flags, GIL__F_PENDING, memory_order_seq_cst);
    atomic_store_explicit(&gil->pending.busy, 0, memory_order_release);
}

static int run_calls(gil_t *gil, gil_tstate_t *ts);

int gil__pending_run(gil_t *gil, gil_tstate_t *ts)
{
    gil__pending_t *p = &gil->pending;
    int idle = 0;
    /* One call at a time: a call that releases the GIL (or runs a check
     * point) must not let another thread start the next one. */
    if (!atomic_compare_exchange_strong_explicit(&p->busy, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0;
    volatile int rc; /* assigned after pthread_cleanup_push's setjmp */
    pthread_cleanup_push(consumer_cancelled, gil);
    rc = run_calls(gil, ts);
    pthread_cleanup_pop(0);
    atomic_store_explicit(&p->busy, 0, memory_order_release);
    return rc;
}

/* The consumer's loop, with p->busy held. */
static int run_calls(gil_t *gil, gil_tstate_t *ts)
{
    gil__pending_t *p = &gil->pending;
    int rc = 0;
    for (;;) {
        int (*fn)(void *);
        void *arg;
        if (!ring_pop(p, &fn, &arg)) {
            atomic_fetch_and_explicit(&gil->flags, ~GIL__F_PENDING, memory_order_seq_cst);
            if (!ring_maybe_nonempty(p))
                break;
            if (!ring_pop(p, &fn, &arg)) {
                /* A producer claimed the head but has not published (it may
                 * be a thread interrupted by the very signal whose handler we
                 * serve).  Try again at the next check point. */
                rearm(gil, ts);
                break;
            }
            atomic_fetch_or_explicit(&gil->flags, GIL__F_PENDING, memory_order_seq_cst);
        }
        if (fn == NULL)
            continue; /* voided after fork */
        gil__counter_add(&gil->pending_run, 1);
        rc = fn(arg);
        if (rc != 0) {
            if (ring_maybe_nonempty(p))
                rearm(gil, ts);
            break;
        }
    }
    return rc;
}

/* In a forked child, threads that no longer exist may have been anywhere
 * in the ring's protocol: a producer that claimed a slot but never published
 * it, a consumer that advanced the head but never freed its slot for the next
 * lap, a producer that published but never raised GIL__F_PENDING.  Rebuild
 * every slot's sequence number from head and tail: occupied positions are
 * published (voided if their producer vanished), free ones belong to the
 * producer of their position.  Calls already published still run. */
void gil__pending_after_fork_child(gil_t *gil, gil__pending_t *p)
{
    uint64_t head = atomic_load_explicit(&p->dequeue_pos, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&p->enqueue_pos, memory_order_relaxed);
    for (uint64_t pos = head; pos != tail; pos++) {
        gil__pending_slot_t *slot = &p->slots[pos & p->mask];
        if (atomic_load_explicit(&slot->seq, memory_order_relaxed) != pos + 1) {
            slot->fn = NULL;
            slot->arg = NULL;
            atomic_store_explicit(&slot->seq, pos + 1, memory_order_relaxed);
        }
    }
    for (uint64_t pos = tail; pos != head + p->mask + 1; pos++)
        atomic_store_explicit(&p->slots[pos & p->mask].seq, pos, memory_order_relaxed);
    atomic_store_explicit(&p->busy, 0, memory_order_relaxed);
    if (head != tail)
        atomic_fetch_or_explicit(&gil->flags, GIL__F_PENDING, memory_order_relaxed);
}
