/*
 * observe/prometheus.c - every counter, gauge and latency distribution in
 * the Prometheus text exposition format.
 *
 * Layer: observe (calls core and platform only).
 */
#include "observe/observe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Prometheus text exposition format 0.0.4                                  */
/*
 * A snapshot of every GIL and of its live states is taken first, then each
 * family is written once (# HELP, # TYPE, its samples for every GIL), as the
 * format requires: a family's samples must be contiguous.  Per-state series
 * are separate families (gil_thread_*), so that summing a family never
 * counts a value twice.
 */

typedef struct th_snap {
    char name[32];
    gil_tstate_stats_t st;
    uint64_t sums[2]; /* histogram sums, ns: wait, hold */
} th_snap_t;

typedef struct gil_snap {
    const gil_t *gil;
    gil_stats_t st;
    uint64_t sums[3]; /* histogram sums, ns: wait, hold, drop latency */
    unsigned long interval_us;
    th_snap_t *th;
    size_t nth, cap;
    bool oom;
} gil_snap_t;

static int snap_tstate(const gil_tstate_t *ts, void *arg)
{
    gil_snap_t *g = arg;
    if (g->nth == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        th_snap_t *th = realloc(g->th, cap * sizeof *th);
        if (th == NULL) {
            g->oom = true;
            return 1;
        }
        g->th = th;
        g->cap = cap;
    }
    th_snap_t *t = &g->th[g->nth];
    if (gil_tstate_stats_get(ts, &t->st) != 0)
        return 0; /* deleted under our feet */
    snprintf(t->name, sizeof t->name, "%s", gil_tstate_name(ts));
    t->sums[0] = atomic_load_explicit(&((gil_tstate_t *)ts)->wait_hist.sum, memory_order_relaxed);
    t->sums[1] = atomic_load_explicit(&((gil_tstate_t *)ts)->hold_hist.sum, memory_order_relaxed);
    g->nth++;
    return 0;
}

static int snap_gil(gil_snap_t *g, const gil_t *gil)
{
    memset(g, 0, sizeof *g);
    g->gil = gil;
    gil_stats_get(gil, &g->st);
    g->sums[0] = atomic_load_explicit(&((gil_t *)gil)->wait_hist.sum, memory_order_relaxed);
    g->sums[1] = atomic_load_explicit(&((gil_t *)gil)->hold_hist.sum, memory_order_relaxed);
    g->sums[2] = atomic_load_explicit(&((gil_t *)gil)->drop_hist.sum, memory_order_relaxed);
    g->interval_us = gil_get_switch_interval(gil);
    gil_foreach_tstate((gil_t *)gil, snap_tstate, g);
    return g->oom ? GIL_ENOMEM : 0;
}

/* A label value: \ " and newline escaped, invalid UTF-8 replaced. */
static void prom_label_value(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = gil__utf8_seq_len(p);
        if (n == 0) {
            fputs("\xef\xbf\xbd", f); /* U+FFFD */
            p++;
        } else if (*p == '\\') {
            fputs("\\\\", f), p++;
        } else if (*p == '"') {
            fputs("\\\"", f), p++;
        } else if (*p == '\n') {
            fputs("\\n", f), p++;
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
}

/* Write `name{gil="..."[,thread="...",tstate="N"][,extra]} `. */
static void prom_series(FILE *f, const char *name, const char *suffix, const gil_snap_t *g, const th_snap_t *t,
                        const char *extra_key, const char *extra_value)
{
    fprintf(f, "%s%s{gil=\"", name, suffix);
    prom_label_value(f, g->gil->name);
    fputc('"', f);
    if (t != NULL) {
        fputs(",thread=\"", f);
        prom_label_value(f, t->name);
        fprintf(f, "\",tstate=\"%llu\"", (unsigned long long)t->st.id);
    }
    if (extra_key != NULL) {
        fprintf(f, ",%s=\"", extra_key);
        prom_label_value(f, extra_value);
        fputc('"', f);
    }
    fputs("} ", f);
}

static void prom_double(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN\n", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf\n" : "-Inf\n", f);
    else
        fprintf(f, "%.9g\n", v);
}

typedef enum { V_U64, V_NS, V_DOUBLE, V_WINDOWS, V_SUMMARY, V_SPECIAL } vkind_t;

typedef struct family {
    const char *name;
    const char *type; /* counter, gauge, summary */
    const char *help;
    bool per_thread;  /* values from gil_tstate_stats_t, else gil_stats_t */
    vkind_t kind;
    size_t off;       /* of the value (V_WINDOWS: of 4 consecutive doubles;
                         V_SUMMARY: of a gil_hist_summary_t) */
    int sum;          /* V_SUMMARY: index into the snapshot's sums */
} family_t;

#define G(f) offsetof(gil_stats_t, f)
#define T(f) offsetof(gil_tstate_stats_t, f)

_Static_assert(offsetof(gil_stats_t, held_ratio_15s) == offsetof(gil_stats_t, held_ratio) + 3 * sizeof(double),
               "held figures must be consecutive");
