/*
 * metrics.c - load figures (held / wait fractions and their moving
 * averages), the one-line summary and the Prometheus exposition.
 *
 * Load figures come from counters the core keeps anyway: the timed hold
 * time (plus the hold in progress, gil->hold_t0), the total wait time of
 * contended acquisitions, and switch_number.  Nothing here runs on the
 * acquire/release fast path.  See gil.h ("Load figures") for what they mean
 * in each timing mode.
 *
 * Moving averages.  An exponential moving average with time constant tau,
 * advanced over dt at a constant rate r, becomes
 *     avg' = avg * e^(-dt/tau) + r * (1 - e^(-dt/tau)),
 * which is exact for any dt, so the averages need no periodic tick: they are
 * advanced whenever a figure is read, and by waiting threads (which wake up
 * every switch interval anyway) at most every GIL__LOAD_PERIOD_NS, so that
 * a contended GIL is sampled finely even if nobody reads the figures often.
 * The rate over [t, now] is the growth of the cumulative counter divided by
 * the elapsed time.  Cumulative values are kept non-decreasing: the racy
 * sum "completed holds + hold in progress" can transiently over-count by
 * one hold when it is read just as the hold ends.
 *
 * The state is updated under a try-lock: a thread that finds it taken
 * skips the update (the holder of the lock is doing it).  The lock word
 * carries the process's fork epoch, so that a lock held by a thread that
 * does not exist in a forked child can be taken over there.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t window_ns[GIL__LOAD_WINDOWS] = {1000000000u, 5000000000u, 15000000000u};

/* ------------------------------------------------------------------------ */
/* Fork epoch                                                               */

static _Atomic uint64_t fork_epoch;
static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;

static void epoch_after_fork_child(void)
{
    atomic_fetch_add_explicit(&fork_epoch, 1, memory_order_relaxed);
}

static void epoch_install(void)
{
    if (pthread_atfork(NULL, NULL, epoch_after_fork_child) != 0)
        gil__fatal("pthread_atfork failed");
}

static bool load_trylock(gil__load_t *l)
{
    uint64_t epoch = atomic_load_explicit(&fork_epoch, memory_order_relaxed);
    uint64_t mine = (epoch << 1) | 1u, cur = 0;
    if (atomic_compare_exchange_strong_explicit(&l->lock, &cur, mine, memory_order_acquire,
                                                memory_order_relaxed))
        return true;
    if ((cur >> 1) == epoch)
        return false; /* another thread of this process is updating */
    /* Taken before a fork by a thread that does not exist here. */
    return atomic_compare_exchange_strong_explicit(&l->lock, &cur, mine, memory_order_acquire,
                                                   memory_order_relaxed);
}

static void load_unlock(gil__load_t *l)
{
    atomic_store_explicit(&l->lock, 0, memory_order_release);
}

/* ------------------------------------------------------------------------ */
/* Moving averages                                                          */

static double dbl_load(_Atomic uint64_t *bits)
{
    uint64_t b = atomic_load_explicit(bits, memory_order_relaxed);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void dbl_store(_Atomic uint64_t *bits, double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    atomic_store_explicit(bits, b, memory_order_relaxed);
}

/* e^-x for x >= 0, to ~1e-12 relative: e^-x = 2^-k e^-r with r in
 * [0, ln 2) and a Taylor series for e^-r.  Our own, so that the library
 * does not need libm (its link lines and gil.pc do not name it). */
static double exp_neg(double x)
{
    static const double ln2 = 0.69314718055994530942;
    if (!(x > 0.0))
        return 1.0;
    if (x > 745.0)
        return 0.0;
    int k = (int)(x / ln2);
    double r = x - k * ln2, term = 1.0, sum = 1.0;
    for (int i = 1; i <= 16; i++) {
        term *= -r / i;
        sum += term;
    }
    for (; k > 0; k--)
        sum *= 0.5;
    return sum;
}

double gil__ema_step(double avg, double rate, uint64_t dt_ns, uint64_t tau_ns)
{
    double decay = exp_neg((double)dt_ns / (double)tau_ns);
    return avg * decay + rate * (1.0 - decay);
}

void gil__load_init(gil_t *gil, uint64_t now)
{
    pthread_once(&epoch_once, epoch_install);
    gil__load_t *l = &gil->load;
    atomic_init(&l->lock, 0);
    atomic_init(&l->t, now);
    l->held = l->wait = l->switches = 0;
    for (int i = 0; i < GIL__LOAD_WINDOWS; i++) {
        dbl_store(&l->held_ema[i], 0.0);
        dbl_store(&l->wait_ema[i], 0.0);
    }
    dbl_store(&l->switch_rate, 0.0);
}

#define LOAD(g, field) atomic_load_explicit(&((gil_t *)(g))->field, memory_order_relaxed)

uint64_t gil__held_total(const gil_t *gil, uint64_t now)
{
    uint64_t held = LOAD(gil, hold_ns);
    uint64_t t0 = LOAD(gil, hold_t0);
    /* hold_t0 may be a waiter's stamp on a GIL that was just released: count
     * the hold in progress only while someone holds it. */
    if (t0 != 0 && now > t0 && gil__word_holder(LOAD(gil, word)) != NULL)
        held += now - t0;
    return held;
}

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

void gil__load_update(gil_t *gil, uint64_t now, bool force)
{
    gil__load_t *l = &gil->load;
    uint64_t last = atomic_load_explicit(&l->t, memory_order_relaxed);
    if (now <= last || (!force && now - last < GIL__LOAD_PERIOD_NS))
        return;
    if (!load_trylock(l))
        return;
    last = atomic_load_explicit(&l->t, memory_order_relaxed);
    if (now > last) {
        uint64_t held = max_u64(l->held, gil__held_total(gil, now));
        uint64_t wait = max_u64(l->wait, LOAD(gil, wait_ns));
        uint64_t switches = max_u64(l->switches, LOAD(gil, switch_number));
        uint64_t dt = now - last;
        double r_held = (double)(held - l->held) / (double)dt;
        double r_wait = (double)(wait - l->wait) / (double)dt;
        double r_switch = (double)(switches - l->switches) * 1e9 / (double)dt;
        if (r_held > 1.0)
            r_held = 1.0; /* at most one holder: the excess is a read race */
        for (int i = 0; i < GIL__LOAD_WINDOWS; i++) {
            dbl_store(&l->held_ema[i], gil__ema_step(dbl_load(&l->held_ema[i]), r_held, dt, window_ns[i]));
            dbl_store(&l->wait_ema[i], gil__ema_step(dbl_load(&l->wait_ema[i]), r_wait, dt, window_ns[i]));
        }
        dbl_store(&l->switch_rate, gil__ema_step(dbl_load(&l->switch_rate), r_switch, dt, window_ns[0]));
        l->held = held;
        l->wait = wait;
        l->switches = switches;
        atomic_store_explicit(&l->t, now, memory_order_relaxed);
    }
    load_unlock(l);
}

static double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }

void gil__load_fill(const gil_t *cgil, gil_stats_t *out)
{
    gil_t *gil = (gil_t *)cgil; /* the averages are a cache, advanced by readers */
    uint64_t now = gil__now_ns();
    gil__load_update(gil, now, true);
    uint64_t up = now > gil->created_ns ? now - gil->created_ns : 1;
    out->uptime_ns = up;
    out->held_ratio = clamp01((double)gil__held_total(gil, now) / (double)up);
    out->wait_ratio = (double)LOAD(gil, wait_ns) / (double)up;
    out->held_ratio_1s = dbl_load(&gil->load.held_ema[0]);
    out->held_ratio_5s = dbl_load(&gil->load.held_ema[1]);
    out->held_ratio_15s = dbl_load(&gil->load.held_ema[2]);
    out->wait_ratio_1s = dbl_load(&gil->load.wait_ema[0]);
    out->wait_ratio_5s = dbl_load(&gil->load.wait_ema[1]);
    out->wait_ratio_15s = dbl_load(&gil->load.wait_ema[2]);
    out->switches_per_sec = dbl_load(&gil->load.switch_rate);
    out->watchdog_reports = LOAD(gil, wd_reports);
}

void gil__load_fill_tstate(const gil_tstate_t *ts, gil_tstate_stats_t *out)
{
    const gil_t *gil = ts->gil;
    uint64_t now = gil__now_ns();
    uint64_t up = now > ts->created_ns ? now - ts->created_ns : 1;
    uint64_t held = out->hold_ns;
    uint64_t t0 = LOAD(gil, hold_t0);
    if (gil__word_holder(LOAD(gil, word)) == ts && t0 != 0 && now > t0)
        held += now - t0;
    out->id = gil_tstate_id(ts);
    out->held_ratio = clamp01((double)held / (double)up);
    out->wait_ratio = clamp01((double)out->wait_ns / (double)up);
}

/* ------------------------------------------------------------------------ */
/* One line                                                                 */

/* A duration with 3 significant digits and a unit: 850ns, 12.3us, 5.07ms,
 * 1.2s. */
static void fmt_dur(char *buf, size_t len, uint64_t ns)
{
    static const struct { const char *unit; double div; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
    };
    size_t u = 0;
    /* Move up while the value would print as 1000 or more. */
    while (u + 1 < sizeof units / sizeof units[0] && (double)ns / units[u].div >= 999.5)
        u++;
    snprintf(buf, len, "%.3g%s", (double)ns / units[u].div, units[u].unit);
}

int gil_stats_format(const gil_t *gil, char *buf, size_t len)
{
    if (gil == NULL || (buf == NULL && len > 0))
        return GIL__MISUSE(GIL_EINVAL);
    gil_stats_t st;
    gil_stats_get(gil, &st);
    char wp50[16], wp99[16], hp99[16], dp99[16];
    fmt_dur(wp50, sizeof wp50, st.wait.p50_ns);
    fmt_dur(wp99, sizeof wp99, st.wait.p99_ns);
    fmt_dur(hp99, sizeof hp99, st.hold.p99_ns);
    fmt_dur(dp99, sizeof dp99, st.drop_latency.p99_ns);
    int n = snprintf(buf, len,
                     "gil \"%s\" held %.2f (1s %.2f, 5s %.2f, 15s %.2f) wait %.2f (1s %.2f, 5s %.2f, 15s %.2f) "
                     "waiting %llu switches/s %.0f wait p50 %s p99 %s hold p99 %s drop p99 %s",
                     gil->name, st.held_ratio, st.held_ratio_1s, st.held_ratio_5s, st.held_ratio_15s, st.wait_ratio,
                     st.wait_ratio_1s, st.wait_ratio_5s, st.wait_ratio_15s, (unsigned long long)st.waiting_now, st.switches_per_sec, wp50, wp99, hp99, dp99);
    return n >= 0 ? n : GIL_EINVAL;
}

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
