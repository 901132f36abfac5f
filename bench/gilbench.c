/* Layer: scenarios (the top): the command line and main().
 * Calls the scenarios (gilbench_scenario.c), measurement (the rig) and
 * report (goals, files, charts); nothing calls it. */

/*
 * gilbench.c - the convoy benchmark suite: options and main().
 *
 *   gilbench [--scenario LIST] [--seconds S] [--policy LIST|all] [--interval US]
 *            [--threads LIST] [--matrix quick|full|CELL] [--json FILE]
 *            [--gbench-json FILE] [--csv FILE] [--plot DIR] [--trace FILE]
 *            [--timeline FILE] [--io-slice US] [--quiet] [-h|--help] [--version]
 */
#include "gilbench_scenario.h"
#include "gilbench_report.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

/* ---- help ------------------------------------------------------------------- */

static void print_policy_names(FILE *f, const char *sep)
{
    for (int p = 0; gil_policy_name((gil_policy_t)p) != NULL; p++)
        fprintf(f, "%s%s", p ? sep : "", gil_policy_name((gil_policy_t)p));
}

/* The manual: gilbench -h, --help. */
static void help(FILE *f)
{
    fprintf(f,
        "NAME\n"
        "    gilbench - what a global interpreter lock does to threads\n"
        "\n"
        "SYNOPSIS\n"
        "    gilbench [--scenario LIST] [--seconds S] [--policy LIST|all] [--interval US]\n"
        "             [--threads LIST] [--matrix quick|full|CELL] [--json FILE]\n"
        "             [--gbench-json FILE] [--csv FILE] [--plot DIR] [--trace FILE]\n"
        "             [--timeline FILE] [--io-slice US] [--quiet]\n"
        "    gilbench -h | --help\n"
        "    gilbench --version\n"
        "\n"
        "DESCRIPTION\n"
        "    Measures libgil, a model of CPython's GIL, under each scheduling policy,\n"
        "    and real CPython and Ruby side by side.  Every step runs a fresh GIL with\n"
        "    its threads, warms up, then measures a window; ratios are taken against\n"
        "    baselines measured in the same run.  Tables go to stdout, one progress\n"
        "    line per step to stderr.\n"
        "\n"
        "SCENARIOS (--scenario, default all, run in this order)\n"
        "    convoy     an I/O thread doing 1-byte round trips with an echo process,\n"
        "               alone and beside 1, 2, 4 CPU-bound threads: how much the\n"
        "               I/O thread slows down (the convoy effect, bpo-7946)\n"
        "    countdown  a fixed amount of CPU work done by one thread, then split\n"
        "               over 2 and 4 threads (Beazley's countdown): what threads cost\n"
        "    interval   convoy (1 CPU thread) and countdown (2 threads) at switch\n"
        "               intervals of 5 ms, 1 ms, 100 us, 10 us: I/O latency traded\n"
        "               against CPU throughput\n"
        "    workers    a pool of 4 queue workers with short, long and C-extension\n"
        "               tasks: short-task latency on one GIL, then sharded over two\n"
        "    cpython    the convoy workload in real CPython (python3) and Ruby, if\n"
        "               installed, next to the model's numbers\n"
        "    convoy-matrix\n"
        "               the convoy under every policy, cell by cell: I/O shapes (0, 1,\n"
        "               10 us of work per round trip; one or two allow-threads\n"
        "               sections; \"interp\", an interpreter's I/O thread over TCP)\n"
        "               beside 1, 2, 4, 8 CPU threads checking every ~50 ns or ~5 us,\n"
        "               each against its own solo baselines; I/O rate, latency, each\n"
        "               CPU thread's share, fairness, CPU time; the goals of PRIORITY\n"
        "\n"
        "OPTIONS\n"
        "    --scenario LIST\n"
        "        Scenarios to run, comma-separated, or all (the default).\n"
        "    --seconds S\n"
        "        The measured window of each step (default 1, at most 3600).  Each\n"
        "        step first warms up for min(S/10, 0.1) s.\n"
        "    --policy LIST|all\n"
        "        libgil scheduling policies, comma-separated, or all (the default):\n"
        "        ");
    print_policy_names(f, ", ");
    fprintf(f,
        ".\n"
        "    --interval US\n"
        "        The switch interval of convoy, countdown, workers and cpython in\n"
        "        microseconds (default 5000, CPython's); interval sweeps its own.\n"
        "    --threads LIST\n"
        "        CPU-thread counts for convoy and cpython, thread counts for\n"
        "        countdown: comma-separated, each 1-%d (default 1,2,4).\n"
        "    --matrix quick|full|CELL\n"
        "        The extent of convoy-matrix: quick (the default: shapes 1us-2rel\n"
        "        and interp, 1 and 4 CPU threads checking every ~50 ns), full\n"
        "        (every shape, 1, 2, 4, 8 threads, both check granularities;\n"
        "        several minutes: make bench-matrix), or the cells CELL names,\n"
        "        SHAPE[/Ncpu[/CHECK]] as the tables label them (0us-2rel,\n"
        "        0us-2rel/4cpu, 0us-2rel/4cpu/50ns; CHECK is 50ns or 5us): to\n"
        "        measure or --trace one cell, which is the first convoy step.\n"
        "    --json FILE\n"
        "        Every step, comparison, skipped runtime and goal as JSON.\n"
        "    --gbench-json FILE\n"
        "        Every figure of every step in google-benchmark's JSON format, so\n"
        "        that its tools/compare.py can diff two runs (Debian:\n"
        "        libbenchmark-tools, /usr/share/benchmark/compare.py).\n"
        "    --csv FILE\n"
        "        Every measured value as CSV, one per row.\n"
        "    --plot DIR\n"
        "        SVG charts into DIR, drawn by gnuplot (without gnuplot: a note).\n"
        "    --trace FILE\n"
        "        Trace the measured window of the first libgil convoy step (of\n"
        "        convoy, interval or cpython) as Chrome trace JSON (open it in\n"
        "        ui.perfetto.dev or chrome://tracing).\n"
        "    --timeline FILE\n"
        "        The same window's last 50 ms as an SVG timeline.\n"
        "    --io-slice US\n"
        "        Ask the kernel for a slice of US microseconds (1-100000) for\n"
        "        the model's I/O thread (sched_setattr, sched_runtime; honoured\n"
        "        for normal threads by Linux 6.12 and later, EEVDF): an\n"
        "        experiment on the kernel's share of the I/O latency, not a\n"
        "        setting of the GIL (docs/policies.md).\n"
        "    --quiet\n"
        "        No progress lines on stderr.\n"
        "    -h, --help\n"
        "        This text, on stdout.\n"
        "    --version\n"
        "        gilbench's and libgil's versions.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  the run completed (a missed goal is reported, not an error)\n"
        "    1  a measurement or an output file failed\n"
        "    2  bad usage: an unknown option, a missing or malformed value, or\n"
        "       --trace/--timeline without a step to trace\n"
        "\n"
        "EXAMPLES\n"
        "    gilbench --scenario convoy --policy cpython,priority --seconds 3\n"
        "    gilbench --gbench-json a.json; gilbench --gbench-json b.json\n"
        "    /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks a.json b.json\n"
        "\n"
        "SEE ALSO\n"
        "    docs/benchmarks.md in the libgil sources.\n",
        GB_MAX_THREADS);
}

