/* Layer: scenarios (the top): which steps each scenario runs, the ratios
 * between them, the goals.  Calls measurement (gb_measure_step) and report
 * (gb_print_scenario); called by main() only. */

/*
 * Every scenario is a list of steps (gilbench_base.h).  main() runs the
 * scenarios twice: a planning pass that only records the steps (to number
 * the progress lines "[k/N]"), then the real pass.  Ratios are always taken
 * against baselines measured in the same run, because the machine this runs
 * on is shared and its absolute speed drifts from minute to minute.
 */
#include "gilbench_scenario.h"
#include "gilbench_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- steps ------------------------------------------------------------------ */

static gb_step_t *step_at(gb_run_t *run, size_t i) { return &run->res.steps[i]; }

/* What a step runs, for its progress line. */
static void step_what(const gb_step_t *st, char *what, size_t size)
{
    if (st->scenario == GB_SC_MATRIX) {
        gb_cell_label(st, what, size);
        return;
    }
    switch (st->kind) {
    case GB_K_IO_ALONE: snprintf(what, size, "io alone"); break;
    case GB_K_CPU_ALONE: snprintf(what, size, "%u cpu alone", st->threads); break;
    case GB_K_CONVOY: snprintf(what, size, "io + %u cpu", st->threads); break;
    case GB_K_COUNTDOWN: snprintf(what, size, "%u thread%s", st->threads,
                                  st->threads == 1 ? "" : "s"); break;
    default: snprintf(what, size, "%s", gb_kind_name(st->kind)); break;
    }
}

static void step_progress(const gb_run_t *run, const gb_step_t *st)
{
    char label[48], what[40], result[160];
    gb_step_label(st, label, sizeof label);
    step_what(st, what, sizeof what);
    switch (st->kind) {
    case GB_K_IO_ALONE:
    case GB_K_CONVOY: {
        int n = st->io_count
                    ? snprintf(result, sizeof result, "I/O %.0f rt/s, p50 %.1f us", st->io_rate,
                               st->io_lat.p50_us)
                    : snprintf(result, sizeof result, "I/O: no round trip in the window");
        if (st->kind == GB_K_CONVOY && n > 0 && (size_t)n < sizeof result)
            snprintf(result + n, sizeof result - (size_t)n, "; CPU %.3g units/s", st->cpu_rate);
        break;
    }
    case GB_K_CPU_ALONE:
        snprintf(result, sizeof result, "CPU %.3g units/s", st->cpu_rate);
        break;
    case GB_K_COUNTDOWN:
        snprintf(result, sizeof result, "%.3f s", st->elapsed_s);
        break;
    default:
        snprintf(result, sizeof result, "%llu tasks, short p50 %.0f us p99 %.0f us",
                 (unsigned long long)st->tasks, st->short_lat.p50_us, st->short_lat.p99_us);
        break;
    }
    gb_note("[%2zu/%zu] %-9s %-16s %7luus %-12s %s", run->step_no, run->step_total,
            gb_scenario_name(st->scenario), label, st->interval_us, what, result);
}

/* --trace/--timeline record the measured window of the first convoy step of
 * libgil (the I/O thread beside CPU threads: the convoy itself). */
static const gb_trace_req_t *trace_this_step(gb_run_t *run, const gb_step_t *st)
{
    const gb_trace_req_t *t = &run->opt->trace;
    if (!(t->trace_path || t->timeline_path) || run->traced || st->runtime != GB_RT_LIBGIL ||
        st->kind != GB_K_CONVOY)
        return NULL;
    run->traced = 1;
    return t;
}

void gb_step_init(gb_step_t *st, gb_scenario_t sc, gb_runtime_t rt, gil_policy_t policy,
                  gb_kind_t kind, unsigned threads, unsigned long interval_us)
{
    memset(st, 0, sizeof *st);
    st->scenario = sc;
    st->runtime = rt;
    st->policy = policy;
    st->kind = kind;
    st->threads = threads;
    st->interval_us = interval_us;
    st->shape = -1;
    st->io_work_ns = GB_IO_WORK_NS;
    st->io_sections = 2;
    st->check_units = 1;
    st->io_slowdown = st->cpu_fraction = st->ratio = st->cpu_s = st->echo_cpu_s = -1;
    st->solo_rate = st->solo_spread = st->io_fraction = st->io_gil = st->fair_min = -1;
    st->io_held = st->io_cpu_s = -1;
    for (unsigned i = 0; i < GB_MAX_THREADS; i++)
        st->thread_held[i] = st->thread_cpu_s[i] = -1;
    st->share_min = st->share_mean = st->share_max = st->jain = st->cpu_vs_cpython = -1;
    for (int g = 0; g < GB_MG_COUNT; g++)
        st->goal[g] = GB_NA;
}

