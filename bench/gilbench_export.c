/* Layer: report: JSON and CSV files of a run's results.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  Tables: gilbench_report.c; charts: gilbench_plot.c. */

/*
 * One list of metrics per step (for_each_metric) feeds both JSON and CSV, so
 * the two files always carry the same numbers.
 */
#include "gilbench_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- output files ----------------------------------------------------------------- */

static FILE *open_output(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
    return f;
}

/* fclose, which also reports a write that failed (a full disk). */
static int close_output(FILE *f, const char *path)
{
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "gilbench: %s: %s\n", path, errno ? strerror(errno) : "write error");
        return -1;
    }
    return 0;
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

static const char *const matrix_goal_keys[GB_MG_COUNT] = {
    [GB_MG_IO_RATE] = "goal_io_rate", [GB_MG_IO_P99] = "goal_io_p99",
    [GB_MG_CPU_FAIR] = "goal_cpu_fair", [GB_MG_CPU_TIME] = "goal_cpu_time"};

/* The convoy matrix's figures (docs/benchmarks.md); goals: 1 met, 0 missed,
 * unknown (null, empty) where the cell has none. */
static void matrix_metrics(const gb_step_t *st, metric_fn fn, void *ctx)
{
    char name[32];
    if (st->kind != GB_K_CONVOY) {
        fn(ctx, "solo_rate", st->solo_rate, st->solo_rate >= 0 && !st->rerun);
        fn(ctx, "solo_spread", st->solo_spread, st->solo_spread >= 0 && !st->rerun);
    }
    for (unsigned i = 0; i < st->threads && st->kind != GB_K_IO_ALONE; i++) {
        snprintf(name, sizeof name, "cpu_thread%u_rate", i);
        fn(ctx, name, st->thread_rate[i], 1);
        snprintf(name, sizeof name, "cpu_thread%u_held", i);
        fn(ctx, name, st->thread_held[i], st->thread_held[i] >= 0);
        snprintf(name, sizeof name, "cpu_thread%u_cpu_s", i);
        fn(ctx, name, st->thread_cpu_s[i], st->thread_cpu_s[i] >= 0);
    }
    if (st->kind != GB_K_CPU_ALONE) {
        fn(ctx, "io_held", st->io_held, st->io_held >= 0);
        fn(ctx, "io_cpu_s", st->io_cpu_s, st->io_cpu_s >= 0);
    }
    if (st->kind != GB_K_CPU_ALONE)
        fn(ctx, "echo_cpu_s", st->echo_cpu_s, st->echo_cpu_s >= 0);
    if (st->kind != GB_K_CONVOY)
        return;
    fn(ctx, "io_fraction", st->io_fraction, st->io_fraction >= 0);
    fn(ctx, "cpu_share_min", st->share_min, st->share_min >= 0);
    fn(ctx, "cpu_share_mean", st->share_mean, st->share_mean >= 0);
    fn(ctx, "cpu_share_max", st->share_max, st->share_max >= 0);
    fn(ctx, "io_gil", st->io_gil, st->io_gil >= 0);
    fn(ctx, "cpu_fair_min", st->fair_min, st->fair_min >= 0);
    fn(ctx, "jain", st->jain, st->jain >= 0);
    fn(ctx, "cpu_vs_cpython", st->cpu_vs_cpython, st->cpu_vs_cpython >= 0);
    for (int g = 0; g < GB_MG_COUNT; g++)
        fn(ctx, matrix_goal_keys[g], st->goal[g], st->goal[g] != GB_NA);
}

