/*
 * observe/prometheus.c - every counter, gauge and latency histogram in the
 * Prometheus text exposition format (0.0.4) and in OpenMetrics 1.0 text.
 *
 * Layer: observe (calls core and platform only).
 *
 * A snapshot of every GIL and of its live states is taken first, then each
 * family is written once (its metadata, then its samples for every GIL), as
 * both formats require: a family's samples must be contiguous.  Per-thread
 * series are separate families (gil_thread_*), so that summing a family
 * never counts a value twice.
 *
 * What is exported, and why (issue 12):
 *  - Latencies are histograms with a fixed, small set of `le` bounds in
 *    seconds (bounds[] below), the same for every GIL and every process, so
 *    that sum(rate(..._bucket[1m])) by (le) aggregates anything.  The
 *    cumulative counts come from the core's log-linear histograms (1,152
 *    buckets, core/hist.c): a log-linear bucket is counted under the first
 *    bound >= its upper edge, so a bucket that straddles a bound counts
 *    under the next one.  The count at `le` is therefore never more than
 *    the number of observations <= le (a bound is never over-stated), and
 *    misses at most observations in (le x 32/33, le].  _count is the +Inf
 *    bucket (the sum of the buckets read, so the two always agree) and _sum
 *    the histogram's exact sum.  gil_stats_reset resets the histograms:
 *    to Prometheus that is a counter reset (rate() and increase() handle
 *    it as they handle a restart).
 *  - Counters for everything that only grows; no precomputed rates and no
 *    window labels (rate() does that).  The load averages of gil_stats_t
 *    stay in gil_stats_t.  gil_held_ratio is the since-start fraction
 *    (0..1); the average number of waiters is rate(gil_wait_seconds_total).
 *  - gil_start_time_seconds (Unix time of gil_create) rather than an uptime
 *    gauge: CLOCK_REALTIME is read here, by the exporter, once per GIL.
 *  - Per-thread series are labelled by the state's NAME only, never by an
 *    id, so thread churn does not mint new series: states with the same
 *    name share one series (their counters summed), at most
 *    THREAD_SERIES_MAX names per GIL get a series of their own (the names
 *    of the oldest states first, so that long-lived threads keep theirs)
 *    and the states beyond are summed into thread="other".  A series only
 *    sums live states: when a state is deleted its counts leave the sum,
 *    which rate() sees as a counter reset.
 *
 * Numbers are written with the library's own formatter (platform/format.c),
 * never the printf family, which a host may replace; nanosecond figures as
 * exact fixed-point decimals of the integers.
 */
#include "observe/observe.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREAD_SERIES_MAX 64 /* names with their own series, per GIL */
#define OTHER_THREADS "other"

/* The histograms' bounds.  The label strings are the canonical forms
 * (Go's and prometheus_client's float formatting), which OpenMetrics wants
 * for `le`. */
static const struct bound {
    uint64_t ns;
    const char *le;
} bounds[] = {
    {1000u, "1e-06"},        {2500u, "2.5e-06"},      {5000u, "5e-06"},       {10000u, "1e-05"},
    {25000u, "2.5e-05"},     {50000u, "5e-05"},       {100000u, "0.0001"},    {250000u, "0.00025"},
    {500000u, "0.0005"},     {1000000u, "0.001"},     {2500000u, "0.0025"},   {5000000u, "0.005"},
    {10000000u, "0.01"},     {25000000u, "0.025"},    {50000000u, "0.05"},    {100000000u, "0.1"},
    {250000000u, "0.25"},    {500000000u, "0.5"},     {1000000000u, "1.0"},   {2500000000u, "2.5"},
    {5000000000u, "5.0"},    {10000000000u, "10.0"},  {UINT64_MAX, "+Inf"},
};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

/* Observations per bound (not cumulative), and their sum. */
typedef struct le_hist {
    uint64_t n[NBOUNDS];
    uint64_t sum_ns;
} le_hist_t;

