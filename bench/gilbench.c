/*
 * gilbench.c - the convoy benchmark suite: options, scenarios, goals.
 *
 *   gilbench [--scenario NAME[,NAME...]] [--seconds S] [--policy NAME|all]
 *            [--interval US] [--threads LIST] [--json FILE] [--csv FILE]
 *            [--plot DIR] [--trace FILE] [--timeline FILE] [--quiet] [--help]
 *
 * Every scenario is a list of steps (gilbench.h).  main() runs the
 * scenarios twice: a planning pass that only records the steps (to number
 * the progress lines "[k/N]"), then the real pass.  Ratios are always taken
 * against baselines measured in the same run, because the machine this runs
 * on is shared and its absolute speed drifts from minute to minute.
 */
#include "gilbench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

static const char *const scenario_names[GB_SC_COUNT] = {
    [GB_SC_CONVOY] = "convoy",     [GB_SC_COUNTDOWN] = "countdown",
    [GB_SC_INTERVAL] = "interval", [GB_SC_WORKERS] = "workers",
    [GB_SC_CPYTHON] = "cpython",
};

static const char *const runtime_names[GB_RT_COUNT] = {
    [GB_RT_LIBGIL] = "libgil", [GB_RT_CPYTHON] = "cpython", [GB_RT_RUBY] = "ruby"};

static const char *const kind_names[GB_K_COUNT] = {
    [GB_K_IO_ALONE] = "io_alone",   [GB_K_CPU_ALONE] = "cpu_alone",
    [GB_K_CONVOY] = "convoy",       [GB_K_COUNTDOWN] = "countdown",
    [GB_K_WORKERS_PLAIN] = "plain", [GB_K_WORKERS_SHARDED] = "sharded",
};

const char *gb_scenario_name(gb_scenario_t sc) { return scenario_names[sc]; }
const char *gb_runtime_name(gb_runtime_t rt) { return runtime_names[rt]; }
const char *gb_kind_name(gb_kind_t kind) { return kind_names[kind]; }

void gb_step_label(const gb_step_t *st, char *buf, size_t size)
{
    switch (st->runtime) {
    case GB_RT_LIBGIL:
        snprintf(buf, size, "%s", gil_policy_name(st->policy));
        break;
    case GB_RT_CPYTHON:
        snprintf(buf, size, "CPython %s", st->version);
        break;
    default:
        snprintf(buf, size, "Ruby %s", st->version);
        break;
    }
}

void gb_die(const char *fmt, ...)
{
    va_list ap;
    fputs("gilbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A line on stderr, unless --quiet or planning. */
void gb_note(const gb_run_t *run, const char *fmt, ...)
{
    va_list ap;
    if (run->opt->quiet || run->planning)
        return;
    fputs("gilbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- options ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: gilbench [options]\n"
        "\n"
        "Shows what a global interpreter lock does to threads, with libgil as a\n"
        "model of CPython's GIL and, side by side, real CPython and Ruby.\n"
        "\n"
        "Scenarios (--scenario, default all, in this order):\n"
        "  convoy     an I/O thread doing 1-byte round trips with an echo process,\n"
        "             alone and beside 1, 2, 4 CPU-bound threads: how much the\n"
        "             I/O thread slows down (the convoy effect, bpo-7946)\n"
        "  countdown  a fixed amount of CPU work done by one thread, then split\n"
        "             over 2 and 4 threads (Beazley's countdown): what threads cost\n"
        "  interval   convoy (1 CPU thread) and countdown (2 threads) at switch\n"
        "             intervals of 5 ms, 1 ms, 100 us, 10 us: I/O latency traded\n"
        "             against CPU throughput\n"
        "  workers    a pool of 4 queue workers with short, long and C-extension\n"
        "             tasks: short-task latency on one GIL, then sharded over two\n"
        "  cpython    the convoy workload in real CPython (python3) and Ruby, if\n"
        "             installed, next to the model's numbers\n"
        "\n"
        "Options:\n"
        "  --scenario NAME[,NAME]  scenarios to run, or all (default all)\n"
        "  --seconds S      measured window per step (default 1; a step also\n"
        "                   warms up for min(S/10, 0.1) s)\n"
        "  --policy NAME    libgil scheduling policy, or all (default all):");
    for (int p = 0; p < GIL_POLICY_COUNT__; p++)
        if (gil_policy_name((gil_policy_t)p) != NULL)
            fprintf(f, " %s", gil_policy_name((gil_policy_t)p));
    fprintf(f,
        "\n"
        "  --interval US    switch interval for convoy, countdown, workers and\n"
        "                   cpython (default 5000, CPython's); interval sweeps its own\n"
        "  --threads LIST   CPU thread counts, comma-separated (default 1,2,4)\n"
        "  --json FILE      write every step and goal as JSON\n"
        "  --csv FILE       write every measurement as CSV (one value per row)\n"
        "  --plot DIR       draw SVG charts into DIR with gnuplot\n"
        "  --trace FILE     trace the first convoy step's window: Chrome trace JSON\n"
        "                   (open in ui.perfetto.dev or chrome://tracing)\n"
        "  --timeline FILE  the same window's last 50 ms as an SVG timeline\n"
        "  --quiet          no progress lines on stderr\n"
        "  --help           this text\n"
        "\n"
        "Tables go to stdout, progress to stderr.  Exit status 2 on a bad option.\n");
}

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("gilbench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'gilbench --help'.\n", stderr);
    exit(EXIT_USAGE);
}

static void parse_scenarios(gb_options_t *opt, const char *arg)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    opt->scenarios = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            opt->scenarios = (1u << GB_SC_COUNT) - 1;
            continue;
        }
        int found = 0;
        for (int sc = 0; sc < GB_SC_COUNT; sc++)
            if (strcmp(tok, scenario_names[sc]) == 0) {
                opt->scenarios |= 1u << sc;
                found = 1;
            }
        if (!found)
            usage_error("--scenario: unknown scenario '%s' (convoy, countdown, interval, "
                        "workers, cpython, all)", tok);
    }
    if (opt->scenarios == 0)
        usage_error("--scenario: no scenario given");
}

