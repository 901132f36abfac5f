/* Layer: scenarios (the top): the command line and main().
 * Calls the scenarios (gilbench_scenario.c), measurement (the rig) and
 * report (goals, files, charts); nothing calls it. */

/*
 * gilbench.c - the convoy benchmark suite: options and main().
 *
 *   gilbench [--scenario NAME[,NAME...]] [--seconds S] [--policy NAME|all]
 *            [--interval US] [--threads LIST] [--json FILE] [--csv FILE]
 *            [--plot DIR] [--trace FILE] [--timeline FILE] [--quiet] [--help]
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
    for (int p = 0; gil_policy_name((gil_policy_t)p) != NULL; p++)
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
            if (strcmp(tok, gb_scenario_name((gb_scenario_t)sc)) == 0) {
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
        for (int p = 0; gil_policy_name((gil_policy_t)p) != NULL; p++)
            if (opt->npolicies < GB_MAX_POLICIES)
                opt->policies[opt->npolicies++] = (gil_policy_t)p;
        return;
    }
    gil_policy_t p;
    if (gil_policy_from_name(arg, &p) != 0) {
        char known[256] = "";
        size_t len = 0;
        for (int q = 0; gil_policy_name((gil_policy_t)q) != NULL && len < sizeof known; q++)
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
        case O_TRACE: opt->trace.trace_path = optarg; break;
        case O_TIMELINE: opt->trace.timeline_path = optarg; break;
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

int main(int argc, char **argv)
{
    gb_options_t opt;
    gb_run_t run;

    parse_options(&opt, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    memset(&run, 0, sizeof run);
    run.opt = &opt;

    /* Before any thread exists: the echo process is a plain fork. */
    if (gb_rig_start(&run.rig, opt.seconds) != 0)
        gb_die("cannot start the echo process: %s", strerror(errno));
    run.res.seconds = opt.seconds;
    run.res.interval_us = opt.interval_us;
    run.res.unit_ns = run.rig.unit_ns;

    run.planning = 1;
    gb_notes_enable(0);
    gb_run_scenarios(&run);
    run.step_total = run.res.nsteps;
    double estimate = gb_estimate_seconds(&run);
    gb_reset_results(&run);
    run.planning = 0;
    gb_notes_enable(!opt.quiet);

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
    if (opt.csv_path && gb_write_csv(&run.res, opt.csv_path) != 0)
        status = 1;
    if (opt.plot_dir && gb_plot(&run.res, opt.plot_dir) != 0)
        status = 1;

    gb_rig_stop(&run.rig);
    free(run.res.steps);
    return status;
}