/* Add the core histogram h into out.  Bucket upper edges grow with the
 * index, so one pass over the buckets walks the bounds along. */
static void le_hist_add(le_hist_t *out, const gil__hist_t *h)
{
    gil__hist_t *m = (gil__hist_t *)h;
    size_t i = 0;
    for (unsigned b = 0; b < GIL__HIST_BUCKETS; b++) {
        uint64_t c = atomic_load_explicit(&m->bucket[b], memory_order_relaxed);
        if (c == 0)
            continue;
        uint64_t upper = gil__hist_bucket_upper(b);
        while (bounds[i].ns < upper) /* stops at +Inf */
            i++;
        out->n[i] += c;
    }
    out->sum_ns += atomic_load_explicit(&m->sum, memory_order_relaxed);
}

enum { H_WAIT, H_HOLD, H_DROP, NHIST };

/* A per-thread series: one name, the live states that have it. */
typedef struct th_series {
    char name[32];
    uint64_t id;              /* of its oldest state (ordering) */
    uint64_t states;
    gil_tstate_stats_t st;    /* counters summed over the states */
    le_hist_t hist[2];        /* H_WAIT, H_HOLD */
} th_series_t;

typedef struct gil_snap {
    const gil_t *gil;
    gil_stats_t st;
    le_hist_t hist[NHIST];
    unsigned long interval_us;
    uint64_t start_time_ns;   /* Unix time of gil_create */
    uint64_t nstates;
    th_series_t *th;          /* first one per state, then the series */
    size_t nth, cap;
    bool oom;
} gil_snap_t;

/* ------------------------------------------------------------------------ */
/* The families                                                             */

typedef enum { M_GAUGE, M_COUNTER, M_HISTOGRAM, M_INFO } mtype_t;

typedef enum {
    V_U64,           /* a uint64_t at off */
    V_NS,            /* nanoseconds at off, written as seconds */
    V_RATIO,         /* a double at off, 0..1 */
    V_HIST,          /* hist[index] */
    V_INFO,          /* labels policy, version; value 1 */
    V_START_TIME,
    V_INTERVAL,
    V_THREADS,       /* live states of the GIL */
    V_THREAD_STATES  /* live states in the series */
} vkind_t;

typedef struct family {
    const char *name;   /* the OpenMetrics family name: counters without
                           _total, the info family without _info */
    mtype_t type;
    const char *help;   /* plain text: no backslash, newline or double
                           quote (no escapes needed in either format) */
    bool per_thread;    /* values from th_series_t, else gil_snap_t */
    vkind_t kind;
    size_t off;         /* V_U64, V_NS, V_RATIO: into gil_stats_t or
                           gil_tstate_stats_t; V_HIST: the index */
} family_t;

#define G(f) offsetof(gil_stats_t, f)
#define T(f) offsetof(gil_tstate_stats_t, f)

