/* Layer: report: SVG charts of a run's results, drawn by gnuplot.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  Tables: gilbench_report.c; files: gilbench_export.c. */
#include "gilbench_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
static gb_scenario_t model_convoy_scenario(const gb_results_t *res)
{
    for (size_t i = 0; i < res->nsteps; i++)
        if (res->steps[i].scenario == GB_SC_CONVOY)
            return GB_SC_CONVOY;
    return GB_SC_CPYTHON;
}

/* One series per libgil policy and per interpreter: (threads, slowdown). */
static int plot_convoy(const gb_results_t *res, FILE *g, const char *dir)
{
    gb_scenario_t msc = model_convoy_scenario(res);
    char titles[GB_MAX_POLICIES + GB_RT_COUNT][64];
    int nseries = 0;

    for (int s = 0; s < GB_MAX_POLICIES + GB_RT_COUNT; s++) {
        int is_model = s < GB_MAX_POLICIES;
        int points = 0;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
            if (st->kind != GB_K_CONVOY || st->io_slowdown <= 0)
                continue;
            if (is_model ? !(st->runtime == GB_RT_LIBGIL && st->scenario == msc &&
                             (int)st->policy == s)
                         : !(st->runtime != GB_RT_LIBGIL &&
                             (int)st->runtime == s - GB_MAX_POLICIES))
                continue;
            if (points++ == 0) {
                data_begin(g, "s", nseries);
                if (is_model)
                    snprintf(titles[nseries], sizeof titles[0], "libgil, %s policy (%lu us)",
                             gil_policy_name(st->policy), st->interval_us);
                else {
                    char label[48];
                    gb_step_label(st, label, sizeof label);
                    snprintf(titles[nseries], sizeof titles[0], "%s (%lu us)", label,
                             st->interval_us);
                }
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

static int plot_interval(const gb_results_t *res, FILE *g, const char *dir)
{
    int policies[GB_MAX_POLICIES], np = 0;
    for (int p = 0; p < GB_MAX_POLICIES; p++) {
        int rows = 0;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
            if (st->scenario != GB_SC_INTERVAL || st->kind != GB_K_CONVOY ||
                (int)st->policy != p)
                continue;
            const gb_step_t *cd = gb_find_sibling(res, st, GB_K_COUNTDOWN, 2);
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

static int plot_workers(const gb_results_t *res, FILE *g, const char *dir)
{
    int rows = 0;
    data_begin(g, "w", 0);
    for (int p = 0; p < GB_MAX_POLICIES; p++) {
        const gb_step_t *plain = NULL, *sharded = NULL;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
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

int gb_plot(const gb_results_t *res, const char *dir)
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
    static int (*const charts[])(const gb_results_t *, FILE *, const char *) = {
        plot_convoy, plot_interval, plot_workers};
    static const char *const names[] = {"convoy.svg", "interval.svg", "workers.svg"};
    int failed = 0;
    for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
        FILE *g = popen("gnuplot", "w");
        if (g == NULL) {
            fprintf(stderr, "gilbench: cannot run gnuplot: %s\n", strerror(errno));
            return -1;
        }
        int drawn = charts[i](res, g, dir);
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