static void for_each_metric(const gb_step_t *st, metric_fn fn, void *ctx)
{
    if (!st->measured)
        return;
    fn(ctx, "seconds", st->seconds, 1);
    if (gb_kind_has_io(st->kind)) {
        fn(ctx, "io_rate", st->io_rate, 1);
        lat_metrics("io", &st->io_lat, fn, ctx);
        fn(ctx, "io_slowdown", st->io_slowdown, st->io_slowdown >= 0);
    }
    if (gb_kind_has_cpu(st->kind))
        fn(ctx, "cpu_rate", st->cpu_rate, 1);
    if (st->kind == GB_K_CONVOY)
        fn(ctx, "cpu_fraction", st->cpu_fraction, st->cpu_fraction >= 0);
    if (st->kind == GB_K_COUNTDOWN) {
        fn(ctx, "elapsed_s", st->elapsed_s, 1);
        fn(ctx, "ratio", st->ratio, st->ratio >= 0);
    }
    if (gb_kind_is_workers(st->kind)) {
        fn(ctx, "tasks", (double)st->tasks, 1);
        fn(ctx, "offered_per_s", st->offered_per_s, 1);
        fn(ctx, "tasks_per_s", st->tasks_per_s, 1);
        lat_metrics("short", &st->short_lat, fn, ctx);
        lat_metrics("long", &st->long_lat, fn, ctx);
    }
    if (st->cpu_s >= 0)
        fn(ctx, "cpu_s", st->cpu_s, 1);
    if (st->scenario == GB_SC_MATRIX)
        matrix_metrics(st, fn, ctx);
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
    if (st->scenario == GB_SC_MATRIX) {
        char check[16], cell[48];
        gb_check_label(st, check, sizeof check);
        gb_cell_label(st, cell, sizeof cell);
        fprintf(f, ", \"cell\": \"%s\", \"shape\": ", cell);
        if (st->shape >= 0)
            json_string(f, gb_shapes[st->shape].name);
        else
            fputs("null", f);
        fputs(", \"check\": ", f);
        if (st->kind != GB_K_IO_ALONE)
            fprintf(f, "\"%s\", \"check_units\": %u", check, st->check_units);
        else
            fputs("null, \"check_units\": null", f);
        fprintf(f, ", \"rerun\": %s", st->rerun ? "true" : "false");
    }
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

int gb_write_json(const gb_results_t *res, const char *path)
{
    FILE *f = open_output(path);
    if (f == NULL)
        return -1;
    fprintf(f, "{\n  \"tool\": \"gilbench\", \"libgil_version\": \"%s\", \"cpus\": %ld,\n",
            gil_version_string(), sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "  \"seconds\": %g, \"interval_us\": %lu, \"unit_ns\": %.2f, \"io_slice_us\": %lu,\n",
            res->seconds, res->interval_us, res->unit_ns, res->io_slice_us);
    fprintf(f, "  \"steps\": [\n");
    for (size_t i = 0; i < res->nsteps; i++) {
        json_step(f, &res->steps[i]);
        fputs(i + 1 < res->nsteps ? ",\n" : "\n", f);
    }
    fprintf(f, "  ],\n  \"comparisons\": [\n");
    for (unsigned i = 0; i < res->ncmp; i++) {
        const gb_comparison_t *c = &res->cmp[i];
        fprintf(f, "    {\"scenario\": \"cpython\", \"runtime\": \"%s\", \"threads\": %u, "
                   "\"model_slowdown\": ", gb_runtime_name(c->runtime), c->threads);
        json_null_or(f, c->model_slowdown);
        fputs(", \"runtime_slowdown\": ", f);
        json_null_or(f, c->runtime_slowdown);
        fputs(", \"model_over_runtime\": ", f);
        json_null_or(f, c->model_slowdown > 0 && c->runtime_slowdown > 0
                            ? c->model_slowdown / c->runtime_slowdown
                            : -1);
        fputs(i + 1 < res->ncmp ? "},\n" : "}\n", f);
    }
    fprintf(f, "  ],\n  \"skipped\": [\n");
    for (unsigned i = 0; i < res->nskipped; i++) {
        const gb_skip_t *s = &res->skipped[i];
        fprintf(f, "    {\"scenario\": \"%s\", \"runtime\": \"%s\", \"reason\": ",
                gb_scenario_name(s->scenario), gb_runtime_name(s->runtime));
        json_string(f, s->reason);
        fputs(i + 1 < res->nskipped ? "},\n" : "}\n", f);
    }
    fprintf(f, "  ],\n  \"goals\": [\n");
    for (unsigned i = 0; i < res->ngoals; i++) {
        const gb_goal_t *g = &res->goals[i];
        fputs("    {\"name\": ", f);
        json_string(f, g->name);
        fputs(", \"target\": ", f);
        json_string(f, g->target);
        fputs(", \"measured\": ", f);
        json_null_or(f, g->measured);
        fprintf(f, ", \"met\": %s}%s\n",
                g->measured < 0 ? "null" : g->met ? "true" : "false",
                i + 1 < res->ngoals ? "," : "");
    }
    fprintf(f, "  ],\n  \"matrix_goals\": [\n");
    for (int g = 0; res->matrix_ran && g < GB_MG_COUNT; g++) {
        const gb_matrix_goal_t *mg = &res->matrix_goals[g];
        fprintf(f, "    {\"key\": \"%s\", \"policy\": \"priority\", \"name\": ",
                matrix_goal_keys[g]);
        json_string(f, mg->name);
        fputs(", \"target\": ", f);
        json_string(f, mg->target);
        fprintf(f, ", \"met\": %u, \"missed\": %u, \"not_applicable\": %u}%s\n", mg->met,
                mg->missed, mg->na, g + 1 < GB_MG_COUNT ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return close_output(f, path);
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
    char lbl[48], check[16] = "";
    gb_step_label(st, lbl, sizeof lbl);
    if (st->scenario == GB_SC_MATRIX && st->kind != GB_K_IO_ALONE)
        gb_check_label(st, check, sizeof check);
    fprintf(c->f, "%s,%s,%s,%s,%u,%lu,%s,%s,%d,%s,", gb_scenario_name(st->scenario),
            gb_runtime_name(st->runtime), lbl, gb_kind_name(st->kind), st->threads,
            st->interval_us, st->shape >= 0 ? gb_shapes[st->shape].name : "", check,
            st->rerun, name);
    if (known)
        fprintf(c->f, "%.6g\n", value);
    else
        fputc('\n', c->f);
}

int gb_write_csv(const gb_results_t *res, const char *path)
{
    FILE *f = open_output(path);
    if (f == NULL)
        return -1;
    fprintf(f, "scenario,runtime,policy,kind,threads,interval_us,shape,check,rerun,metric,"
               "value\n");
    for (size_t i = 0; i < res->nsteps; i++) {
        csv_ctx_t ctx = {f, &res->steps[i]};
        for_each_metric(&res->steps[i], csv_metric, &ctx);
    }
    return close_output(f, path);
}


/* ---- google-benchmark JSON ------------------------------------------------------ */

/* One figure of a step as google-benchmark sees a benchmark: a time, lower
 * is better.  Rates become the time per operation (a round trip, a work
 * unit); latencies and elapsed times are themselves. */
typedef struct gb_figure {
    const char *name;   /* last component of the benchmark's name */
    double real;        /* in unit */
    double cpu;         /* in unit: process CPU time per operation where it
                         * is known, else the same as real */
    const char *unit;   /* "ns", "us", "ms" or "s" */
    double iterations;  /* the samples behind the figure */
} gb_figure_t;

typedef void (*figure_fn)(void *ctx, const gb_step_t *st, const gb_figure_t *fig);

static void latency_figures(const gb_step_t *st, const char *prefix, const gb_lat_t *l,
                            figure_fn fn, void *ctx)
{
    char p50[32], p99[32];
    if (l->count == 0)
        return;
    snprintf(p50, sizeof p50, "%s_p50", prefix);
    snprintf(p99, sizeof p99, "%s_p99", prefix);
    fn(ctx, st, &(gb_figure_t){p50, l->p50_us, l->p50_us, "us", (double)l->count});
    fn(ctx, st, &(gb_figure_t){p99, l->p99_us, l->p99_us, "us", (double)l->count});
}

/* Time per operation from a rate over the window (ns), with the process's
 * CPU time per operation when the step measured it. */
static void per_op_figure(const gb_step_t *st, const char *name, double rate, figure_fn fn,
                          void *ctx)
{
    double ops = rate * st->seconds;
    if (!(rate > 0) || !(ops > 0))
        return;
    double real = 1e9 / rate;
    double cpu = st->cpu_s >= 0 ? st->cpu_s * 1e9 / ops : real;
    fn(ctx, st, &(gb_figure_t){name, real, cpu, "ns", ops});
}

static void for_each_figure(const gb_step_t *st, figure_fn fn, void *ctx)
{
    if (!st->measured)
        return;
    if (gb_kind_has_io(st->kind)) {
        per_op_figure(st, "io_round_trip", st->io_rate, fn, ctx);
        latency_figures(st, "io", &st->io_lat, fn, ctx);
    }
    if (gb_kind_has_cpu(st->kind))
        per_op_figure(st, "cpu_unit", st->cpu_rate, fn, ctx);
    if (st->kind == GB_K_COUNTDOWN && st->elapsed_s > 0) {
        double cpu = st->cpu_s >= 0 ? st->cpu_s : st->elapsed_s;
        fn(ctx, st, &(gb_figure_t){"elapsed", st->elapsed_s * 1e3, cpu * 1e3, "ms", 1});
    }
    if (gb_kind_is_workers(st->kind)) {
        latency_figures(st, "short", &st->short_lat, fn, ctx);
        latency_figures(st, "long", &st->long_lat, fn, ctx);
    }
}

/* The threads a step runs, as google-benchmark counts them (at least 1). */
static unsigned step_threads(const gb_step_t *st)
{
    switch (st->kind) {
    case GB_K_IO_ALONE: return 1;
    case GB_K_CONVOY: return st->threads + 1;
    default: return st->threads ? st->threads : 1;
    }
}

/* "convoy/libgil-cpython/convoy/cpu:2/interval:5000us": stable across runs
 * (no interpreter version), so compare.py pairs the same step of two runs. */
static void step_name(const gb_step_t *st, char *buf, size_t size)
{
    const char *who = st->runtime == GB_RT_LIBGIL ? gil_policy_name(st->policy)
                                                   : gb_runtime_name(st->runtime);
    int n = snprintf(buf, size, "%s/%s%s/%s/cpu:%u/interval:%luus",
                     gb_scenario_name(st->scenario), st->runtime == GB_RT_LIBGIL ? "libgil-" : "",
                     who, gb_kind_name(st->kind), st->threads, st->interval_us);
    if (st->scenario != GB_SC_MATRIX || n < 0 || (size_t)n >= size)
        return;
    char check[16];
    gb_check_label(st, check, sizeof check);
    snprintf(buf + n, size - (size_t)n, "%s%s%s%s%s",
             st->shape >= 0 ? "/shape:" : "", st->shape >= 0 ? gb_shapes[st->shape].name : "",
             st->kind != GB_K_IO_ALONE ? "/check:" : "", st->kind != GB_K_IO_ALONE ? check : "",
             st->rerun ? "/rerun" : "");
}

typedef struct gbench_ctx {
    FILE *f;
    unsigned n;
} gbench_ctx_t;

static void gbench_counter(FILE *f, const char *name, double v)
{
    if (v >= 0)
        fprintf(f, ",\n      \"%s\": %.6g", name, v);
}

static void gbench_entry(void *vctx, const gb_step_t *st, const gb_figure_t *fig)
{
    gbench_ctx_t *c = vctx;
    char name[160];
    step_name(st, name, sizeof name);
    fprintf(c->f, "%s    {\n      \"name\": \"%s/%s\",\n      \"family_index\": %u,\n"
                  "      \"per_family_instance_index\": 0,\n      \"run_name\": \"%s/%s\",\n"
                  "      \"run_type\": \"iteration\",\n      \"repetitions\": 1,\n"
                  "      \"repetition_index\": 0,\n      \"threads\": %u,\n"
                  "      \"iterations\": %.0f,\n      \"real_time\": %.6g,\n"
                  "      \"cpu_time\": %.6g,\n      \"time_unit\": \"%s\"",
            c->n ? ",\n" : "", name, fig->name, c->n, name, fig->name, step_threads(st),
            fig->iterations, fig->real, fig->cpu, fig->unit);
    gbench_counter(c->f, "io_slowdown", st->io_slowdown);
    gbench_counter(c->f, "cpu_fraction", st->cpu_fraction);
    gbench_counter(c->f, "countdown_ratio", st->ratio);
    gbench_counter(c->f, "process_cpu_s", st->cpu_s);
    gbench_counter(c->f, "io_fraction", st->io_fraction);
    gbench_counter(c->f, "cpu_share_min", st->share_min);
    gbench_counter(c->f, "jain", st->jain);
    gbench_counter(c->f, "cpu_vs_cpython", st->cpu_vs_cpython);
    if (st->runtime == GB_RT_LIBGIL) {
        gbench_counter(c->f, "gil_switches", (double)st->gil.switches);
        gbench_counter(c->f, "gil_forced_switches", (double)st->gil.forced_switches);
    }
    fputs("\n    }", c->f);
    c->n++;
}

static void gbench_context(FILE *f, const gb_results_t *res)
{
    char host[256] = "", date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    double load[3] = {0, 0, 0};
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    if (localtime_r(&now, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", &tm);
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = 0;
    fprintf(f, "{\n  \"context\": {\n    \"date\": ");
    json_string(f, date);
    fprintf(f, ",\n    \"host_name\": ");
    json_string(f, host);
    fprintf(f, ",\n    \"executable\": ");
    json_string(f, res->executable ? res->executable : "gilbench");
    fprintf(f, ",\n    \"num_cpus\": %ld,\n    \"mhz_per_cpu\": 0,\n"
               "    \"cpu_scaling_enabled\": false,\n    \"caches\": [],\n"
               "    \"load_avg\": [%.2f, %.2f, %.2f],\n"
               "    \"library_build_type\": \"release\",\n"
               "    \"libgil_version\": \"%s\",\n    \"gilbench_seconds\": %g,\n"
               "    \"gilbench_unit_ns\": %.2f\n  },\n  \"benchmarks\": [\n",
            sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2], gil_version_string(),
            res->seconds, res->unit_ns);
}

int gb_write_gbench_json(const gb_results_t *res, const char *path)
{
    FILE *f = open_output(path);
    if (f == NULL)
        return -1;
    gbench_ctx_t ctx = {f, 0};
    gbench_context(f, res);
    for (size_t i = 0; i < res->nsteps; i++)
        for_each_figure(&res->steps[i], gbench_entry, &ctx);
    fputs("\n  ]\n}\n", f);
    return close_output(f, path);
}