static const family_t families[] = {
    {"gil", M_INFO, "The GIL's policy and the libgil version (value 1).", false, V_INFO, 0},
    {"gil_start_time_seconds", M_GAUGE, "Unix time when the GIL was created.", false, V_START_TIME, 0},
    {"gil_switch_interval_seconds", M_GAUGE, "The switch interval.", false, V_INTERVAL, 0},
    {"gil_threads", M_GAUGE, "Live thread states.", false, V_THREADS, 0},
    {"gil_waiting_threads", M_GAUGE, "Threads waiting for the GIL now.", false, V_U64, G(waiting_now)},
    {"gil_acquisitions", M_COUNTER, "Successful acquisitions.", false, V_U64, G(acquisitions)},
    {"gil_contended_acquisitions", M_COUNTER, "Acquisitions that had to wait.", false, V_U64, G(contended)},
    {"gil_drop_requests", M_COUNTER, "Drop requests made by waiters.", false, V_U64, G(drop_requests)},
    {"gil_drop_requests_withheld", M_COUNTER,
     "Timed-out waits that made no drop request because the holder changed meanwhile.", false, V_U64,
     G(requests_withheld)},
    {"gil_forced_switches", M_COUNTER, "Releases caused by a drop request.", false, V_U64, G(forced_switches)},
    {"gil_switches", M_COUNTER, "Changes of the holder.", false, V_U64, G(switches)},
    {"gil_wait_seconds", M_COUNTER,
     "Total time waited by contended acquisitions; its rate is the average number of waiting threads.", false,
     V_NS, G(wait_ns)},
    {"gil_hold_seconds", M_COUNTER,
     "Total time of timed holds (all holds under GIL_TIMING_ALWAYS); its rate is the fraction of time held.",
     false, V_NS, G(hold_ns)},
    {"gil_timed_holds", M_COUNTER, "Holds that were timed.", false, V_U64, G(timed_holds)},
    {"gil_pending_calls_run", M_COUNTER, "Pending calls run.", false, V_U64, G(pending_calls_run)},
    {"gil_pending_calls_rejected", M_COUNTER, "Pending calls refused because the queue was full.", false, V_U64,
     G(pending_calls_rejected)},
    {"gil_watchdog_reports", M_COUNTER, "Long holds reported by the watchdog.", false, V_U64,
     G(watchdog_reports)},
    {"gil_held_ratio", M_GAUGE, "Fraction of the time since gil_create the GIL was held in timed holds (0..1).",
     false, V_RATIO, G(held_ratio)},
    {"gil_wait_duration_seconds", M_HISTOGRAM,
     "Waits of contended acquisitions (since gil_create or gil_stats_reset).", false, V_HIST, H_WAIT},
    {"gil_wait_duration_max_seconds", M_GAUGE, "Longest wait (since gil_create or gil_stats_reset).", false, V_NS,
     G(wait.max_ns)},
    {"gil_hold_duration_seconds", M_HISTOGRAM, "Timed holds (since gil_create or gil_stats_reset).", false,
     V_HIST, H_HOLD},
    {"gil_hold_duration_max_seconds", M_GAUGE, "Longest timed hold (since gil_create or gil_stats_reset).", false,
     V_NS, G(hold.max_ns)},
    {"gil_drop_latency_seconds", M_HISTOGRAM,
     "From a drop request to the release it caused (since gil_create or gil_stats_reset).", false, V_HIST,
     H_DROP},
    {"gil_drop_latency_max_seconds", M_GAUGE, "Longest drop latency (since gil_create or gil_stats_reset).",
     false, V_NS, G(drop_latency.max_ns)},

    {"gil_thread_states", M_GAUGE, "Live thread states in the series (thread=other also sums those beyond the cap).", true,
     V_THREAD_STATES, 0},
    {"gil_thread_acquisitions", M_COUNTER, "Successful acquisitions, per thread name.", true, V_U64,
     T(acquisitions)},
    {"gil_thread_contended_acquisitions", M_COUNTER, "Acquisitions that had to wait, per thread name.", true,
     V_U64, T(contended)},
    {"gil_thread_drop_requests", M_COUNTER, "Drop requests made while waiting, per thread name.", true, V_U64,
     T(drop_requests)},
    {"gil_thread_forced_switches", M_COUNTER, "Releases caused by a drop request, per thread name.", true, V_U64,
     T(forced_switches)},
    {"gil_thread_wait_seconds", M_COUNTER, "Total time waited, per thread name.", true, V_NS, T(wait_ns)},
    {"gil_thread_hold_seconds", M_COUNTER, "Total time of timed holds, per thread name.", true, V_NS, T(hold_ns)},
    {"gil_thread_priority_boosts", M_COUNTER, "Waits served with I/O priority (priority policy).", true, V_U64,
     T(boosts)},
    {"gil_thread_priority_demotions", M_COUNTER, "I/O priority lost to the abuse guard (priority policy).", true,
     V_U64, T(demotions)},
    {"gil_thread_wait_duration_seconds", M_HISTOGRAM, "Waits of contended acquisitions, per thread name.", true,
     V_HIST, H_WAIT},
    {"gil_thread_hold_duration_seconds", M_HISTOGRAM, "Timed holds, per thread name.", true, V_HIST, H_HOLD},
};
#define NFAMILIES (sizeof families / sizeof families[0])