size_t gb_run_step(gb_run_t *run, const gb_step_t *proto)
{
    if (run->res.nsteps == run->res.capsteps) {
        size_t cap = run->res.capsteps ? run->res.capsteps * 2 : 64;
        gb_step_t *p = realloc(run->res.steps, cap * sizeof *p);
        if (p == NULL)
            gb_die("out of memory");
        run->res.steps = p;
        run->res.capsteps = cap;
    }
    size_t idx = run->res.nsteps++;
    gb_step_t *st = step_at(run, idx);
    *st = *proto;
    if (run->planning)
        return idx;

    run->step_no++;
    if (gb_measure_step(&run->rig, st, trace_this_step(run, st)) != 0)
        return idx; /* measured stays 0: reported as failed */
    step_progress(run, st);
    return idx;
}

/* Record a step and, unless planning, measure it.  Returns its index. */
static size_t run_step(gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt, gil_policy_t policy,
                       gb_kind_t kind, unsigned threads, unsigned long interval_us)
{
    gb_step_t st;
    gb_step_init(&st, sc, rt, policy, kind, threads, interval_us);
    return gb_run_step(run, &st);
}

/* I/O alone rate / this rate.  Unknown (< 0) without a round trip. */
static void derive_slowdown(gb_step_t *st, const gb_step_t *alone)
{
    if (st->measured && alone->measured && st->io_count > 0 && st->io_rate > 0)
        st->io_slowdown = alone->io_rate / st->io_rate;
}

static void derive_cpu_fraction(gb_step_t *st, const gb_step_t *cpu_alone)
{
    if (st->measured && cpu_alone->measured && cpu_alone->cpu_rate > 0)
        st->cpu_fraction = st->cpu_rate / cpu_alone->cpu_rate;
}

static void derive_ratio(gb_step_t *st, const gb_step_t *seq)
{
    if (st->measured && seq->measured && seq->elapsed_s > 0)
        st->ratio = st->elapsed_s / seq->elapsed_s;
}

/* An I/O-alone step and, per CPU thread count, CPU-alone and convoy steps,
 * with the slowdowns and CPU fractions derived.  Used by convoy and, for the
 * interpreters, by cpython.  Returns the index of the I/O-alone step. */
static size_t convoy_series(gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt,
                            gil_policy_t policy, unsigned long interval_us)
{
    const gb_options_t *opt = run->opt;
    size_t alone = run_step(run, sc, rt, policy, GB_K_IO_ALONE, 0, interval_us);
    for (unsigned i = 0; i < opt->nthreads; i++) {
        size_t cpu = run_step(run, sc, rt, policy, GB_K_CPU_ALONE, opt->threads[i], interval_us);
        size_t conv = run_step(run, sc, rt, policy, GB_K_CONVOY, opt->threads[i], interval_us);
        derive_slowdown(step_at(run, conv), step_at(run, alone));
        derive_cpu_fraction(step_at(run, conv), step_at(run, cpu));
    }
    if (step_at(run, alone)->measured)
        step_at(run, alone)->io_slowdown = 1;
    return alone;
}

static void scenario_convoy(gb_run_t *run, gil_policy_t policy)
{
    convoy_series(run, GB_SC_CONVOY, GB_RT_LIBGIL, policy, run->opt->interval_us);
}

static void scenario_countdown(gb_run_t *run, gil_policy_t policy)
{
    const gb_options_t *opt = run->opt;
    size_t seq = run_step(run, GB_SC_COUNTDOWN, GB_RT_LIBGIL, policy, GB_K_COUNTDOWN, 1,
                          opt->interval_us);
    derive_ratio(step_at(run, seq), step_at(run, seq));
    for (unsigned i = 0; i < opt->nthreads; i++) {
        if (opt->threads[i] == 1)
            continue;
        size_t s = run_step(run, GB_SC_COUNTDOWN, GB_RT_LIBGIL, policy, GB_K_COUNTDOWN,
                            opt->threads[i], opt->interval_us);
        derive_ratio(step_at(run, s), step_at(run, seq));
    }
}

/* Baselines once (they do not depend on the interval: nobody contends),
 * then convoy with 1 CPU thread and countdown with 2 threads per interval. */
