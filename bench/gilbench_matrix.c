/* Layer: scenarios (the top): the convoy matrix, every cell against its own
 * solo baselines, the figures derived from them, the goals per cell.
 * Calls measurement (through gb_run_step) and the base layer. */

/*
 * A cell is one shape of I/O thread (gb_shapes: work per round trip, one
 * or two allow-threads sections, AF_UNIX or TCP) beside N CPU threads that
 * check every unit (~50 ns) or every 100 units (~5 us), under one policy.
 * Per policy the solo baselines run first (the I/O thread alone per shape,
 * the N CPU threads alone per N and granularity), then the cells, then the
 * baselines again: a cell's figures are taken against the mean of the two
 * runs of its baselines, and their spread shows how steady the machine was
 * meanwhile.  docs/benchmarks.md defines every figure.
 */
#include "gilbench_scenario.h"

#include <math.h>
#include <string.h>

static const unsigned full_threads[] = {1, 2, 4, 8};
static const unsigned quick_threads[] = {1, 4};
static const unsigned full_checks[] = {1, 100}; /* units between check points */
static const unsigned quick_checks[] = {1};
static const char *const quick_shapes[] = {"1us-2rel", "interp"};

#define MAX_SHAPES 16
#define MAX_N 4
#define MAX_CHECKS 2

/* The extent of the matrix: --matrix full, or the quick subset. */
typedef struct extent {
    unsigned shapes[MAX_SHAPES], nshapes;
    const unsigned *threads, *checks;
    unsigned nthreads, nchecks;
} extent_t;

static void extent_of(const gb_options_t *opt, extent_t *e)
{
    int full = opt->matrix_full || opt->matrix_shape >= 0;
    e->nshapes = 0;
    for (unsigned s = 0; s < gb_nshapes && e->nshapes < MAX_SHAPES; s++) {
        int in_quick = 0;
        for (size_t q = 0; q < sizeof quick_shapes / sizeof quick_shapes[0]; q++)
            in_quick |= strcmp(gb_shapes[s].name, quick_shapes[q]) == 0;
        if (opt->matrix_shape >= 0 ? (int)s == opt->matrix_shape : full || in_quick)
            e->shapes[e->nshapes++] = s;
    }
    e->threads = full ? full_threads : quick_threads;
    e->nthreads = full ? 4 : 2;
    e->checks = full ? full_checks : quick_checks;
    e->nchecks = full ? 2 : 1;
    if (opt->matrix_threads) {
        e->threads = &opt->matrix_threads;
        e->nthreads = 1;
    }
    if (opt->matrix_check) {
        e->checks = &opt->matrix_check;
        e->nchecks = 1;
    }
}

/* The interp shape is one cell: 1 CPU thread checking every unit. */
static int cell_exists(unsigned shape, unsigned threads, unsigned check)
{
    return !gb_shapes[shape].interp_cell || (threads == 1 && check == 1);
}

static void matrix_step(gb_step_t *st, const gb_run_t *run, gil_policy_t policy, gb_kind_t kind,
                        int shape, unsigned threads, unsigned check)
{
    gb_step_init(st, GB_SC_MATRIX, GB_RT_LIBGIL, policy, kind, threads, run->opt->interval_us);
    st->shape = shape;
    st->check_units = check;
    if (shape >= 0) {
        st->io_work_ns = gb_shapes[shape].work_ns;
        st->io_sections = gb_shapes[shape].sections;
        st->io_tcp = gb_shapes[shape].tcp;
    }
}

/* Indexes of one policy's steps. */
typedef struct block {
    size_t io_solo[2][MAX_SHAPES];        /* [run][shape slot] */
    size_t cpu_solo[2][MAX_N][MAX_CHECKS];
} block_t;