/* gilbench's own version: bumped when its options or output formats change. */
#define GILBENCH_VERSION "0.2.0"

static void version(void)
{
    printf("gilbench %s\nlibgil %s\n", GILBENCH_VERSION, gil_version_string());
}

/* ---- options ---------------------------------------------------------------- */

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

/* Call item(opt, token) for each comma-separated item of arg (the value of
 * the option name).  An empty list, an empty item (",,", a leading or a
 * trailing comma) or an overlong item is a usage error. */
static void for_each_item(gb_options_t *opt, const char *name, const char *arg,
                          void (*item)(gb_options_t *, const char *))
{
    if (*arg == '\0')
        usage_error("%s: empty list", name);
    for (const char *p = arg;;) {
        size_t len = strcspn(p, ",");
        char tok[64];
        if (len == 0)
            usage_error("%s: empty item in '%s'", name, arg);
        if (len >= sizeof tok)
            usage_error("%s: item too long in '%s'", name, arg);
        memcpy(tok, p, len);
        tok[len] = '\0';
        item(opt, tok);
        if (p[len] == '\0')
            return;
        p += len + 1;
    }
}

/* A list item about to be added as the count-th of at most max. */
static void check_new_item(const char *name, const char *tok, int repeated, unsigned count,
                           unsigned max)
{
    if (repeated)
        usage_error("%s: %s given twice", name, tok);
    if (count == max)
        usage_error("%s: at most %u items", name, max);
}