static uint64_t u64_at(const void *base, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)base + off, sizeof v);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

static int snap_tstate(const gil_tstate_t *ts, void *arg)
{
    gil_snap_t *g = arg;
    if (g->nth == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        th_series_t *th = realloc(g->th, cap * sizeof *th);
        if (th == NULL) {
            g->oom = true;
            return 1;
        }
        g->th = th;
        g->cap = cap;
    }
    th_series_t *t = &g->th[g->nth];
    memset(t, 0, sizeof *t);
    if (gil_tstate_stats_get(ts, &t->st) != 0)
        return 0; /* deleted under our feet */
    gil__copy_str(t->name, sizeof t->name, gil_tstate_name(ts));
    t->id = t->st.id;
    t->states = 1;
    le_hist_add(&t->hist[H_WAIT], &ts->wait_hist);
    le_hist_add(&t->hist[H_HOLD], &ts->hold_hist);
    g->nth++;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const th_series_t *)a)->id, y = ((const th_series_t *)b)->id;
    return x < y ? -1 : x > y;
}

static void series_add(th_series_t *to, const th_series_t *from)
{
    for (size_t k = 0; k < NFAMILIES; k++) {
        const family_t *fam = &families[k];
        if (fam->per_thread && (fam->kind == V_U64 || fam->kind == V_NS)) {
            uint64_t v = u64_at(&to->st, fam->off) + u64_at(&from->st, fam->off);
            memcpy((char *)&to->st + fam->off, &v, sizeof v);
        }
    }
    for (int h = 0; h < 2; h++) {
        for (size_t i = 0; i < NBOUNDS; i++)
            to->hist[h].n[i] += from->hist[h].n[i];
        to->hist[h].sum_ns += from->hist[h].sum_ns;
    }
    to->states += from->states;
}

static th_series_t *find_series(th_series_t *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

/* Fold the per-state snapshots (g->th, oldest first after the sort) into
 * at most THREAD_SERIES_MAX named series plus "other", in place: series i
 * is built from states >= i. */
static void fold_series(gil_snap_t *g)
{
    if (g->nth == 0)
        return; /* g->th may be NULL: not even qsort may see it */
    qsort(g->th, g->nth, sizeof *g->th, by_id);
    size_t n = 0;
    for (size_t i = 0; i < g->nth; i++) {
        th_series_t state = g->th[i];
        th_series_t *s = find_series(g->th, n, state.name);
        if (s == NULL && n >= THREAD_SERIES_MAX)
            s = find_series(g->th, n, OTHER_THREADS);
        if (s != NULL) {
            series_add(s, &state);
            continue;
        }
        if (n >= THREAD_SERIES_MAX) /* the first state beyond the cap */
            gil__copy_str(state.name, sizeof state.name, OTHER_THREADS);
        g->th[n++] = state;
    }
    g->nth = n;
}

/* Unix time of the GIL's creation: now, minus its age on the monotonic
 * clock (the one the core stamps created_ns with). */
static uint64_t start_time_ns(const gil_t *gil)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t mono = gil__now_ns();
    uint64_t real = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    uint64_t age = mono > gil->created_ns ? mono - gil->created_ns : 0;
    return real > age ? real - age : 0;
}