static void run_baselines(gb_run_t *run, gil_policy_t policy, const extent_t *e, block_t *b,
                          int rerun)
{
    gb_step_t st;
    for (unsigned i = 0; i < e->nshapes; i++) {
        matrix_step(&st, run, policy, GB_K_IO_ALONE, (int)e->shapes[i], 0, 1);
        st.rerun = rerun;
        b->io_solo[rerun][i] = gb_run_step(run, &st);
    }
    for (unsigned n = 0; n < e->nthreads; n++)
        for (unsigned c = 0; c < e->nchecks; c++) {
            matrix_step(&st, run, policy, GB_K_CPU_ALONE, -1, e->threads[n], e->checks[c]);
            st.rerun = rerun;
            b->cpu_solo[rerun][n][c] = gb_run_step(run, &st);
        }
}

static double step_rate(const gb_step_t *st)
{
    return st->kind == GB_K_IO_ALONE ? st->io_rate : st->cpu_rate;
}

/* The baseline of the pair (first, second): the mean of the runs that were
 * measured, and their spread, kept on the first. */
static double settle_baseline(gb_step_t *first, const gb_step_t *second)
{
    double a = first->measured ? step_rate(first) : -1;
    double b = second->measured ? step_rate(second) : -1;
    if (a > 0 && b > 0) {
        first->solo_rate = (a + b) / 2;
        first->solo_spread = fabs(a - b) / first->solo_rate;
    } else {
        first->solo_rate = a > 0 ? a : b > 0 ? b : -1;
    }
    return first->solo_rate;
}

/* The figures of a cell against its baselines (io_solo, cpu_solo: rates). */
static void derive_cell(gb_step_t *st, double io_solo, double cpu_solo, double unit_ns)
{
    const unsigned n = st->threads;
    if (!st->measured)
        return;
    if (io_solo > 0) {
        st->io_fraction = st->io_rate / io_solo;
        if (st->io_rate > 0)
            st->io_slowdown = io_solo / st->io_rate;
    }
    /* The I/O thread's own work needs this share of the GIL's time. */
    double work_units = floor(st->io_work_ns / unit_ns + 0.5);
    st->io_gil = st->io_rate * work_units * unit_ns / 1e9;
    if (st->io_gil > 0.99)
        st->io_gil = 0.99;
    if (cpu_solo > 0) {
        double fair = cpu_solo / n, sum = 0, sum2 = 0;
        st->cpu_fraction = st->share_mean = st->cpu_rate / cpu_solo;
        st->share_min = INFINITY;
        st->share_max = 0;
        for (unsigned i = 0; i < n; i++) {
            double share = st->thread_rate[i] / fair;
            st->share_min = fmin(st->share_min, share);
            st->share_max = fmax(st->share_max, share);
            sum += st->thread_rate[i];
            sum2 += st->thread_rate[i] * st->thread_rate[i];
        }
        st->fair_min = st->share_min / (1 - st->io_gil);
        if (sum2 > 0)
            st->jain = sum * sum / (n * sum2);
    }
}

void gb_matrix_policy(gb_run_t *run, gil_policy_t policy)
{
    extent_t e;
    block_t b;
    gb_step_t st;
    size_t cells[MAX_SHAPES][MAX_N][MAX_CHECKS];

    extent_of(run->opt, &e);
    run_baselines(run, policy, &e, &b, 0);
    for (unsigned i = 0; i < e.nshapes; i++)
        for (unsigned n = 0; n < e.nthreads; n++)
            for (unsigned c = 0; c < e.nchecks; c++) {
                cells[i][n][c] = (size_t)-1;
                if (!cell_exists(e.shapes[i], e.threads[n], e.checks[c]))
                    continue;
                matrix_step(&st, run, policy, GB_K_CONVOY, (int)e.shapes[i], e.threads[n],
                            e.checks[c]);
                cells[i][n][c] = gb_run_step(run, &st);
            }
    run_baselines(run, policy, &e, &b, 1);
    if (run->planning)
        return;

    gb_step_t *steps = run->res.steps;
    for (unsigned i = 0; i < e.nshapes; i++) {
        double io = settle_baseline(&steps[b.io_solo[0][i]], &steps[b.io_solo[1][i]]);
        for (unsigned n = 0; n < e.nthreads; n++)
            for (unsigned c = 0; c < e.nchecks; c++) {
                double cpu = settle_baseline(&steps[b.cpu_solo[0][n][c]],
                                             &steps[b.cpu_solo[1][n][c]]);
                if (cells[i][n][c] != (size_t)-1)
                    derive_cell(&steps[cells[i][n][c]], io, cpu, run->rig.unit_ns);
            }
    }
}