_Static_assert(offsetof(gil_stats_t, wait_ratio_15s) == offsetof(gil_stats_t, wait_ratio) + 3 * sizeof(double),
               "wait figures must be consecutive");

static const family_t families[] = {
    {"gil_info", "gauge", "Constant 1, labelled with the GIL's policy and the libgil version.", false,
     V_SPECIAL, 0, 0},
    {"gil_uptime_seconds", "gauge", "Time since the GIL was created.", false, V_NS, G(uptime_ns), 0},
    {"gil_switch_interval_seconds", "gauge", "The switch interval.", false, V_SPECIAL, 0, 0},
    {"gil_threads", "gauge", "Live thread states.", false, V_SPECIAL, 0, 0},
    {"gil_waiting_threads", "gauge", "Threads waiting for the GIL now.", false, V_U64, G(waiting_now), 0},
    {"gil_acquisitions_total", "counter", "Successful acquisitions.", false, V_U64, G(acquisitions), 0},
    {"gil_contended_acquisitions_total", "counter", "Acquisitions that had to wait.", false, V_U64,
     G(contended), 0},
    {"gil_drop_requests_total", "counter", "Drop requests made by waiters.", false, V_U64, G(drop_requests), 0},
    {"gil_drop_requests_withheld_total", "counter",
     "Timed-out waits that made no drop request because the holder changed meanwhile.", false, V_U64,
     G(requests_withheld), 0},
    {"gil_forced_switches_total", "counter", "Releases caused by a drop request.", false, V_U64,
     G(forced_switches), 0},
    {"gil_switches_total", "counter", "Changes of the holder.", false, V_U64, G(switches), 0},
    {"gil_wait_seconds_total", "counter", "Total time waited by contended acquisitions.", false, V_NS,
     G(wait_ns), 0},
    {"gil_hold_seconds_total", "counter", "Total time of timed holds (all holds under GIL_TIMING_ALWAYS).",
     false, V_NS, G(hold_ns), 0},
    {"gil_timed_holds_total", "counter", "Holds that were timed.", false, V_U64, G(timed_holds), 0},
    {"gil_pending_calls_run_total", "counter", "Pending calls run.", false, V_U64, G(pending_calls_run), 0},
    {"gil_pending_calls_rejected_total", "counter", "Pending calls refused because the queue was full.", false,
     V_U64, G(pending_calls_rejected), 0},
    {"gil_watchdog_reports_total", "counter", "Long holds reported by the watchdog.", false, V_U64,
     G(watchdog_reports), 0},
    {"gil_held_ratio", "gauge",
     "Fraction of time the GIL was held in timed holds: since start and 1/5/15 s moving averages.", false,
     V_WINDOWS, G(held_ratio), 0},
    {"gil_wait_ratio", "gauge",
     "Waiting threads on average (wait time per unit of time): since start and 1/5/15 s moving averages.",
     false, V_WINDOWS, G(wait_ratio), 0},
    {"gil_switches_per_second", "gauge", "Holder changes per second, 1 s moving average.", false, V_DOUBLE,
     G(switches_per_sec), 0},
    {"gil_wait_duration_seconds", "summary", "Wait of contended acquisitions (since start or reset).", false,
     V_SUMMARY, G(wait), 0},
    {"gil_wait_duration_max_seconds", "gauge", "Longest wait (since start or reset).", false, V_NS,
     G(wait.max_ns), 0},
    {"gil_hold_duration_seconds", "summary", "Timed holds (since start or reset).", false, V_SUMMARY, G(hold),
     1},
    {"gil_hold_duration_max_seconds", "gauge", "Longest timed hold (since start or reset).", false, V_NS,
     G(hold.max_ns), 0},
    {"gil_drop_latency_seconds", "summary", "From a drop request to the release it caused (since start or reset).",
     false, V_SUMMARY, G(drop_latency), 2},
    {"gil_drop_latency_max_seconds", "gauge", "Longest drop latency (since start or reset).", false, V_NS,
     G(drop_latency.max_ns), 0},

    {"gil_thread_acquisitions_total", "counter", "Successful acquisitions, per thread state.", true, V_U64,
     T(acquisitions), 0},
    {"gil_thread_contended_acquisitions_total", "counter", "Acquisitions that had to wait, per thread state.",
     true, V_U64, T(contended), 0},
    {"gil_thread_drop_requests_total", "counter", "Drop requests made while waiting, per thread state.", true,
     V_U64, T(drop_requests), 0},
    {"gil_thread_forced_switches_total", "counter", "Releases caused by a drop request, per thread state.", true,
     V_U64, T(forced_switches), 0},
    {"gil_thread_wait_seconds_total", "counter", "Total time waited, per thread state.", true, V_NS, T(wait_ns),
     0},
    {"gil_thread_hold_seconds_total", "counter", "Total time of timed holds, per thread state.", true, V_NS,
     T(hold_ns), 0},
    {"gil_thread_priority_boosts_total", "counter", "Waits served with I/O priority (priority policy).", true,
     V_U64, T(boosts), 0},
    {"gil_thread_priority_demotions_total", "counter", "I/O priority lost to the abuse guard (priority policy).",
     true, V_U64, T(demotions), 0},
    {"gil_thread_held_ratio", "gauge", "Fraction of its lifetime the thread state held the GIL (timed holds).",
     true, V_DOUBLE, T(held_ratio), 0},
    {"gil_thread_wait_ratio", "gauge", "Fraction of its lifetime the thread state waited for the GIL.", true,
     V_DOUBLE, T(wait_ratio), 0},
    {"gil_thread_wait_duration_seconds", "summary", "Wait of contended acquisitions, per thread state.", true,
     V_SUMMARY, T(wait), 0},
    {"gil_thread_hold_duration_seconds", "summary", "Timed holds, per thread state.", true, V_SUMMARY, T(hold),
     1},
};