static void parse_policy(gb_options_t *opt, const char *arg)
{
    opt->npolicies = 0;
    if (strcmp(arg, "all") == 0) {
        for (int p = 0; p < GIL_POLICY_COUNT__; p++)
            if (gil_policy_name((gil_policy_t)p) != NULL)
                opt->policies[opt->npolicies++] = (gil_policy_t)p;
        return;
    }
    gil_policy_t p;
    if (gil_policy_from_name(arg, &p) != 0) {
        char known[256] = "";
        size_t len = 0;
        for (int q = 0; q < GIL_POLICY_COUNT__ && len < sizeof known; q++)
            if (gil_policy_name((gil_policy_t)q) != NULL)
                len += (size_t)snprintf(known + len, sizeof known - len, "%s, ",
                                        gil_policy_name((gil_policy_t)q));
        usage_error("--policy: unknown policy '%s' (known: %sall)", arg, known);
    }
    opt->policies[opt->npolicies++] = p;
}

static double parse_seconds(const char *arg)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v > 0) || v > 3600)
        usage_error("--seconds: expected a number of seconds in (0, 3600], got '%s'", arg);
    return v;
}

static unsigned long parse_ulong(const char *opt, const char *arg, unsigned long lo,
                                 unsigned long hi)
{
    char *end;
    errno = 0;
    if (*arg == '-' || *arg == '\0')
        usage_error("%s: expected an integer in [%lu, %lu], got '%s'", opt, lo, hi, arg);
    unsigned long v = strtoul(arg, &end, 10);
    if (errno || *end || v < lo || v > hi)
        usage_error("%s: expected an integer in [%lu, %lu], got '%s'", opt, lo, hi, arg);
    return v;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

static void parse_threads(gb_options_t *opt, const char *arg)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    opt->nthreads = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (opt->nthreads == GB_MAX_THREAD_COUNTS)
            usage_error("--threads: at most %d counts", GB_MAX_THREAD_COUNTS);
        unsigned n = (unsigned)parse_ulong("--threads", tok, 1, GB_MAX_THREADS);
        for (unsigned i = 0; i < opt->nthreads; i++)
            if (opt->threads[i] == n)
                usage_error("--threads: %u given twice", n);
        opt->threads[opt->nthreads++] = n;
    }
    if (opt->nthreads == 0)
        usage_error("--threads: expected a list such as 1,2,4, got '%s'", arg);
    qsort(opt->threads, opt->nthreads, sizeof opt->threads[0], cmp_unsigned);
}