/* ---- across policies ------------------------------------------------------------ */

static const gb_step_t *cpython_cell(const gb_results_t *res, const gb_step_t *st)
{
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *c = &res->steps[i];
        if (c->scenario == GB_SC_MATRIX && c->kind == GB_K_CONVOY &&
            c->policy == GIL_POLICY_CPYTHON && c->shape == st->shape &&
            c->threads == st->threads && c->check_units == st->check_units && c->measured)
            return c;
    }
    return NULL;
}

static int verdict(int applies, double measured, int met)
{
    if (!applies || measured < 0)
        return GB_NA;
    return met ? 1 : 0;
}

/* The goals of issue 9 item 2, for one cell of the priority policy. */
static void judge_cell(gb_step_t *st)
{
    const unsigned n = st->threads;
    double p99 = st->io_count ? st->io_lat.p99_us : INFINITY; /* no round trip: endless */
    st->goal[GB_MG_IO_RATE] = (signed char)verdict(
        n == 1 || n == 4 || n == 8, st->io_fraction, st->io_fraction >= (n == 1 ? 0.5 : 0.25));
    st->goal[GB_MG_IO_P99] = (signed char)verdict(n == 1 || n == 4, st->measured ? 0 : -1,
                                                  p99 <= (n == 1 ? 200 : 1000));
    st->goal[GB_MG_CPU_FAIR] = (signed char)verdict(1, st->fair_min, st->fair_min >= 0.7);
    st->goal[GB_MG_CPU_TIME] =
        (signed char)verdict(1, st->cpu_vs_cpython, st->cpu_vs_cpython <= 1.2);
}

static const gb_matrix_goal_t goal_defs[GB_MG_COUNT] = {
    [GB_MG_IO_RATE] = {"I/O rate", ">= 50% of solo with 1 CPU thread, >= 25% with 4 and 8", 0,
                       0, 0},
    [GB_MG_IO_P99] = {"I/O p99", "<= 200 us with 1 CPU thread, <= 1 ms with 4", 0, 0, 0},
    [GB_MG_CPU_FAIR] = {"CPU fair share",
                        "each CPU thread >= 70% of its fair share of what the I/O thread "
                        "leaves", 0, 0, 0},
    [GB_MG_CPU_TIME] = {"CPU time", "whole-process CPU time <= 1.2x the cpython policy's", 0,
                        0, 0},
};

void gb_matrix_finish(gb_run_t *run)
{
    gb_results_t *res = &run->res;
    if (run->planning)
        return;
    memcpy(res->matrix_goals, goal_defs, sizeof goal_defs);
    res->matrix_ran = 1;
    for (size_t i = 0; i < res->nsteps; i++) {
        gb_step_t *st = &res->steps[i];
        if (st->scenario != GB_SC_MATRIX || st->kind != GB_K_CONVOY || !st->measured)
            continue;
        const gb_step_t *ref = cpython_cell(res, st);
        if (ref != NULL && ref->cpu_s > 0 && st->cpu_s >= 0)
            st->cpu_vs_cpython = st->cpu_s / ref->cpu_s;
        if (st->policy != GIL_POLICY_PRIORITY)
            continue;
        judge_cell(st);
        for (int g = 0; g < GB_MG_COUNT; g++) {
            gb_matrix_goal_t *mg = &res->matrix_goals[g];
            if (st->goal[g] == GB_NA)
                mg->na++;
            else if (st->goal[g])
                mg->met++;
            else
                mg->missed++;
        }
    }
}
