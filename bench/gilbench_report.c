/*
 * gilbench_report.c - tables on stdout, JSON, CSV and gnuplot SVG charts.
 *
 * One list of metrics per step (for_each_metric) feeds both JSON and CSV, so
 * the two files always carry the same numbers.
 */
#include "gilbench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- number formatting ------------------------------------------------------ */

/* About three significant digits; "-" for unknown (negative) values. */
static const char *fmt(char *buf, size_t size, double v)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else if (v >= 100)
        snprintf(buf, size, "%.0f", v);
    else if (v >= 10)
        snprintf(buf, size, "%.1f", v);
    else
        snprintf(buf, size, "%.2f", v);
    return buf;
}

#define F(v) fmt((char[24]){0}, 24, (v))

static const char *fmt_pct(char *buf, size_t size, double fraction)
{
    if (fraction < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f%%", fraction * 100);
    return buf;
}

#define PCT(v) fmt_pct((char[24]){0}, 24, (v))

static const char *fmt_slowdown(char *buf, size_t size, const gb_step_t *st)
{
    if (!st->measured)
        snprintf(buf, size, "failed");
    else if (st->io_slowdown < 0)
        snprintf(buf, size, "no rt");
    else
        snprintf(buf, size, "%sx", F(st->io_slowdown));
    return buf;
}

#define SLOW(st) fmt_slowdown((char[24]){0}, 24, (st))

static const char *label(const gb_step_t *st, char *buf, size_t size)
{
    gb_step_label(st, buf, size);
    return buf;
}

#define LABEL(st) label((st), (char[48]){0}, 48)

static int is_io_kind(gb_kind_t k) { return k == GB_K_IO_ALONE || k == GB_K_CONVOY; }
static int is_cpu_kind(gb_kind_t k) { return k == GB_K_CPU_ALONE || k == GB_K_CONVOY; }
static int is_workers_kind(gb_kind_t k)
{
    return k == GB_K_WORKERS_PLAIN || k == GB_K_WORKERS_SHARDED;
}

/* ---- tables ----------------------------------------------------------------- */

static void convoy_header(void)
{
    printf("  %-16s %9s %5s %10s %9s %10s %10s %10s %9s\n", "policy/runtime", "interval",
           "CPU", "I/O rt/s", "slowdown", "p50 us", "p99 us", "max us", "CPU kept");
}

static void convoy_row(const gb_step_t *st)
{
    char ivbuf[24];
    snprintf(ivbuf, sizeof ivbuf, "%luus", st->interval_us);
    if (st->kind == GB_K_CPU_ALONE) {
        printf("  %-16s %9s %5u %10s %9s %10s %10s %10s %9s   (CPU alone: %.3g/s)\n",
               LABEL(st), ivbuf, st->threads, "-", "-", "-", "-", "-", "100%", st->cpu_rate);
        return;
    }
    if (!st->measured) {
        printf("  %-16s %9s %5u %10s\n", LABEL(st), ivbuf, st->threads, "failed");
        return;
    }
    printf("  %-16s %9s %5u %10.0f %9s %10s %10s %10s %9s\n", LABEL(st), ivbuf,
           st->kind == GB_K_IO_ALONE ? 0 : st->threads, st->io_rate, SLOW(st),
           F(st->io_count ? st->io_lat.p50_us : -1), F(st->io_count ? st->io_lat.p99_us : -1),
           F(st->io_count ? st->io_lat.max_us : -1),
           st->kind == GB_K_IO_ALONE ? "-" : PCT(st->cpu_fraction));
}

static void print_convoy_rows(const gb_run_t *run, gb_scenario_t sc, int with_cpu_alone)
{
    convoy_header();
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->scenario != sc || !(is_io_kind(st->kind) || is_cpu_kind(st->kind)))
            continue;
        if (st->kind == GB_K_CPU_ALONE && !with_cpu_alone)
            continue;
        convoy_row(st);
    }
}