static void scenario_interval(gb_run_t *run, gil_policy_t policy)
{
    static const unsigned long sweep[GB_SWEEP_COUNT] = GB_SWEEP_INTERVALS;
    const gb_scenario_t sc = GB_SC_INTERVAL;
    const unsigned long base_iv = GB_DEFAULT_INTERVAL_US;
    size_t alone = run_step(run, sc, GB_RT_LIBGIL, policy, GB_K_IO_ALONE, 0, base_iv);
    size_t cpu = run_step(run, sc, GB_RT_LIBGIL, policy, GB_K_CPU_ALONE, 1, base_iv);
    size_t seq = run_step(run, sc, GB_RT_LIBGIL, policy, GB_K_COUNTDOWN, 1, base_iv);

    if (step_at(run, alone)->measured)
        step_at(run, alone)->io_slowdown = 1;
    derive_ratio(step_at(run, seq), step_at(run, seq));
    for (int i = 0; i < GB_SWEEP_COUNT; i++) {
        size_t conv = run_step(run, sc, GB_RT_LIBGIL, policy, GB_K_CONVOY, 1, sweep[i]);
        size_t cd = run_step(run, sc, GB_RT_LIBGIL, policy, GB_K_COUNTDOWN, 2, sweep[i]);
        derive_slowdown(step_at(run, conv), step_at(run, alone));
        derive_cpu_fraction(step_at(run, conv), step_at(run, cpu));
        derive_ratio(step_at(run, cd), step_at(run, seq));
    }
}

static void scenario_workers(gb_run_t *run, gil_policy_t policy)
{
    const unsigned long iv = run->opt->interval_us;
    run_step(run, GB_SC_WORKERS, GB_RT_LIBGIL, policy, GB_K_WORKERS_PLAIN, GB_WORKERS, iv);
    run_step(run, GB_SC_WORKERS, GB_RT_LIBGIL, policy, GB_K_WORKERS_SHARDED, GB_WORKERS, iv);
}

/* The index of a measured step matching the description, or -1. */
static long find_step(const gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt,
                      gil_policy_t policy, gb_kind_t kind, unsigned threads,
                      unsigned long interval_us)
{
    for (size_t i = 0; i < run->res.nsteps; i++) {
        const gb_step_t *st = &run->res.steps[i];
        if (st->scenario == sc && st->runtime == rt && st->kind == kind &&
            st->threads == threads && st->interval_us == interval_us &&
            (rt != GB_RT_LIBGIL || st->policy == policy))
            return (long)i;
    }
    return -1;
}

static void add_skip(gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt, const char *why)
{
    if (run->res.nskipped == GB_MAX_SKIPPED)
        return;
    gb_skip_t *s = &run->res.skipped[run->res.nskipped++];
    s->scenario = sc;
    s->runtime = rt;
    snprintf(s->reason, sizeof s->reason, "%s", why);
    gb_note("%s: %s skipped: %s", gb_scenario_name(sc),
            rt == GB_RT_CPYTHON ? "CPython" : "Ruby", why);
}

/* The model's convoy series under GIL_POLICY_CPYTHON at --interval: the
 * convoy scenario's if it ran with that policy, else measured here. */
static size_t model_series(gb_run_t *run)
{
    long alone = find_step(run, GB_SC_CONVOY, GB_RT_LIBGIL, GIL_POLICY_CPYTHON, GB_K_IO_ALONE,
                           0, run->opt->interval_us);
    if (alone >= 0)
        return (size_t)alone;
    return convoy_series(run, GB_SC_CPYTHON, GB_RT_LIBGIL, GIL_POLICY_CPYTHON,
                         run->opt->interval_us);
}

static void compare(gb_run_t *run, gb_runtime_t rt, size_t model_alone, size_t rt_alone)
{
    const gb_options_t *opt = run->opt;
    const gb_step_t *m0 = step_at(run, model_alone), *r0 = step_at(run, rt_alone);
    for (unsigned i = 0; i < opt->nthreads; i++) {
        long m = find_step(run, m0->scenario, GB_RT_LIBGIL, GIL_POLICY_CPYTHON, GB_K_CONVOY,
                           opt->threads[i], m0->interval_us);
        long r = find_step(run, GB_SC_CPYTHON, rt, 0, GB_K_CONVOY, opt->threads[i],
                           r0->interval_us);
        if (m < 0 || r < 0 || run->res.ncmp == sizeof run->res.cmp / sizeof run->res.cmp[0])
            continue;
        gb_comparison_t *c = &run->res.cmp[run->res.ncmp++];
        c->runtime = rt;
        c->threads = opt->threads[i];
        c->model_slowdown = step_at(run, (size_t)m)->io_slowdown;
        c->runtime_slowdown = step_at(run, (size_t)r)->io_slowdown;
    }
}

static void scenario_cpython(gb_run_t *run)
{
    static const gb_runtime_t runtimes[] = {GB_RT_CPYTHON, GB_RT_RUBY};
    long model = -1;
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++) {
        gb_runtime_t rt = runtimes[i];
        char why[96];
        if (gb_external_available(rt, why, sizeof why) != 0) {
            add_skip(run, GB_SC_CPYTHON, rt, why);
            continue;
        }
        if (model < 0)
            model = (long)model_series(run);
        size_t alone = run->res.nsteps;
        convoy_series(run, GB_SC_CPYTHON, rt, 0, run->opt->interval_us);
        /* By the alone step's index: Ruby reports its own quantum as the
         * interval, so the steps' interval is known only once they ran. */
        compare(run, rt, (size_t)model, alone);
    }
}