static void scenario_item(gb_options_t *opt, const char *tok)
{
    if (strcmp(tok, "all") == 0) {
        opt->scenarios = (1u << GB_SC_COUNT) - 1;
        return;
    }
    for (int sc = 0; sc < GB_SC_COUNT; sc++)
        if (strcmp(tok, gb_scenario_name((gb_scenario_t)sc)) == 0) {
            opt->scenarios |= 1u << sc;
            return;
        }
    usage_error("--scenario: unknown scenario '%s' (convoy, countdown, interval, workers, "
                "cpython, convoy-matrix, all)", tok);
}

static void parse_scenarios(gb_options_t *opt, const char *arg)
{
    opt->scenarios = 0;
    for_each_item(opt, "--scenario", arg, scenario_item);
}

static void policy_item(gb_options_t *opt, const char *tok)
{
    if (strcmp(tok, "all") == 0) {
        opt->npolicies = 0;
        for (int p = 0; gil_policy_name((gil_policy_t)p) != NULL; p++)
            if (opt->npolicies < GB_MAX_POLICIES)
                opt->policies[opt->npolicies++] = (gil_policy_t)p;
        return;
    }
    gil_policy_t p;
    if (gil_policy_from_name(tok, &p) != 0) {
        fprintf(stderr, "gilbench: --policy: unknown policy '%s' (known: ", tok);
        print_policy_names(stderr, ", ");
        usage_error("all)");
    }
    int repeated = 0;
    for (unsigned i = 0; i < opt->npolicies; i++)
        repeated |= opt->policies[i] == p;
    check_new_item("--policy", tok, repeated, opt->npolicies, GB_MAX_POLICIES);
    opt->policies[opt->npolicies++] = p;
}