static int snap_gil(gil_snap_t *g, const gil_t *gil)
{
    memset(g, 0, sizeof *g);
    g->gil = gil;
    gil_stats_get(gil, &g->st);
    le_hist_add(&g->hist[H_WAIT], &gil->wait_hist);
    le_hist_add(&g->hist[H_HOLD], &gil->hold_hist);
    le_hist_add(&g->hist[H_DROP], &gil->drop_hist);
    g->interval_us = gil_get_switch_interval(gil);
    g->start_time_ns = start_time_ns(gil);
    gil_foreach_tstate((gil_t *)gil, snap_tstate, g);
    g->nstates = g->nth;
    if (!g->oom)
        fold_series(g);
    return g->oom ? GIL_ENOMEM : 0;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

typedef struct writer {
    gil__fmt_t *f;
    bool openmetrics;
} writer_t;

/* A label value: \ " and newline escaped, invalid UTF-8 replaced. */
static void put_label_value(gil__fmt_t *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = gil__utf8_seq_len(p);
        if (n == 0) {
            gil__fmt_str(f, "\xef\xbf\xbd"); /* U+FFFD */
            p++;
        } else if (*p == '\\' || *p == '"' || *p == '\n') {
            gil__fmt_char(f, '\\');
            gil__fmt_char(f, *p == '\n' ? 'n' : (char)*p);
            p++;
        } else {
            gil__fmt_mem(f, (const char *)p, n);
            p += n;
        }
    }
}

static void put_label(gil__fmt_t *f, const char *sep, const char *key, const char *value)
{
    gil__fmt_str(f, sep);
    gil__fmt_str(f, key);
    gil__fmt_str(f, "=\"");
    put_label_value(f, value);
    gil__fmt_char(f, '"');
}

/* `name{gil="..."[,thread="..."][,le="..."]} ` */
static void put_series(gil__fmt_t *f, const char *name, const char *suffix, const gil_snap_t *g,
                       const th_series_t *t, const char *le)
{
    gil__fmt_str(f, name);
    gil__fmt_str(f, suffix);
    put_label(f, "{", "gil", g->gil->name);
    if (t != NULL)
        put_label(f, ",", "thread", t->name);
    if (le != NULL)
        put_label(f, ",", "le", le);
    gil__fmt_str(f, "} ");
}

static void put_seconds(gil__fmt_t *f, uint64_t ns)
{
    gil__fmt_scaled(f, ns, 9, true);
    gil__fmt_char(f, '\n');
}

static void put_count(gil__fmt_t *f, uint64_t n)
{
    gil__fmt_u64(f, n);
    gil__fmt_char(f, '\n');
}

static void put_histogram(gil__fmt_t *f, const family_t *fam, const gil_snap_t *g, const th_series_t *t,
                          const le_hist_t *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cumulative += h->n[i];
        put_series(f, fam->name, "_bucket", g, t, bounds[i].le);
        put_count(f, cumulative);
    }
    put_series(f, fam->name, "_sum", g, t, NULL);
    put_seconds(f, h->sum_ns);
    put_series(f, fam->name, "_count", g, t, NULL);
    put_count(f, cumulative);
}

static void put_sample(gil__fmt_t *f, const family_t *fam, const gil_snap_t *g, const th_series_t *t)
{
    const void *base = t != NULL ? (const void *)&t->st : (const void *)&g->st;
    const char *suffix = fam->type == M_COUNTER ? "_total" : "";
    switch (fam->kind) {
    case V_HIST:
        put_histogram(f, fam, g, t, t != NULL ? &t->hist[fam->off] : &g->hist[fam->off]);
        return;
    case V_INFO:
        gil__fmt_str(f, fam->name);
        put_label(f, "_info{", "gil", g->gil->name);
        put_label(f, ",", "policy", g->gil->policy->name);
        put_label(f, ",", "version", gil_version_string());
        gil__fmt_str(f, "} 1\n");
        return;
    default:
        break;
    }
    put_series(f, fam->name, suffix, g, t, NULL);
    switch (fam->kind) {
    case V_U64: put_count(f, u64_at(base, fam->off)); break;
    case V_NS: put_seconds(f, u64_at(base, fam->off)); break;
    case V_RATIO: {
        double r;
        memcpy(&r, (const char *)base + fam->off, sizeof r);
        gil__fmt_sig(f, r < 0.0 ? 0.0 : r > 1.0 ? 1.0 : r, 9);
        gil__fmt_char(f, '\n');
        break;
    }
    case V_START_TIME: put_seconds(f, g->start_time_ns); break;
    case V_INTERVAL:
        gil__fmt_scaled(f, g->interval_us, 6, true);
        gil__fmt_char(f, '\n');
        break;
    case V_THREADS: put_count(f, g->nstates); break;
    case V_THREAD_STATES: put_count(f, t->states); break;
    default: break;
    }
}