static void print_convoy(const gb_run_t *run)
{
    printf("\n== convoy: an I/O thread (1-byte round trips with an echo process) "
           "beside CPU-bound threads\n");
    print_convoy_rows(run, GB_SC_CONVOY, 0);
    printf("  slowdown = I/O rate alone / I/O rate beside the CPU threads; p50/p99/max = "
           "round-trip latency;\n  CPU kept = the CPU threads' work rate beside the I/O "
           "thread / their rate alone.\n");
}

static void print_countdown(const gb_run_t *run)
{
    printf("\n== countdown: the same CPU work done by 1 thread, then split over several\n");
    printf("  %-16s %9s %7s %10s %9s %10s %10s\n", "policy", "interval", "threads",
           "elapsed s", "ratio", "switches", "drop req");
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->scenario != GB_SC_COUNTDOWN)
            continue;
        printf("  %-16s %7luus %7u %10.3f %8sx %10llu %10llu\n", LABEL(st), st->interval_us,
               st->threads, st->elapsed_s, F(st->ratio), (unsigned long long)st->gil.switches,
               (unsigned long long)st->gil.drop_requests);
    }
    printf("  ratio = elapsed / elapsed with 1 thread (1.00 = threads cost nothing).\n");
}

static const gb_step_t *find_sibling(const gb_run_t *run, const gb_step_t *st, gb_kind_t kind,
                                     unsigned threads)
{
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *s = &run->steps[i];
        if (s->scenario == st->scenario && s->runtime == st->runtime &&
            s->policy == st->policy && s->kind == kind && s->threads == threads &&
            s->interval_us == st->interval_us)
            return s;
    }
    return NULL;
}

static void print_interval(const gb_run_t *run)
{
    printf("\n== interval: I/O latency against CPU throughput across switch intervals\n");
    printf("  %-16s %9s %10s %9s %10s %10s %9s %13s\n", "policy", "interval", "I/O rt/s",
           "slowdown", "p50 us", "p99 us", "CPU kept", "countdown 2t");
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->scenario != GB_SC_INTERVAL || st->kind != GB_K_CONVOY)
            continue;
        const gb_step_t *cd = find_sibling(run, st, GB_K_COUNTDOWN, 2);
        printf("  %-16s %7luus %10.0f %9s %10s %10s %9s %12sx\n", LABEL(st), st->interval_us,
               st->io_rate, SLOW(st), F(st->io_count ? st->io_lat.p50_us : -1),
               F(st->io_count ? st->io_lat.p99_us : -1), PCT(st->cpu_fraction),
               F(cd ? cd->ratio : -1));
    }
    printf("  Convoy with 1 CPU thread; countdown 2t = 2-thread elapsed / 1-thread elapsed.\n"
           "  Baselines (I/O alone, CPU alone, 1-thread countdown) measured once per policy.\n");
}

static void print_workers(const gb_run_t *run)
{
    printf("\n== workers: 4 queue workers, short (50 us), long (20 ms) and C-extension "
           "(5 ms, no check) tasks\n");
    printf("  %-16s %9s %-22s %6s %8s %9s %9s %9s %9s\n", "policy", "interval", "setup",
           "tasks", "tasks/s", "short p50", "short p99", "short max", "long p50");
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->scenario != GB_SC_WORKERS)
            continue;
        printf("  %-16s %7luus %-22s %6llu %8.0f %7sus %7sus %7sus %7sms\n", LABEL(st),
               st->interval_us,
               st->kind == GB_K_WORKERS_PLAIN ? "one GIL, 4 workers" : "two GILs, 2+2 workers",
               (unsigned long long)st->tasks, st->tasks_per_s, F(st->short_lat.p50_us),
               F(st->short_lat.p99_us), F(st->short_lat.max_us), F(st->long_lat.p50_us / 1e3));
    }
    printf("  Latency = enqueue to done.  Offered load: ~60%% of one core, the same "
           "schedule for every row.\n");
}

