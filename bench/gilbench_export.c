/* Layer: report: JSON and CSV files of a run's results.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  Tables: gilbench_report.c; charts: gilbench_plot.c. */

/*
 * One list of metrics per step (for_each_metric) feeds both JSON and CSV, so
 * the two files always carry the same numbers.
 */
#include "gilbench_report.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

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

int gb_write_json(const gb_results_t *res, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"tool\": \"gilbench\", \"libgil_version\": \"%s\", \"cpus\": %ld,\n",
            gil_version_string(), sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(f, "  \"seconds\": %g, \"interval_us\": %lu, \"unit_ns\": %.2f,\n", res->seconds,
            res->interval_us, res->unit_ns);
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

int gb_write_csv(const gb_results_t *res, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "scenario,runtime,policy,kind,threads,interval_us,metric,value\n");
    for (size_t i = 0; i < res->nsteps; i++) {
        csv_ctx_t ctx = {f, &res->steps[i]};
        for_each_metric(&res->steps[i], csv_metric, &ctx);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

