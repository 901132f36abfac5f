/* Layer: report: the tables on stdout and the goal lines.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  JSON and CSV: gilbench_export.c; charts: gilbench_plot.c. */
#include "gilbench_report.h"

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

static void print_convoy_rows(const gb_results_t *res, gb_scenario_t sc, int with_cpu_alone)
{
    convoy_header();
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->scenario != sc || !(gb_kind_has_io(st->kind) || gb_kind_has_cpu(st->kind)))
            continue;
        if (st->kind == GB_K_CPU_ALONE && !with_cpu_alone)
            continue;
        convoy_row(st);
    }
}

static void print_convoy(const gb_results_t *res)
{
    printf("\n== convoy: an I/O thread (1-byte round trips with an echo process) "
           "beside CPU-bound threads\n");
    print_convoy_rows(res, GB_SC_CONVOY, 0);
    printf("  slowdown = I/O rate alone / I/O rate beside the CPU threads; p50/p99/max = "
           "round-trip latency;\n  CPU kept = the CPU threads' work rate beside the I/O "
           "thread / their rate alone.\n");
}

static void print_countdown(const gb_results_t *res)
{
    printf("\n== countdown: the same CPU work done by 1 thread, then split over several\n");
    printf("  %-16s %9s %7s %10s %9s %10s %10s\n", "policy", "interval", "threads",
           "elapsed s", "ratio", "switches", "drop req");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->scenario != GB_SC_COUNTDOWN)
            continue;
        printf("  %-16s %7luus %7u %10.3f %8sx %10llu %10llu\n", LABEL(st), st->interval_us,
               st->threads, st->elapsed_s, F(st->ratio), (unsigned long long)st->gil.switches,
               (unsigned long long)st->gil.drop_requests);
    }
    printf("  ratio = elapsed / elapsed with 1 thread (1.00 = threads cost nothing).\n");
}

static void print_interval(const gb_results_t *res)
{
    printf("\n== interval: I/O latency against CPU throughput across switch intervals\n");
    printf("  %-16s %9s %10s %9s %10s %10s %9s %13s\n", "policy", "interval", "I/O rt/s",
           "slowdown", "p50 us", "p99 us", "CPU kept", "countdown 2t");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->scenario != GB_SC_INTERVAL || st->kind != GB_K_CONVOY)
            continue;
        const gb_step_t *cd = gb_find_sibling(res, st, GB_K_COUNTDOWN, 2);
        printf("  %-16s %7luus %10.0f %9s %10s %10s %9s %12sx\n", LABEL(st), st->interval_us,
               st->io_rate, SLOW(st), F(st->io_count ? st->io_lat.p50_us : -1),
               F(st->io_count ? st->io_lat.p99_us : -1), PCT(st->cpu_fraction),
               F(cd ? cd->ratio : -1));
    }
    printf("  Convoy with 1 CPU thread; countdown 2t = 2-thread elapsed / 1-thread elapsed.\n"
           "  Baselines (I/O alone, CPU alone, 1-thread countdown) measured once per policy.\n");
}

static void print_workers(const gb_results_t *res)
{
    printf("\n== workers: 4 queue workers, short (50 us), long (20 ms) and C-extension "
           "(5 ms, no check) tasks\n");
    printf("  %-16s %9s %-22s %6s %8s %9s %9s %9s %9s\n", "policy", "interval", "setup",
           "tasks", "tasks/s", "short p50", "short p99", "short max", "long p50");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
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

static void print_cpython(const gb_results_t *res)
{
    printf("\n== cpython: the convoy workload in real interpreters, beside the model\n");
    for (unsigned i = 0; i < res->nskipped; i++)
        if (res->skipped[i].scenario == GB_SC_CPYTHON)
            printf("  skipped %s: %s\n", res->skipped[i].runtime == GB_RT_CPYTHON ? "CPython"
                                                                                  : "Ruby",
                   res->skipped[i].reason);
    if (res->ncmp == 0)
        return;
    print_convoy_rows(res, GB_SC_CPYTHON, 0);
    printf("  CPU kept for an interpreter = loop iterations/s beside the I/O thread / alone.\n");
    printf("\n  %-10s %5s %15s %17s %14s\n", "runtime", "CPU", "model slowdown",
           "runtime slowdown", "model/runtime");
    for (unsigned i = 0; i < res->ncmp; i++) {
        const gb_comparison_t *c = &res->cmp[i];
        double r = c->model_slowdown > 0 && c->runtime_slowdown > 0
                       ? c->model_slowdown / c->runtime_slowdown
                       : -1;
        printf("  %-10s %5u %14sx %16sx %14s\n", c->runtime == GB_RT_CPYTHON ? "CPython" : "Ruby",
               c->threads, F(c->model_slowdown), F(c->runtime_slowdown), F(r));
    }
    printf("  model = libgil, cpython policy, the same switch interval as CPython; Ruby 3.1 "
           "has a fixed 100 ms quantum.\n");
}

void gb_print_scenario(const gb_results_t *res, gb_scenario_t sc)
{
    switch (sc) {
    case GB_SC_CONVOY: print_convoy(res); break;
    case GB_SC_COUNTDOWN: print_countdown(res); break;
    case GB_SC_INTERVAL: print_interval(res); break;
    case GB_SC_WORKERS: print_workers(res); break;
    default: print_cpython(res); break;
    }
    fflush(stdout);
}

/* The one-thread countdown does work calibrated to take --seconds on an idle
 * CPU.  Taking much longer means other processes had the CPUs during the
 * run, and every ratio of it is suspect: say so next to the goals. */
static void print_busy_note(const gb_results_t *res)
{
    double worst = 0;
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->kind == GB_K_COUNTDOWN && st->threads == 1 && st->measured &&
            st->elapsed_s / res->seconds > worst)
            worst = st->elapsed_s / res->seconds;
    }
    if (worst > 1.15)
        printf("note: a 1-thread countdown took %.2fx its calibrated time: other processes were "
               "using the CPUs during this run; rerun on a quiet machine before trusting its "
               "ratios.\n", worst);
}

void gb_print_goals(const gb_results_t *res)
{
    printf("\n");
    print_busy_note(res);
    for (unsigned i = 0; i < res->ngoals; i++) {
        const gb_goal_t *g = &res->goals[i];
        if (g->measured < 0)
            printf("goal: %s not measured: %s (target %s)\n", g->name, g->why_not, g->target);
        else
            printf("goal: %s measured %.2f (target %s) %s\n", g->name, g->measured, g->target,
                   g->met ? "MET" : "MISSED");
    }
    fflush(stdout);
}