static void print_cpython(const gb_run_t *run)
{
    printf("\n== cpython: the convoy workload in real interpreters, beside the model\n");
    for (unsigned i = 0; i < run->nskipped; i++)
        if (run->skipped[i].scenario == GB_SC_CPYTHON)
            printf("  skipped %s: %s\n", run->skipped[i].runtime == GB_RT_CPYTHON ? "CPython"
                                                                                  : "Ruby",
                   run->skipped[i].reason);
    if (run->ncmp == 0)
        return;
    print_convoy_rows(run, GB_SC_CPYTHON, 0);
    printf("  CPU kept for an interpreter = loop iterations/s beside the I/O thread / alone.\n");
    printf("\n  %-10s %5s %15s %17s %14s\n", "runtime", "CPU", "model slowdown",
           "runtime slowdown", "model/runtime");
    for (unsigned i = 0; i < run->ncmp; i++) {
        const gb_comparison_t *c = &run->cmp[i];
        double r = c->model_slowdown > 0 && c->runtime_slowdown > 0
                       ? c->model_slowdown / c->runtime_slowdown
                       : -1;
        printf("  %-10s %5u %14sx %16sx %14s\n", c->runtime == GB_RT_CPYTHON ? "CPython" : "Ruby",
               c->threads, F(c->model_slowdown), F(c->runtime_slowdown), F(r));
    }
    printf("  model = libgil, cpython policy, the same switch interval as CPython; Ruby 3.1 "
           "has a fixed 100 ms quantum.\n");
}

void gb_print_scenario(const gb_run_t *run, gb_scenario_t sc)
{
    switch (sc) {
    case GB_SC_CONVOY: print_convoy(run); break;
    case GB_SC_COUNTDOWN: print_countdown(run); break;
    case GB_SC_INTERVAL: print_interval(run); break;
    case GB_SC_WORKERS: print_workers(run); break;
    default: print_cpython(run); break;
    }
    fflush(stdout);
}

/* The one-thread countdown does work calibrated to take --seconds on an idle
 * CPU.  Taking much longer means other processes had the CPUs during the
 * run, and every ratio of it is suspect: say so next to the goals. */
static void print_busy_note(const gb_run_t *run)
{
    double worst = 0;
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->kind == GB_K_COUNTDOWN && st->threads == 1 && st->measured &&
            st->elapsed_s / run->opt->seconds > worst)
            worst = st->elapsed_s / run->opt->seconds;
    }
    if (worst > 1.15)
        printf("note: a 1-thread countdown took %.2fx its calibrated time: other processes were "
               "using the CPUs during this run; rerun on a quiet machine before trusting its "
               "ratios.\n", worst);
}

void gb_print_goals(const gb_run_t *run)
{
    printf("\n");
    print_busy_note(run);
    for (unsigned i = 0; i < run->ngoals; i++) {
        const gb_goal_t *g = &run->goals[i];
        if (g->measured < 0)
            printf("goal: %s not measured: %s (target %s)\n", g->name, g->why_not, g->target);
        else
            printf("goal: %s measured %.2f (target %s) %s\n", g->name, g->measured, g->target,
                   g->met ? "MET" : "MISSED");
    }
    fflush(stdout);
}

/* ---- metrics: the one list behind JSON and CSV --------------------------------- */

typedef void (*metric_fn)(void *ctx, const char *name, double value, int known);

static void lat_metrics(const char *prefix, const gb_lat_t *l, metric_fn fn, void *ctx)
{
    char name[48];
    int known = l->count > 0;
    snprintf(name, sizeof name, "%s_count", prefix);
    fn(ctx, name, (double)l->count, 1);
    snprintf(name, sizeof name, "%s_p50_us", prefix);
    fn(ctx, name, l->p50_us, known);
    snprintf(name, sizeof name, "%s_p99_us", prefix);
    fn(ctx, name, l->p99_us, known);
    snprintf(name, sizeof name, "%s_max_us", prefix);
    fn(ctx, name, l->max_us, known);
}