/* # HELP, # TYPE (and # UNIT in OpenMetrics).  The 0.0.4 format names a
 * counter family after its samples (_total) and has no info type. */
static void put_metadata(const writer_t *w, const family_t *fam)
{
    static const char *const types[] = {"gauge", "counter", "histogram", "info"};
    gil__fmt_t *f = w->f;
    const char *suffix = w->openmetrics           ? ""
                         : fam->type == M_COUNTER ? "_total"
                         : fam->type == M_INFO    ? "_info"
                                                  : "";
    const char *type = !w->openmetrics && fam->type == M_INFO ? "gauge" : types[fam->type];
    const char *lines[2][2] = {{"# HELP ", fam->help}, {"# TYPE ", type}};
    for (int i = 0; i < 2; i++) {
        gil__fmt_str(f, lines[i][0]);
        gil__fmt_str(f, fam->name);
        gil__fmt_str(f, suffix);
        gil__fmt_char(f, ' ');
        gil__fmt_str(f, lines[i][1]);
        gil__fmt_char(f, '\n');
    }
    size_t len = strlen(fam->name);
    if (w->openmetrics && len > 8 && strcmp(fam->name + len - 8, "_seconds") == 0) {
        gil__fmt_str(f, "# UNIT ");
        gil__fmt_str(f, fam->name);
        gil__fmt_str(f, " seconds\n");
    }
}

static void put_family(const writer_t *w, const family_t *fam, const gil_snap_t *snaps, size_t n)
{
    put_metadata(w, fam);
    for (size_t i = 0; i < n; i++) {
        if (!fam->per_thread)
            put_sample(w->f, fam, &snaps[i], NULL);
        else
            for (size_t j = 0; j < snaps[i].nth; j++)
                put_sample(w->f, fam, &snaps[i], &snaps[i].th[j]);
    }
}

static int write_exposition(const gil_t *const *gils, size_t n, FILE *out, bool openmetrics)
{
    if (out == NULL || (gils == NULL && n > 0))
        return GIL__MISUSE(GIL_EINVAL);
    for (size_t i = 0; i < n; i++)
        if (gils[i] == NULL)
            return GIL__MISUSE(GIL_EINVAL);
    gil_snap_t *snaps = calloc(n ? n : 1, sizeof *snaps);
    if (snaps == NULL)
        return GIL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = snap_gil(&snaps[i], gils[i]);
    if (rc == 0) {
        char buf[4096];
        gil__fmt_t f;
        gil__fmt_init_stream(&f, buf, sizeof buf, out);
        writer_t w = {.f = &f, .openmetrics = openmetrics};
        for (size_t k = 0; k < NFAMILIES; k++)
            put_family(&w, &families[k], snaps, n);
        if (openmetrics)
            gil__fmt_str(&f, "# EOF\n");
        bool written = gil__fmt_flush(&f);
        if (fflush(out) != 0 || ferror(out) || !written)
            rc = GIL_EIO;
    }
    for (size_t i = 0; i < n; i++)
        free(snaps[i].th);
    free(snaps);
    return rc;
}

int gil_stats_write_prometheus_many(const gil_t *const *gils, size_t n, FILE *out)
{
    return write_exposition(gils, n, out, false);
}

int gil_stats_write_prometheus(const gil_t *gil, FILE *out)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    return write_exposition(&gil, 1, out, false);
}

int gil_stats_write_openmetrics(const gil_t *const *gils, size_t n, FILE *out)
{
    return write_exposition(gils, n, out, true);
}