static void parse_options(gb_options_t *opt, int argc, char **argv)
{
    enum { O_SCENARIO = 256, O_SECONDS, O_POLICY, O_INTERVAL, O_THREADS, O_JSON, O_CSV,
           O_PLOT, O_TRACE, O_TIMELINE, O_QUIET, O_HELP };
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, O_SCENARIO},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"policy", required_argument, NULL, O_POLICY},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"threads", required_argument, NULL, O_THREADS},
        {"json", required_argument, NULL, O_JSON},
        {"csv", required_argument, NULL, O_CSV},
        {"plot", required_argument, NULL, O_PLOT},
        {"trace", required_argument, NULL, O_TRACE},
        {"timeline", required_argument, NULL, O_TIMELINE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };

    memset(opt, 0, sizeof *opt);
    opt->scenarios = (1u << GB_SC_COUNT) - 1;
    opt->seconds = 1.0;
    opt->interval_us = GB_DEFAULT_INTERVAL_US;
    parse_policy(opt, "all");
    parse_threads(opt, "1,2,4");

    opterr = 0; /* our own messages */
    for (;;) {
        int c = getopt_long(argc, argv, "", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case O_SCENARIO: parse_scenarios(opt, optarg); break;
        case O_SECONDS: opt->seconds = parse_seconds(optarg); break;
        case O_POLICY: parse_policy(opt, optarg); break;
        case O_INTERVAL:
            opt->interval_us = parse_ulong("--interval", optarg, 1, 10000000);
            break;
        case O_THREADS: parse_threads(opt, optarg); break;
        case O_JSON: opt->json_path = optarg; break;
        case O_CSV: opt->csv_path = optarg; break;
        case O_PLOT: opt->plot_dir = optarg; break;
        case O_TRACE: opt->trace_path = optarg; break;
        case O_TIMELINE: opt->timeline_path = optarg; break;
        case O_QUIET: opt->quiet = 1; break;
        case O_HELP:
            usage(stdout);
            exit(0);
        case ':':
            usage_error("%s needs an argument", argv[optind - 1]);
        default:
            usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
}

/* ---- steps ------------------------------------------------------------------ */

static gb_step_t *step_at(gb_run_t *run, size_t i) { return &run->steps[i]; }

static void step_progress(const gb_run_t *run, const gb_step_t *st)
{
    char label[48], what[32], result[160];
    gb_step_label(st, label, sizeof label);
    switch (st->kind) {
    case GB_K_IO_ALONE: snprintf(what, sizeof what, "io alone"); break;
    case GB_K_CPU_ALONE: snprintf(what, sizeof what, "%u cpu alone", st->threads); break;
    case GB_K_CONVOY: snprintf(what, sizeof what, "io + %u cpu", st->threads); break;
    case GB_K_COUNTDOWN: snprintf(what, sizeof what, "%u thread%s", st->threads,
                                  st->threads == 1 ? "" : "s"); break;
    default: snprintf(what, sizeof what, "%s", gb_kind_name(st->kind)); break;
    }
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
    gb_note(run, "[%2zu/%zu] %-9s %-16s %7luus %-12s %s", run->step_no, run->step_total,
            gb_scenario_name(st->scenario), label, st->interval_us, what, result);
}

/* Record a step and, unless planning, measure it.  Returns its index. */
static size_t run_step(gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt, gil_policy_t policy,
                       gb_kind_t kind, unsigned threads, unsigned long interval_us)
{
    if (run->nsteps == run->capsteps) {
        size_t cap = run->capsteps ? run->capsteps * 2 : 64;
        gb_step_t *p = realloc(run->steps, cap * sizeof *p);
        if (p == NULL)
            gb_die("out of memory");
        run->steps = p;
        run->capsteps = cap;
    }
    size_t idx = run->nsteps++;
    gb_step_t *st = step_at(run, idx);
    memset(st, 0, sizeof *st);
    st->scenario = sc;
    st->runtime = rt;
    st->policy = policy;
    st->kind = kind;
    st->threads = threads;
    st->interval_us = interval_us;
    st->io_slowdown = st->cpu_fraction = st->ratio = -1;
    if (run->planning)
        return idx;

    run->step_no++;
    switch (rt == GB_RT_LIBGIL ? kind : GB_K_COUNT) {
    case GB_K_IO_ALONE:
    case GB_K_CPU_ALONE:
    case GB_K_CONVOY: gb_measure_threads(run, st); break;
    case GB_K_COUNTDOWN: gb_measure_countdown(run, st); break;
    case GB_K_WORKERS_PLAIN:
    case GB_K_WORKERS_SHARDED: gb_measure_workers(run, st); break;
    default:
        if (gb_measure_external(run, st) != 0)
            return idx; /* measured stays 0: reported as failed */
        break;
    }
    st->measured = 1;
    step_progress(run, st);
    return idx;
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
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        if (st->scenario == sc && st->runtime == rt && st->kind == kind &&
            st->threads == threads && st->interval_us == interval_us &&
            (rt != GB_RT_LIBGIL || st->policy == policy))
            return (long)i;
    }
    return -1;
}