/* ---- goals ------------------------------------------------------------------ */

static void add_goal(gb_run_t *run, const char *name, const char *target, double measured,
                     int met, const char *why_not)
{
    gb_goal_t *g = &run->res.goals[run->res.ngoals++];
    g->name = name;
    g->target = target;
    g->measured = measured;
    g->met = met;
    g->why_not = why_not;
}

static void goal_fidelity(gb_run_t *run)
{
    const char *name = "fidelity: model I/O slowdown with 1 CPU thread / CPython's";
    const char *target = "0.5-2";
    if (!(run->opt->scenarios & (1u << GB_SC_CPYTHON))) {
        add_goal(run, name, target, -1, 0, "cpython scenario not run");
        return;
    }
    for (unsigned i = 0; i < run->res.ncmp; i++) {
        const gb_comparison_t *c = &run->res.cmp[i];
        if (c->runtime != GB_RT_CPYTHON || c->threads != 1)
            continue;
        if (c->model_slowdown <= 0 || c->runtime_slowdown <= 0) {
            add_goal(run, name, target, -1, 0, "no round trip completed in a window");
            return;
        }
        double r = c->model_slowdown / c->runtime_slowdown;
        add_goal(run, name, target, r, r >= 0.5 && r <= 2.0, NULL);
        return;
    }
    add_goal(run, name, target, -1, 0,
             run->res.nskipped ? "CPython not available" : "--threads does not include 1");
}

static void goal_countdown(gb_run_t *run)
{
    const char *name = "countdown: 2 threads / sequential, cpython policy, 5 ms";
    const char *target = "0.90-1.10";
    for (size_t i = 0; i < run->res.nsteps; i++) {
        const gb_step_t *st = &run->res.steps[i];
        if (st->runtime == GB_RT_LIBGIL && st->policy == GIL_POLICY_CPYTHON &&
            st->kind == GB_K_COUNTDOWN && st->threads == 2 &&
            st->interval_us == GB_DEFAULT_INTERVAL_US && st->ratio > 0) {
            add_goal(run, name, target, st->ratio, fabs(st->ratio - 1) <= 0.10, NULL);
            return;
        }
    }
    add_goal(run, name, target, -1, 0,
             "needs countdown (--threads with 2, --interval 5000) or interval, "
             "with the cpython policy");
}

/* ---- the run ------------------------------------------------------------------- */

void gb_run_scenarios(gb_run_t *run)
{
    static void (*const per_policy[])(gb_run_t *, gil_policy_t) = {
        [GB_SC_CONVOY] = scenario_convoy,
        [GB_SC_COUNTDOWN] = scenario_countdown,
        [GB_SC_INTERVAL] = scenario_interval,
        [GB_SC_WORKERS] = scenario_workers,
        [GB_SC_MATRIX] = gb_matrix_policy,
    };
    const gb_options_t *opt = run->opt;
    for (int sc = 0; sc < GB_SC_COUNT; sc++) {
        if (!(opt->scenarios & (1u << sc)))
            continue;
        if (sc == GB_SC_CPYTHON)
            scenario_cpython(run);
        else
            for (unsigned p = 0; p < opt->npolicies; p++)
                per_policy[sc](run, opt->policies[p]);
        if (sc == GB_SC_MATRIX)
            gb_matrix_finish(run);
        if (!run->planning)
            gb_print_scenario(&run->res, (gb_scenario_t)sc);
    }
}

void gb_judge_goals(gb_run_t *run)
{
    goal_fidelity(run);
    goal_countdown(run);
}

void gb_reset_results(gb_run_t *run)
{
    run->res.nsteps = 0;
    run->res.ncmp = 0;
    run->res.ngoals = 0;
    run->res.nskipped = 0;
}

/* A rough duration, for the header line: window + warm-up per step, plus an
 * interpreter's start-up and a worker pool's drain. */
double gb_estimate_seconds(const gb_run_t *run)
{
    const double s = run->opt->seconds, w = gb_warmup_seconds(s);
    double total = 0;
    for (size_t i = 0; i < run->res.nsteps; i++) {
        const gb_step_t *st = &run->res.steps[i];
        total += st->kind == GB_K_COUNTDOWN ? s : s + w;
        if (st->runtime != GB_RT_LIBGIL)
            total += 0.1;
        if (st->kind == GB_K_WORKERS_PLAIN || st->kind == GB_K_WORKERS_SHARDED)
            total += 0.05;
    }
    return total;
}