static void parse_policies(gb_options_t *opt, const char *arg)
{
    opt->npolicies = 0;
    for_each_item(opt, "--policy", arg, policy_item);
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

static void threads_item(gb_options_t *opt, const char *tok)
{
    unsigned n = (unsigned)parse_ulong("--threads", tok, 1, GB_MAX_THREADS);
    int repeated = 0;
    for (unsigned i = 0; i < opt->nthreads; i++)
        repeated |= opt->threads[i] == n;
    check_new_item("--threads", tok, repeated, opt->nthreads, GB_MAX_THREAD_COUNTS);
    opt->threads[opt->nthreads++] = n;
}

static void parse_threads(gb_options_t *opt, const char *arg)
{
    opt->nthreads = 0;
    for_each_item(opt, "--threads", arg, threads_item);
    qsort(opt->threads, opt->nthreads, sizeof opt->threads[0], cmp_unsigned);
}

/* --matrix quick|full|SHAPE[/Ncpu[/CHECK]], CHECK as gb_check_label writes it. */
static void parse_matrix(gb_options_t *opt, const char *arg)
{
    static const unsigned checks[] = {1, 100};
    char shape[32], cpu[16] = "", check[16] = "";
    opt->matrix_full = strcmp(arg, "full") == 0;
    if (opt->matrix_full || strcmp(arg, "quick") == 0)
        return;
    if (sscanf(arg, "%31[^/]/%15[^/]/%15s", shape, cpu, check) < 1)
        usage_error("--matrix: expected quick, full or SHAPE[/Ncpu[/CHECK]], got '%s'", arg);
    for (unsigned s = 0; s < gb_nshapes; s++)
        if (strcmp(gb_shapes[s].name, shape) == 0)
            opt->matrix_shape = (int)s;
    if (opt->matrix_shape < 0)
        usage_error("--matrix: no shape '%s' (0us-1rel, 0us-2rel, 1us-1rel, 1us-2rel, "
                    "10us-1rel, 10us-2rel, interp)", shape);
    if (*cpu) {
        unsigned n = 0;
        char rest[8] = "";
        if (sscanf(cpu, "%ucpu%7s", &n, rest) != 1 || (n != 1 && n != 2 && n != 4 && n != 8))
            usage_error("--matrix: expected 1cpu, 2cpu, 4cpu or 8cpu, got '%s'", cpu);
        opt->matrix_threads = n;
    }
    if (*check) {
        gb_step_t st;
        for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
            char label[16];
            st.check_units = checks[i];
            gb_check_label(&st, label, sizeof label);
            if (strcmp(label, check) == 0)
                opt->matrix_check = checks[i];
        }
        if (!opt->matrix_check)
            usage_error("--matrix: expected the check granularity 50ns or 5us, got '%s'", check);
    }
    if (gb_shapes[opt->matrix_shape].interp_cell &&
        (opt->matrix_threads > 1 || opt->matrix_check > 1))
        usage_error("--matrix: the interp shape has one cell, interp/1cpu/50ns");
}

/* The option argv[optind - 1] named, without any "=value". */
static const char *option_word(char **argv, char *buf, size_t size)
{
    const char *w = argv[optind - 1];
    snprintf(buf, size, "%.*s", (int)strcspn(w, "="), w);
    return buf;
}