static void add_skip(gb_run_t *run, gb_scenario_t sc, gb_runtime_t rt, const char *why)
{
    if (run->nskipped == GB_MAX_SKIPPED)
        return;
    gb_skip_t *s = &run->skipped[run->nskipped++];
    s->scenario = sc;
    s->runtime = rt;
    snprintf(s->reason, sizeof s->reason, "%s", why);
    gb_note(run, "%s: %s skipped: %s", gb_scenario_name(sc),
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
        if (m < 0 || r < 0 || run->ncmp == sizeof run->cmp / sizeof run->cmp[0])
            continue;
        gb_comparison_t *c = &run->cmp[run->ncmp++];
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
        size_t alone = run->nsteps;
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
    gb_goal_t *g = &run->goals[run->ngoals++];
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
    for (unsigned i = 0; i < run->ncmp; i++) {
        const gb_comparison_t *c = &run->cmp[i];
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
             run->nskipped ? "CPython not available" : "--threads does not include 1");
}

static void goal_countdown(gb_run_t *run)
{
    const char *name = "countdown: 2 threads / sequential, cpython policy, 5 ms";
    const char *target = "0.90-1.10";
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
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

/* ---- main ------------------------------------------------------------------- */

static void run_scenarios(gb_run_t *run)
{
    static void (*const per_policy[])(gb_run_t *, gil_policy_t) = {
        [GB_SC_CONVOY] = scenario_convoy,
        [GB_SC_COUNTDOWN] = scenario_countdown,
        [GB_SC_INTERVAL] = scenario_interval,
        [GB_SC_WORKERS] = scenario_workers,
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
        if (!run->planning)
            gb_print_scenario(run, (gb_scenario_t)sc);
    }
}

static void reset_results(gb_run_t *run)
{
    run->nsteps = 0;
    run->ncmp = 0;
    run->ngoals = 0;
    run->nskipped = 0;
}

/* A rough duration, for the header line: window + warm-up per step, plus an
 * interpreter's start-up and a worker pool's drain. */
static double estimate_seconds(const gb_run_t *run)
{
    const double s = run->opt->seconds, w = gb_warmup_seconds(s);
    double total = 0;
    for (size_t i = 0; i < run->nsteps; i++) {
        const gb_step_t *st = &run->steps[i];
        total += st->kind == GB_K_COUNTDOWN ? s : s + w;
        if (st->runtime != GB_RT_LIBGIL)
            total += 0.1;
        if (st->kind == GB_K_WORKERS_PLAIN || st->kind == GB_K_WORKERS_SHARDED)
            total += 0.05;
    }
    return total;
}

int main(int argc, char **argv)
{
    gb_options_t opt;
    gb_run_t run;

    parse_options(&opt, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    memset(&run, 0, sizeof run);
    run.opt = &opt;
    run.echo_fd = -1;

    /* Before any thread exists: the echo process is a plain fork. */
    if (gb_echo_start(&run) != 0)
        gb_die("cannot start the echo process: %s", strerror(errno));
    run.unit_ns = gb_calibrate();

    run.planning = 1;
    run_scenarios(&run);
    run.step_total = run.nsteps;
    double estimate = estimate_seconds(&run);
    reset_results(&run);
    run.planning = 0;

    printf("gilbench: libgil %s, %ld CPUs online, work unit %.1f ns (%u multiply-adds), "
           "%g s per step\n", gil_version_string(), sysconf(_SC_NPROCESSORS_ONLN), run.unit_ns,
           gb_unit_iters, opt.seconds);
    fflush(stdout);
    gb_note(&run, "%zu steps, about %.0f s", run.step_total, estimate);

    run_scenarios(&run);
    goal_fidelity(&run);
    goal_countdown(&run);
    gb_print_goals(&run);

    int status = 0;
    if (opt.json_path && gb_write_json(&run, opt.json_path) != 0)
        status = 1;
    if (opt.csv_path && gb_write_csv(&run, opt.csv_path) != 0)
        status = 1;
    if (opt.plot_dir && gb_plot(&run, opt.plot_dir) != 0)
        status = 1;

    gb_echo_stop(&run);
    free(run.steps);
    return status;
}