static void gil_metrics(const gil_stats_t *g, metric_fn fn, void *ctx)
{
    fn(ctx, "gil_acquisitions", (double)g->acquisitions, 1);
    fn(ctx, "gil_contended", (double)g->contended, 1);
    fn(ctx, "gil_switches", (double)g->switches, 1);
    fn(ctx, "gil_drop_requests", (double)g->drop_requests, 1);
    fn(ctx, "gil_forced_switches", (double)g->forced_switches, 1);
    fn(ctx, "gil_wait_p50_us", (double)g->wait.p50_ns / 1e3, g->wait.count > 0);
    fn(ctx, "gil_wait_p99_us", (double)g->wait.p99_ns / 1e3, g->wait.count > 0);
}

static void for_each_metric(const gb_step_t *st, metric_fn fn, void *ctx)
{
    if (!st->measured)
        return;
    fn(ctx, "seconds", st->seconds, 1);
    if (is_io_kind(st->kind)) {
        fn(ctx, "io_rate", st->io_rate, 1);
        lat_metrics("io", &st->io_lat, fn, ctx);
        fn(ctx, "io_slowdown", st->io_slowdown, st->io_slowdown >= 0);
    }
    if (is_cpu_kind(st->kind))
        fn(ctx, "cpu_rate", st->cpu_rate, 1);
    if (st->kind == GB_K_CONVOY)
        fn(ctx, "cpu_fraction", st->cpu_fraction, st->cpu_fraction >= 0);
    if (st->kind == GB_K_COUNTDOWN) {
        fn(ctx, "elapsed_s", st->elapsed_s, 1);
        fn(ctx, "ratio", st->ratio, st->ratio >= 0);
    }
    if (is_workers_kind(st->kind)) {
        fn(ctx, "tasks", (double)st->tasks, 1);
        fn(ctx, "offered_per_s", st->offered_per_s, 1);
        fn(ctx, "tasks_per_s", st->tasks_per_s, 1);
        lat_metrics("short", &st->short_lat, fn, ctx);
        lat_metrics("long", &st->long_lat, fn, ctx);
    }
    if (st->runtime == GB_RT_LIBGIL)
        gil_metrics(&st->gil, fn, ctx);
}

/* ---- JSON ------------------------------------------------------------------- */

typedef struct json_ctx {
    FILE *f;
} json_ctx_t;

static void json_metric(void *ctx, const char *name, double value, int known)
{
    FILE *f = ((json_ctx_t *)ctx)->f;
    if (known)
        fprintf(f, ", \"%s\": %.6g", name, value);
    else
        fprintf(f, ", \"%s\": null", name);
}

