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

/* ---- convoy-matrix ---------------------------------------------------------------- */

static int is_matrix(const gb_step_t *st, gb_kind_t kind)
{
    return st->scenario == GB_SC_MATRIX && st->kind == kind;
}

/* The solo baselines: one row per baseline, one column per policy, each the
 * mean rate of its two runs and their spread. */
static void print_matrix_baselines(const gb_results_t *res)
{
    gil_policy_t policies[GB_MAX_POLICIES];
    unsigned np = 0;
    double worst = -1;
    char worst_at[80] = "";

    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        int seen = 0;
        if (st->scenario != GB_SC_MATRIX)
            continue;
        for (unsigned p = 0; p < np; p++)
            seen |= policies[p] == st->policy;
        if (!seen && np < GB_MAX_POLICIES)
            policies[np++] = st->policy;
    }
    printf("  solo baselines, per second (two runs each, before and after the policy's cells; "
           "± = |first - second| / mean):\n  %-22s", "baseline");
    for (unsigned p = 0; p < np; p++)
        printf(" %18s", gil_policy_name(policies[p]));
    printf("\n");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *row = &res->steps[i];
        char cell[48];
        if (row->scenario != GB_SC_MATRIX || row->kind == GB_K_CONVOY || row->rerun ||
            row->policy != policies[0])
            continue;
        gb_cell_label(row, cell, sizeof cell);
        printf("  %-22s", cell);
        for (unsigned p = 0; p < np; p++) {
            const gb_step_t *st = NULL;
            for (size_t j = 0; j < res->nsteps && st == NULL; j++) {
                const gb_step_t *c = &res->steps[j];
                if (c->scenario == GB_SC_MATRIX && c->kind == row->kind && !c->rerun &&
                    c->policy == policies[p] && c->shape == row->shape &&
                    c->threads == row->threads && c->check_units == row->check_units)
                    st = c;
            }
            char buf[40];
            if (st == NULL || st->solo_rate < 0)
                snprintf(buf, sizeof buf, "-");
            else if (st->solo_spread < 0)
                snprintf(buf, sizeof buf, "%.3g (1 run)", st->solo_rate);
            else
                snprintf(buf, sizeof buf, "%.3g ±%.1f%%", st->solo_rate, st->solo_spread * 100);
            printf(" %18s", buf);
            if (st != NULL && st->solo_spread > worst) {
                worst = st->solo_spread;
                snprintf(worst_at, sizeof worst_at, "%s %s", gil_policy_name(st->policy), cell);
            }
        }
        printf("\n");
    }
    if (worst >= 0)
        printf("  baselines: the largest spread between the two runs is %.1f%% (%s)%s\n",
               worst * 100, worst_at,
               worst > 0.15 ? ": the machine's speed moved during the run; read the ratios "
                              "with that margin" : "");
}

static void goal_marks(const gb_step_t *st, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    if (st->policy != GIL_POLICY_PRIORITY)
        return;
    for (int g = 0; g < GB_MG_COUNT && len + 2 < size; g++) {
        buf[len++] = st->goal[g] == GB_NA ? '.' : st->goal[g] ? '+' : '-';
        buf[len] = '\0';
    }
}

static void print_matrix_cells(const gb_results_t *res)
{
    printf("\n  %-9s %-10s %3s %5s %7s %8s %8s %6s %6s %6s %5s %6s %8s %5s\n", "policy",
           "shape", "CPU", "check", "I/O", "p50 us", "p99 us", "share", "share", "fair",
           "Jain", "CPU s", "CPU vs", "goals");
    printf("  %-9s %-10s %3s %5s %7s %8s %8s %6s %6s %6s %5s %6s %8s %5s\n", "", "", "", "",
           "of solo", "", "", "min", "mean", "min", "", "", "cpython", "");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        char check[16], marks[8];
        if (!is_matrix(st, GB_K_CONVOY))
            continue;
        gb_check_label(st, check, sizeof check);
        goal_marks(st, marks, sizeof marks);
        if (!st->measured) {
            printf("  %-9s %-10s %3u %5s %7s\n", gil_policy_name(st->policy),
                   gb_shapes[st->shape].name, st->threads, check, "failed");
            continue;
        }
        printf("  %-9s %-10s %3u %5s %7s %8s %8s %6s %6s %6s %5s %6s %8s %5s\n",
               gil_policy_name(st->policy), gb_shapes[st->shape].name, st->threads, check,
               PCT(st->io_fraction), F(st->io_count ? st->io_lat.p50_us : -1),
               F(st->io_count ? st->io_lat.p99_us : -1), PCT(st->share_min),
               PCT(st->share_mean), PCT(st->fair_min), F(st->jain), F(st->cpu_s),
               F(st->cpu_vs_cpython), marks);
    }
    printf("  I/O of solo = I/O round trips/s / the I/O thread's alone; share = a CPU thread's "
           "rate / (the N threads'\n  rate alone / N); fair = share / (1 - the GIL time the "
           "I/O thread's work needs); Jain = fairness\n  between the CPU threads (1 = equal); "
           "CPU s = the process's CPU time in the window (getrusage);\n  goals (priority "
           "only): I/O rate, I/O p99, CPU fair share, CPU time: + met, - missed, . none for "
           "the cell.\n");
}