static void prom_special(FILE *f, const family_t *fam, const gil_snap_t *g)
{
    if (strcmp(fam->name, "gil_info") == 0) {
        fprintf(f, "%s{gil=\"", fam->name);
        prom_label_value(f, g->gil->name);
        fputs("\",policy=\"", f);
        prom_label_value(f, g->gil->policy->name);
        fputs("\",version=\"", f);
        prom_label_value(f, gil_version_string());
        fputs("\"} 1\n", f);
    } else if (strcmp(fam->name, "gil_switch_interval_seconds") == 0) {
        prom_series(f, fam->name, "", g, NULL, NULL, NULL);
        prom_double(f, (double)g->interval_us / 1e6);
    } else { /* gil_threads */
        prom_series(f, fam->name, "", g, NULL, NULL, NULL);
        fprintf(f, "%zu\n", g->nth);
    }
}

static void prom_summary(FILE *f, const family_t *fam, const gil_snap_t *g, const th_snap_t *t,
                         const gil_hist_summary_t *h, uint64_t sum_ns)
{
    /* The format's convention for a summary without observations is NaN. */
    const struct { const char *q; uint64_t v; } qs[] = {{"0.5", h->p50_ns}, {"0.9", h->p90_ns}, {"0.99", h->p99_ns}};
    for (size_t i = 0; i < 3; i++) {
        prom_series(f, fam->name, "", g, t, "quantile", qs[i].q);
        prom_double(f, h->count != 0 ? (double)qs[i].v / 1e9 : NAN);
    }
    prom_series(f, fam->name, "_sum", g, t, NULL, NULL);
    prom_double(f, (double)sum_ns / 1e9);
    prom_series(f, fam->name, "_count", g, t, NULL, NULL);
    fprintf(f, "%llu\n", (unsigned long long)h->count);
}

static void prom_sample(FILE *f, const family_t *fam, const gil_snap_t *g, const th_snap_t *t)
{
    const char *base = t != NULL ? (const char *)&t->st : (const char *)&g->st;
    const void *p = base + fam->off;
    uint64_t u;
    double d;
    switch (fam->kind) {
    case V_U64:
        memcpy(&u, p, sizeof u);
        prom_series(f, fam->name, "", g, t, NULL, NULL);
        fprintf(f, "%llu\n", (unsigned long long)u);
        break;
    case V_NS:
        memcpy(&u, p, sizeof u);
        prom_series(f, fam->name, "", g, t, NULL, NULL);
        prom_double(f, (double)u / 1e9);
        break;
    case V_DOUBLE:
        memcpy(&d, p, sizeof d);
        prom_series(f, fam->name, "", g, t, NULL, NULL);
        prom_double(f, d);
        break;
    case V_WINDOWS: {
        static const char *const windows[4] = {"start", "1s", "5s", "15s"};
        for (int i = 0; i < 4; i++) {
            memcpy(&d, (const char *)p + i * sizeof(double), sizeof d);
            prom_series(f, fam->name, "", g, t, "window", windows[i]);
            prom_double(f, d);
        }
        break;
    }
    case V_SUMMARY: {
        gil_hist_summary_t h;
        memcpy(&h, p, sizeof h);
        prom_summary(f, fam, g, t, &h, t != NULL ? t->sums[fam->sum] : g->sums[fam->sum]);
        break;
    }
    case V_SPECIAL:
        prom_special(f, fam, g);
        break;
    }
}

static void prom_family(FILE *f, const family_t *fam, const gil_snap_t *snaps, size_t n)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
    for (size_t i = 0; i < n; i++) {
        if (!fam->per_thread)
            prom_sample(f, fam, &snaps[i], NULL);
        else
            for (size_t j = 0; j < snaps[i].nth; j++)
                prom_sample(f, fam, &snaps[i], &snaps[i].th[j]);
    }
}

int gil_stats_write_prometheus_many(const gil_t *const *gils, size_t n, FILE *out)
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
        for (size_t k = 0; k < sizeof families / sizeof families[0]; k++)
            prom_family(out, &families[k], snaps, n);
        if (fflush(out) != 0 || ferror(out))
            rc = GIL_EIO;
    }
    for (size_t i = 0; i < n; i++)
        free(snaps[i].th);
    free(snaps);
    return rc;
}

int gil_stats_write_prometheus(const gil_t *gil, FILE *out)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    return gil_stats_write_prometheus_many(&gil, 1, out);
}