/* Our strings are identifiers and version numbers; escape anyway. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_step(FILE *f, const gb_step_t *st)
{
    json_ctx_t ctx = {f};
    fprintf(f, "    {\"scenario\": \"%s\", \"runtime\": \"%s\", \"policy\": ",
            gb_scenario_name(st->scenario), gb_runtime_name(st->runtime));
    if (st->runtime == GB_RT_LIBGIL)
        json_string(f, gil_policy_name(st->policy));
    else
        fputs("null", f);
    fprintf(f, ", \"version\": ");
    json_string(f, st->runtime == GB_RT_LIBGIL ? gil_version_string() : st->version);
    fprintf(f, ", \"kind\": \"%s\", \"threads\": %u, \"interval_us\": %lu, \"measured\": %s",
            gb_kind_name(st->kind), st->threads, st->interval_us,
            st->measured ? "true" : "false");
    for_each_metric(st, json_metric, &ctx);
    fputc('}', f);
}

static void json_null_or(FILE *f, double v)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

int gb_write_json(const gb_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"tool\": \"gilbench\", \"libgil_version\": \"%s\", \"cpus\": %ld,\n",
            gil_version_string(), sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "  \"seconds\": %g, \"interval_us\": %lu, \"unit_ns\": %.2f,\n", run->opt->seconds,
            run->opt->interval_us, run->unit_ns);
    fprintf(f, "  \"steps\": [\n");
    for (size_t i = 0; i < run->nsteps; i++) {
        json_step(f, &run->steps[i]);
        fputs(i + 1 < run->nsteps ? ",\n" : "\n", f);
    }
    fprintf(f, "  ],\n  \"comparisons\": [\n");
    for (unsigned i = 0; i < run->ncmp; i++) {
        const gb_comparison_t *c = &run->cmp[i];
        fprintf(f, "    {\"scenario\": \"cpython\", \"runtime\": \"%s\", \"threads\": %u, "
                   "\"model_slowdown\": ", gb_runtime_name(c->runtime), c->threads);
        json_null_or(f, c->model_slowdown);
        fputs(", \"runtime_slowdown\": ", f);
        json_null_or(f, c->runtime_slowdown);
        fputs(", \"model_over_runtime\": ", f);
        json_null_or(f, c->model_slowdown > 0 && c->runtime_slowdown > 0
                            ? c->model_slowdown / c->runtime_slowdown
                            : -1);
        fputs(i + 1 < run->ncmp ? "},\n" : "}\n", f);
    }
    fprintf(f, "  ],\n  \"skipped\": [\n");
    for (unsigned i = 0; i < run->nskipped; i++) {
        const gb_skip_t *s = &run->skipped[i];
        fprintf(f, "    {\"scenario\": \"%s\", \"runtime\": \"%s\", \"reason\": ",
                gb_scenario_name(s->scenario), gb_runtime_name(s->runtime));
        json_string(f, s->reason);
        fputs(i + 1 < run->nskipped ? "},\n" : "}\n", f);
    }
    fprintf(f, "  ],\n  \"goals\": [\n");
    for (unsigned i = 0; i < run->ngoals; i++) {
        const gb_goal_t *g = &run->goals[i];
        fputs("    {\"name\": ", f);
        json_string(f, g->name);
        fputs(", \"target\": ", f);
        json_string(f, g->target);
        fputs(", \"measured\": ", f);
        json_null_or(f, g->measured);
        fprintf(f, ", \"met\": %s}%s\n",
                g->measured < 0 ? "null" : g->met ? "true" : "false",
                i + 1 < run->ngoals ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- CSV -------------------------------------------------------------------- */

typedef struct csv_ctx {
    FILE *f;
    const gb_step_t *st;
} csv_ctx_t;

static void csv_metric(void *ctx, const char *name, double value, int known)
{
    csv_ctx_t *c = ctx;
    const gb_step_t *st = c->st;
    char lbl[48];
    gb_step_label(st, lbl, sizeof lbl);
    fprintf(c->f, "%s,%s,%s,%s,%u,%lu,%s,", gb_scenario_name(st->scenario),
            gb_runtime_name(st->runtime), lbl, gb_kind_name(st->kind), st->threads,
            st->interval_us, name);
    if (known)
        fprintf(c->f, "%.6g\n", value);
    else
        fputc('\n', c->f);
}