static void parse_options(gb_options_t *opt, int argc, char **argv)
{
    enum { O_SCENARIO = 256, O_SECONDS, O_POLICY, O_INTERVAL, O_THREADS, O_MATRIX, O_JSON,
           O_GBENCH, O_CSV, O_PLOT, O_TRACE, O_TIMELINE, O_IO_SLICE, O_QUIET, O_VERSION };
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, O_SCENARIO},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"policy", required_argument, NULL, O_POLICY},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"threads", required_argument, NULL, O_THREADS},
        {"matrix", required_argument, NULL, O_MATRIX},
        {"json", required_argument, NULL, O_JSON},
        {"gbench-json", required_argument, NULL, O_GBENCH},
        {"csv", required_argument, NULL, O_CSV},
        {"plot", required_argument, NULL, O_PLOT},
        {"trace", required_argument, NULL, O_TRACE},
        {"timeline", required_argument, NULL, O_TIMELINE},
        {"io-slice", required_argument, NULL, O_IO_SLICE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    char word[64];

    memset(opt, 0, sizeof *opt);
    opt->scenarios = (1u << GB_SC_COUNT) - 1;
    opt->seconds = 1.0;
    opt->interval_us = GB_DEFAULT_INTERVAL_US;
    parse_policies(opt, "all");
    parse_threads(opt, "1,2,4");
    opt->matrix_shape = -1;

    opterr = 0; /* our own messages; ':' first: a missing value returns ':' */
    for (;;) {
        int index = -1;
        int c = getopt_long(argc, argv, ":h", longopts, &index);
        if (c == -1)
            break;
        /* "--json --csv x.csv" would take "--csv" as the file name. */
        if (optarg != NULL && index >= 0) {
            if (*optarg == '\0')
                usage_error("--%s needs a value", longopts[index].name);
            if (strncmp(optarg, "--", 2) == 0)
                usage_error("--%s needs a value (got the option '%s')", longopts[index].name,
                            optarg);
        }
        switch (c) {
        case O_SCENARIO: parse_scenarios(opt, optarg); break;
        case O_SECONDS: opt->seconds = parse_seconds(optarg); break;
        case O_POLICY: parse_policies(opt, optarg); break;
        case O_INTERVAL:
            opt->interval_us = parse_ulong("--interval", optarg, 1, 10000000);
            break;
        case O_THREADS: parse_threads(opt, optarg); break;
        case O_MATRIX: parse_matrix(opt, optarg); break;
        case O_JSON: opt->json_path = optarg; break;
        case O_GBENCH: opt->gbench_path = optarg; break;
        case O_CSV: opt->csv_path = optarg; break;
        case O_PLOT: opt->plot_dir = optarg; break;
        case O_TRACE: opt->trace.trace_path = optarg; break;
        case O_TIMELINE: opt->trace.timeline_path = optarg; break;
        case O_IO_SLICE: opt->io_slice_us = parse_ulong("--io-slice", optarg, 1, 100000); break;
        case O_QUIET: opt->quiet = 1; break;
        case 'h':
            help(stdout);
            exit(0);
        case O_VERSION:
            version();
            exit(0);
        case ':':
            usage_error("%s needs a value", option_word(argv, word, sizeof word));
        default:
            if (optopt != 0)
                usage_error("unknown option '-%c'", optopt);
            usage_error("unknown option '%s'", option_word(argv, word, sizeof word));
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
}

/* --trace/--timeline trace the first libgil convoy step: is there one? */
static int has_traceable_step(const gb_results_t *res)
{
    for (size_t i = 0; i < res->nsteps; i++)
        if (res->steps[i].runtime == GB_RT_LIBGIL && res->steps[i].kind == GB_K_CONVOY)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    gb_options_t opt;
    gb_run_t run;

    parse_options(&opt, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    memset(&run, 0, sizeof run);
    run.opt = &opt;
    run.res.seconds = opt.seconds;
    run.res.interval_us = opt.interval_us;
    run.res.executable = argv[0];

    /* The planning pass measures nothing: it numbers the steps, and shows
     * whether --trace has a step to trace before anything runs. */
    run.planning = 1;
    gb_notes_enable(0);
    gb_run_scenarios(&run);
    run.step_total = run.res.nsteps;
    double estimate = gb_estimate_seconds(&run);
    if ((opt.trace.trace_path || opt.trace.timeline_path) && !has_traceable_step(&run.res))
        usage_error("--trace/--timeline trace a convoy step of libgil, and the scenarios "
                    "chosen have none (add convoy, interval or cpython to --scenario)");
    gb_reset_results(&run);
    run.planning = 0;
    gb_notes_enable(!opt.quiet);

    /* Before any thread exists: the echo process is a plain fork. */
    if (gb_rig_start(&run.rig, opt.seconds) != 0)
        gb_die("cannot start the echo process: %s", strerror(errno));
    run.res.unit_ns = run.rig.unit_ns;
    run.rig.io_slice_us = run.res.io_slice_us = opt.io_slice_us;

    printf("gilbench: libgil %s, %ld CPUs online, work unit %.1f ns (%u multiply-adds), "
           "%g s per step\n", gil_version_string(), sysconf(_SC_NPROCESSORS_ONLN),
           run.rig.unit_ns, gb_unit_iters, opt.seconds);
    fflush(stdout);
    gb_note("%zu steps, about %.0f s", run.step_total, estimate);

    gb_run_scenarios(&run);
    gb_judge_goals(&run);
    gb_print_goals(&run.res);

    int status = 0;
    if (opt.json_path && gb_write_json(&run.res, opt.json_path) != 0)
        status = 1;
    if (opt.gbench_path && gb_write_gbench_json(&run.res, opt.gbench_path) != 0)
        status = 1;
    if (opt.csv_path && gb_write_csv(&run.res, opt.csv_path) != 0)
        status = 1;
    if (opt.plot_dir && gb_plot(&run.res, opt.plot_dir) != 0)
        status = 1;

    gb_rig_stop(&run.rig);
    free(run.res.steps);
    return status;
}