/* The figures must show what is known.  CPYTHON with one CPU thread is the
 * convoy itself: a few percent of the I/O thread's solo rate at most.  And
 * CPU threads alone, on one GIL, keep one core busy: less means other
 * processes had the CPUs, and every ratio of the run moves with them. */
static void print_matrix_consistency(const gb_results_t *res)
{
    gb_range_t convoy = {0}, core = {0};
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (is_matrix(st, GB_K_CONVOY) && st->policy == GIL_POLICY_CPYTHON &&
            st->threads == 1 && st->io_fraction >= 0)
            gb_range_add(&convoy, st->io_fraction);
        if (is_matrix(st, GB_K_CPU_ALONE) && st->measured && st->cpu_s >= 0 && st->seconds > 0)
            gb_range_add(&core, st->cpu_s / st->seconds);
    }
    if (convoy.n)
        printf("  check: cpython with 1 CPU thread keeps the I/O thread at %s-%s of its solo "
               "rate (the convoy: a few %% at most)%s\n", PCT(convoy.lo), PCT(convoy.hi),
               convoy.hi > 0.10 ? "; above 10% in some cell: its CPU thread was not running "
                                  "all the time (a loaded machine?)" : "");
    if (core.n)
        printf("  check: the CPU threads alone kept %.2f-%.2f of a core busy (one GIL: about "
               "1)%s\n", core.lo, core.hi,
               core.lo < 0.9 ? "; below 0.9: other processes had the CPUs during the run" : "");
}

static void print_matrix_goals(const gb_results_t *res)
{
    printf("\n");
    for (int g = 0; g < GB_MG_COUNT; g++) {
        const gb_matrix_goal_t *mg = &res->matrix_goals[g];
        printf("matrix goal (priority): %s %s: met in %u of %u cells", mg->name, mg->target,
               mg->met, mg->met + mg->missed);
        if (mg->missed) {
            const char *sep = "; MISSED in ";
            for (size_t i = 0; i < res->nsteps; i++) {
                const gb_step_t *st = &res->steps[i];
                char cell[48];
                if (!is_matrix(st, GB_K_CONVOY) || st->policy != GIL_POLICY_PRIORITY ||
                    st->goal[g] != 0)
                    continue;
                gb_cell_label(st, cell, sizeof cell);
                printf("%s%s", sep, cell);
                sep = ", ";
            }
        }
        if (mg->met + mg->missed == 0)
            printf(" (not measured: %s)", mg->na ? "no cell has this goal, or its reference "
                                                   "is missing" : "priority not run");
        printf("\n");
    }
}

static void print_matrix(const gb_results_t *res)
{
    printf("\n== convoy-matrix: the convoy under each policy, cell by cell, each against its "
           "own solo baselines\n");
    print_matrix_baselines(res);
    print_matrix_cells(res);
    print_matrix_consistency(res);
    if (res->matrix_ran)
        print_matrix_goals(res);
}

void gb_print_scenario(const gb_results_t *res, gb_scenario_t sc)
{
    if (res->io_slice_us && (sc == GB_SC_CONVOY || sc == GB_SC_INTERVAL || sc == GB_SC_MATRIX))
        printf("(--io-slice: the model's I/O thread asked the kernel for %lu us slices)\n",
               res->io_slice_us);
    switch (sc) {
    case GB_SC_CONVOY: print_convoy(res); break;
    case GB_SC_COUNTDOWN: print_countdown(res); break;
    case GB_SC_INTERVAL: print_interval(res); break;
    case GB_SC_WORKERS: print_workers(res); break;
    case GB_SC_MATRIX: print_matrix(res); break;
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