int gb_write_csv(const gb_run_t *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "scenario,runtime,policy,kind,threads,interval_us,metric,value\n");
    for (size_t i = 0; i < run->nsteps; i++) {
        csv_ctx_t ctx = {f, &run->steps[i]};
        for_each_metric(&run->steps[i], csv_metric, &ctx);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- SVG charts through gnuplot ---------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static void svg_preamble(FILE *g, const char *dir, const char *file, int width, int height)
{
    fprintf(g, "set terminal svg size %d,%d dynamic noenhanced font 'sans,12' "
               "background '#ffffff'\n", width, height);
    fprintf(g, "set output '%s/%s'\n", dir, file);
    fprintf(g, "set grid\nset key top left\n");
}

/* Inline data: "$name << EOD" ... "EOD". */
static void data_begin(FILE *g, const char *name, int n) { fprintf(g, "$%s%d << EOD\n", name, n); }
static void data_end(FILE *g) { fprintf(g, "EOD\n"); }

/* The convoy series to draw: the convoy scenario's, or the cpython
 * scenario's model steps if convoy did not run. */
static gb_scenario_t model_convoy_scenario(const gb_run_t *run)
{
    for (size_t i = 0; i < run->nsteps; i++)
        if (run->steps[i].scenario == GB_SC_CONVOY)
            return GB_SC_CONVOY;
    return GB_SC_CPYTHON;
}

/* One series per libgil policy and per interpreter: (threads, slowdown). */
static int plot_convoy(const gb_run_t *run, FILE *g, const char *dir)
{
    gb_scenario_t msc = model_convoy_scenario(run);
    char titles[GIL_POLICY_COUNT__ + GB_RT_COUNT][64];
    int nseries = 0;

    for (int s = 0; s < GIL_POLICY_COUNT__ + GB_RT_COUNT; s++) {
        int is_model = s < GIL_POLICY_COUNT__;
        int points = 0;
        for (size_t i = 0; i < run->nsteps; i++) {
            const gb_step_t *st = &run->steps[i];
            if (st->kind != GB_K_CONVOY || st->io_slowdown <= 0)
                continue;
            if (is_model ? !(st->runtime == GB_RT_LIBGIL && st->scenario == msc &&
                             (int)st->policy == s)
                         : !(st->runtime != GB_RT_LIBGIL &&
                             (int)st->runtime == s - GIL_POLICY_COUNT__))
                continue;
            if (points++ == 0) {
                data_begin(g, "s", nseries);
                if (is_model)
                    snprintf(titles[nseries], sizeof titles[0], "libgil, %s policy (%lu us)",
                             gil_policy_name(st->policy), st->interval_us);
                else
                    snprintf(titles[nseries], sizeof titles[0], "%s (%lu us)", LABEL(st),
                             st->interval_us);
            }
            fprintf(g, "%u %g\n", st->threads, st->io_slowdown);
        }
        if (points) {
            data_end(g);
            nseries++;
        }
    }
    if (nseries == 0)
        return 0;
    svg_preamble(g, dir, "convoy.svg", 760, 500);
    fprintf(g, "set title 'Convoy effect: I/O round-trip rate lost beside CPU-bound threads'\n"
               "set xlabel 'CPU-bound threads beside the I/O thread'\n"
               "set ylabel 'I/O slowdown vs the I/O thread alone (x, log)'\n"
               "set logscale y\nset logscale x 2\nset xrange [0.8:*]\nset format y '%%gx'\n"
               "set key below\n");
    fprintf(g, "plot ");
    for (int i = 0; i < nseries; i++)
        fprintf(g, "%s$s%d using 1:2 with linespoints lw 2 pt 7 title '%s'", i ? ", " : "", i,
                titles[i]);
    fprintf(g, "\n");
    return 1;
}

static int plot_interval(const gb_run_t *run, FILE *g, const char *dir)
{
    int policies[GIL_POLICY_COUNT__], np = 0;
    for (int p = 0; p < GIL_POLICY_COUNT__; p++) {
        int rows = 0;
        for (size_t i = 0; i < run->nsteps; i++) {
            const gb_step_t *st = &run->steps[i];
            if (st->scenario != GB_SC_INTERVAL || st->kind != GB_K_CONVOY ||
                (int)st->policy != p)
                continue;
            const gb_step_t *cd = find_sibling(run, st, GB_K_COUNTDOWN, 2);
            if (rows++ == 0)
                data_begin(g, "i", np);
            /* interval, p50, p99 (us; NaN without a round trip), CPU kept %,
             * countdown efficiency % (sequential / threaded). */
            fprintf(g, "%lu %g %g %g %g\n", st->interval_us,
                    st->io_count ? st->io_lat.p50_us : 0.0 / 0.0,
                    st->io_count ? st->io_lat.p99_us : 0.0 / 0.0,
                    st->cpu_fraction >= 0 ? st->cpu_fraction * 100 : 0.0 / 0.0,
                    cd && cd->ratio > 0 ? 100 / cd->ratio : 0.0 / 0.0);
        }
        if (rows) {
            data_end(g);
            policies[np++] = p;
        }
    }
    if (np == 0)
        return 0;
    svg_preamble(g, dir, "interval.svg", 1000, 440);
    fprintf(g, "set multiplot layout 1,2 title 'Switch interval: I/O latency against CPU "
               "throughput'\n");
    fprintf(g, "set logscale x\nset xlabel 'switch interval (us, log)'\nset xrange [7:7000]\n"
               "set logscale y\nset ylabel 'I/O round trip beside 1 CPU thread (us, log)'\n"
               "set title 'I/O latency'\nplot ");
    for (int i = 0; i < np; i++)
        fprintf(g, "%s$i%d using 1:2 with linespoints lw 2 pt 7 title '%s p50', "
                   "$i%d using 1:3 with linespoints lw 2 pt 6 dt 2 title '%s p99'",
                i ? ", " : "", i, gil_policy_name((gil_policy_t)policies[i]), i,
                gil_policy_name((gil_policy_t)policies[i]));
    fprintf(g, "\nunset logscale y\nset yrange [0:110]\nset key bottom left\n"
               "set ylabel 'CPU work kept (%% of alone)'\nset title 'CPU throughput'\nplot ");
    for (int i = 0; i < np; i++)
        fprintf(g, "%s$i%d using 1:4 with linespoints lw 2 pt 7 title '%s: CPU thread beside "
                   "I/O', $i%d using 1:5 with linespoints lw 2 pt 5 dt 2 title '%s: countdown, "
                   "2 threads'", i ? ", " : "", i, gil_policy_name((gil_policy_t)policies[i]),
                i, gil_policy_name((gil_policy_t)policies[i]));
    fprintf(g, "\nunset multiplot\n");
    return 1;
}

static int plot_workers(const gb_run_t *run, FILE *g, const char *dir)
{
    int rows = 0;
    data_begin(g, "w", 0);
    for (int p = 0; p < GIL_POLICY_COUNT__; p++) {
        const gb_step_t *plain = NULL, *sharded = NULL;
        for (size_t i = 0; i < run->nsteps; i++) {
            const gb_step_t *st = &run->steps[i];
            if (st->scenario != GB_SC_WORKERS || (int)st->policy != p)
                continue;
            if (st->kind == GB_K_WORKERS_PLAIN)
                plain = st;
            else
                sharded = st;
        }
        if (plain == NULL || sharded == NULL)
            continue;
        const char *name = gil_policy_name((gil_policy_t)p);
        fprintf(g, "\"%s p50\" %g %g\n", name, plain->short_lat.p50_us,
                sharded->short_lat.p50_us);
        fprintf(g, "\"%s p99\" %g %g\n", name, plain->short_lat.p99_us,
                sharded->short_lat.p99_us);
        rows++;
    }
    data_end(g);
    if (rows == 0)
        return 0;
    svg_preamble(g, dir, "workers.svg", 760, 460);
    fprintf(g, "set title 'Queue workers: short-task latency (enqueue to done)'\n"
               "set ylabel 'latency (us, log)'\nset logscale y\nset yrange [10:*]\n"
               "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid noxtics\n"
               "plot $w0 using 2:xtic(1) title 'one GIL, 4 workers', "
               "'' using 3 title 'two GILs: short | long+C-ext, 2+2 workers'\n");
    return 1;
}

int gb_plot(const gb_run_t *run, const char *dir)
{
    if (!gb_on_path("gnuplot")) {
        printf("\ngnuplot not found: no SVG charts (install gnuplot-nox); the tables and "
               "JSON are complete.\n");
        return 0;
    }
    if (mkdir_p(dir) != 0) {
        fprintf(stderr, "gilbench: --plot %s: %s\n", dir, strerror(errno));
        return -1;
    }
    static int (*const charts[])(const gb_run_t *, FILE *, const char *) = {
        plot_convoy, plot_interval, plot_workers};
    static const char *const names[] = {"convoy.svg", "interval.svg", "workers.svg"};
    int failed = 0;
    for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
        FILE *g = popen("gnuplot", "w");
        if (g == NULL) {
            fprintf(stderr, "gilbench: cannot run gnuplot: %s\n", strerror(errno));
            return -1;
        }
        int drawn = charts[i](run, g, dir);
        int status = pclose(g);
        if (!drawn)
            continue;
        if (status != 0) {
            fprintf(stderr, "gilbench: gnuplot failed drawing %s/%s\n", dir, names[i]);
            failed = 1;
        } else {
            printf("chart: %s/%s\n", dir, names[i]);
        }
    }
    return failed ? -1 : 0;
}
