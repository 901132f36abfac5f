/*
 * core/hist.c - the log-linear histograms the core records latencies in.
 *
 * Layer: core.  Every histogram has a single writer (the GIL holder for the
 * per-GIL ones, the owner thread for per-state ones), so recording is plain
 * relaxed loads and stores: no locked instruction on the paths that record.
 * Readers (any thread, observe/) use relaxed loads; a snapshot taken while
 * threads run is consistent per bucket, not across buckets.
 */
#include "core/core.h"

/* Bucket index of a value.  Values below 2^SUB_BITS map to themselves; a
 * value with its top bit at e >= SUB_BITS maps to octave (e - SUB_BITS + 1)
 * and to the SUB_BITS bits after its top bit. */
static unsigned bucket_of(uint64_t v)
{
    if (v < GIL__HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e > GIL__HIST_MAX_EXP)
        return GIL__HIST_BUCKETS - 1;
    unsigned octave = e - GIL__HIST_SUB_BITS + 1;
    unsigned sub = (unsigned)(v >> (e - GIL__HIST_SUB_BITS)) & (GIL__HIST_SUB - 1);
    return octave * GIL__HIST_SUB + sub;
}

/* The largest value that maps to bucket b. */
uint64_t gil__hist_bucket_upper(unsigned b)
{
    if (b < GIL__HIST_SUB)
        return b;
    unsigned octave = b / GIL__HIST_SUB, sub = b % GIL__HIST_SUB;
    unsigned e = octave + GIL__HIST_SUB_BITS - 1;
    uint64_t lower = ((uint64_t)(GIL__HIST_SUB + sub)) << (e - GIL__HIST_SUB_BITS);
    return lower + (((uint64_t)1 << (e - GIL__HIST_SUB_BITS)) - 1);
}

void gil__hist_record(gil__hist_t *h, uint64_t v)
{
    gil__counter_add(&h->bucket[bucket_of(v)], 1);
    gil__counter_add(&h->count, 1);
    gil__counter_add(&h->sum, v);
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

void gil__hist_reset(gil__hist_t *h)
{
    for (unsigned i = 0; i < GIL__HIST_BUCKETS; i++)
        atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
}

uint64_t gil__hist_quantile(const gil__hist_t *h, double q)
{
    gil__hist_t *m = (gil__hist_t *)h;
    uint64_t total = 0;
    /* Sum the buckets rather than trust count: a reader may see them at
     * slightly different moments. */
    for (unsigned i = 0; i < GIL__HIST_BUCKETS; i++)
        total += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    uint64_t max = atomic_load_explicit(&m->max, memory_order_relaxed);
    uint64_t seen = 0;
    for (unsigned i = 0; i < GIL__HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t v = gil__hist_bucket_upper(i);
            return v < max ? v : max;
        }
    }
    return max;
}

void gil__hist_summary(const gil__hist_t *h, gil_hist_summary_t *out)
{
    out->count = atomic_load_explicit(&((gil__hist_t *)h)->count, memory_order_relaxed);
    out->p50_ns = gil__hist_quantile(h, 0.50);
    out->p90_ns = gil__hist_quantile(h, 0.90);
    out->p99_ns = gil__hist_quantile(h, 0.99);
    out->max_ns = atomic_load_explicit(&((gil__hist_t *)h)->max, memory_order_relaxed);
}

