/* Layer: report: SVG charts of a run's results, drawn by gnuplot.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  Tables: gilbench_report.c; files: gilbench_export.c. */

/*
 * Each chart is a self-contained gnuplot script, DIR/NAME.gp (data inline),
 * run by gnuplot in DIR to draw DIR/NAME.svg; edit the script and run
 * `gnuplot NAME.gp` there to restyle a chart.  gilbench sets every axis range
 * itself, from the data, padded (so no point sits on a border and gnuplot
 * never has to guess an empty range), puts legends outside the plot area,
 * and gives each policy and interpreter its own colour and point type
 * (Okabe-Ito colours, legible on white and for colour-blind readers).
 * gnuplot's stderr is kept and shown only when gnuplot fails.
 */
#include "gilbench_plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- styles ------------------------------------------------------------------- */

/* Okabe-Ito, without its yellow (too light on white). */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#000000"};
/* gnuplot's filled circle, square, triangle up, diamond, triangle down,
 * pentagon, and the open circle. */
static const int point_types[] = {7, 5, 9, 13, 11, 15, 6};
#define NSTYLES (sizeof palette / sizeof palette[0])

gb_style_t gb_policy_style(gil_policy_t policy)
{
    size_t i = (size_t)policy % (NSTYLES - 1); /* black is the interpreters' */
    return (gb_style_t){palette[i], point_types[i]};
}

gb_style_t gb_runtime_style(gb_runtime_t rt)
{
    if (rt == GB_RT_CPYTHON)
        return (gb_style_t){"#000000", 7};
    return (gb_style_t){"#CC79A7", 11};
}

/* ---- ranges ------------------------------------------------------------------- */

/* For a log axis: positive values only. */
static void range_add_log(gb_range_t *r, double v)
{
    if (v > 0)
        gb_range_add(r, v);
}

void gb_set_log_range(FILE *g, const char *axis, gb_range_t r, double fallback_lo,
                      double fallback_hi)
{
    if (r.n == 0) {
        r.lo = fallback_lo;
        r.hi = fallback_hi;
    }
    /* A factor of 1.6 each side leaves room for points and labels, and a
     * range of one value an honest decade around it. */
    fprintf(g, "set %srange [%.6g:%.6g]\n", axis, r.lo / 1.6, r.hi * 1.6);
}

void gb_set_lin_range(FILE *g, const char *axis, gb_range_t r, double fallback_lo,
                      double fallback_hi)
{
    if (r.n == 0) {
        r.lo = fallback_lo;
        r.hi = fallback_hi;
    }
    double pad = (r.hi - r.lo) * 0.08;
    if (pad <= 0)
        pad = r.hi != 0 ? fabs(r.hi) * 0.1 : 1;
    fprintf(g, "set %srange [%.6g:%.6g]\n", axis, r.lo - pad, r.hi + pad);
}

/* ---- charts --------------------------------------------------------------------- */

FILE *gb_chart_begin(gb_chart_t *c, const char *name, int width, int height)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->g = open_memstream(&c->text, &c->len);
    if (c->g == NULL)
        gb_die("out of memory");
    fprintf(c->g, "# gilbench chart: run `gnuplot %s.gp` in this folder to redraw %s.svg\n",
            name, name);
    fprintf(c->g, "set terminal svg size %d,%d dynamic noenhanced font 'sans,12' "
                  "background '#ffffff'\n", width, height);
    fprintf(c->g, "set output '%s.svg'\n", name);
    fprintf(c->g, "set grid lc '#dddddd' lt 1\nset border lc '#444444'\n"
                  "set tics nomirror out\nset key noautotitle\n");
    return c->g;
}

void gb_chart_discard(gb_chart_t *c)
{
    fclose(c->g);
    free(c->text);
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    size_t w = fwrite(text, 1, len, f);
    return (fclose(f) != 0 || w != len) ? -1 : 0;
}

/* Run gnuplot NAME.gp in dir, its stdout and stderr into err (a temporary
 * file).  Returns its exit status, or -1 if it could not be started. */
static int run_gnuplot(const char *dir, const char *script, FILE *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fileno(err), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void show_output(FILE *err)
{
    char buf[4096];
    size_t n;
    rewind(err);
    while ((n = fread(buf, 1, sizeof buf, err)) > 0)
        fwrite(buf, 1, n, stderr);
}

int gb_chart_draw(gb_chart_t *c, const char *dir)
{
    char path[1100], script[80];
    int rc = -1;
    fclose(c->g);
    snprintf(script, sizeof script, "%s.gp", c->name);
    snprintf(path, sizeof path, "%s/%s", dir, script);
    FILE *err = tmpfile();
    if (write_file(path, c->text, c->len) != 0)
        fprintf(stderr, "gilbench: %s: %s\n", path, strerror(errno));
    else if (err == NULL)
        fprintf(stderr, "gilbench: no temporary file for gnuplot's messages: %s\n",
                strerror(errno));
    else if ((rc = run_gnuplot(dir, script, err)) != 0) {
        fprintf(stderr, "gilbench: gnuplot failed drawing %s/%s.svg (status %d):\n", dir,
                c->name, rc);
        show_output(err);
        rc = -1;
    } else {
        printf("chart: %s/%s.svg\n", dir, c->name);
    }
    if (err != NULL)
        fclose(err);
    free(c->text);
    return rc;
}

/* Inline data: "$name << EOD" ... "EOD". */
static void data_begin(FILE *g, const char *name, int n) { fprintf(g, "$%s%d << EOD\n", name, n); }
static void data_end(FILE *g) { fprintf(g, "EOD\n"); }

/* A legend entry without data: a NaN plotted in the style, as a line with
 * points, or as a box. */
static void legend_entry(FILE *g, gb_style_t s, const char *title, int box)
{
    if (box)
        fprintf(g, "NaN with boxes lc rgb '%s' title '%s'", s.colour, title);
    else
        fprintf(g, "NaN with linespoints lw 2 lc rgb '%s' pt %d ps 1.2 title '%s'", s.colour,
                s.point, title);
}

/* ---- convoy: the slowdown by CPU-thread count ----------------------------------------- */

/* The convoy series to draw: the convoy scenario's, or the cpython
 * scenario's model steps if convoy did not run. */
static gb_scenario_t model_convoy_scenario(const gb_results_t *res)
{
    for (size_t i = 0; i < res->nsteps; i++)
        if (res->steps[i].scenario == GB_SC_CONVOY)
            return GB_SC_CONVOY;
    return GB_SC_CPYTHON;
}

typedef struct series {
    char title[64];
    gb_style_t style;
} series_t;

/* Series s: libgil policy s, or interpreter s - GB_MAX_POLICIES. */
static int in_convoy_series(const gb_step_t *st, int s, gb_scenario_t msc)
{
    if (s < GB_MAX_POLICIES)
        return st->runtime == GB_RT_LIBGIL && st->scenario == msc && (int)st->policy == s;
    return st->runtime != GB_RT_LIBGIL && (int)st->runtime == s - GB_MAX_POLICIES;
}

static int plot_convoy(const gb_results_t *res, const char *dir)
{
    gb_scenario_t msc = model_convoy_scenario(res);
    series_t series[GB_MAX_POLICIES + GB_RT_COUNT];
    gb_range_t x = {0}, y = {0};
    uint64_t counts = 0; /* bit n-1: n CPU threads */
    int nseries = 0, no_round_trip = 0;
    gb_chart_t c;
    FILE *g = gb_chart_begin(&c, "convoy", 860, 480);

    for (int s = 0; s < GB_MAX_POLICIES + GB_RT_COUNT; s++) {
        int points = 0;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
            if (st->kind != GB_K_CONVOY || !in_convoy_series(st, s, msc))
                continue;
            if (st->io_slowdown <= 0) {
                no_round_trip |= st->measured;
                continue;
            }
            if (points++ == 0) {
                series_t *se = &series[nseries];
                char label[48];
                gb_step_label(st, label, sizeof label);
                data_begin(g, "s", nseries);
                snprintf(se->title, sizeof se->title, "%s%s (%lu us)",
                         st->runtime == GB_RT_LIBGIL ? "libgil " : "", label, st->interval_us);
                se->style = st->runtime == GB_RT_LIBGIL ? gb_policy_style(st->policy)
                                                        : gb_runtime_style(st->runtime);
            }
            fprintf(g, "%u %.6g\n", st->threads, st->io_slowdown);
            range_add_log(&y, st->io_slowdown);
            gb_range_add(&x, st->threads);
            counts |= 1ull << ((st->threads - 1) % 64);
        }
        if (points) {
            data_end(g);
            nseries++;
        }
    }
    if (nseries == 0) {
        gb_chart_discard(&c);
        return 0;
    }
    range_add_log(&y, 1); /* the reference line */
    fprintf(g, "set title 'Convoy effect: the I/O thread slowed down by CPU-bound threads'\n"
               "set xlabel 'CPU-bound threads beside the I/O thread'\n"
               "set ylabel 'I/O round-trip rate: alone / beside them (log)'\n"
               "set logscale x 2\nset logscale y\nset format y '%%gx'\nset xtics (");
    for (unsigned t = 1, first = 1; t <= 64; t++)
        if (counts & (1ull << (t - 1))) {
            fprintf(g, "%s%u", first ? "" : ", ", t);
            first = 0;
        }
    fprintf(g, ")\n");
    fprintf(g, "set xrange [%.6g:%.6g]\n", x.lo / 1.25, x.hi * 1.25);
    gb_set_log_range(g, "y", y, 0.5, 2);
    fprintf(g, "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc '#777777'\n"
               "set label 'as fast as alone' at graph 0.01, first 1 offset 0,0.7 tc '#555555'\n"
               "set key outside right top vertical Left reverse samplen 2 spacing 1.3\n"
               "set rmargin at screen 0.70\n");
    if (no_round_trip)
        fprintf(g, "set label 'a missing point: no round trip completed in that window' at "
                   "screen 0.99, screen 0.03 right font 'sans,10' tc '#555555'\n");
    fprintf(g, "plot ");
    for (int i = 0; i < nseries; i++)
        fprintf(g, "%s$s%d using 1:2 with linespoints lw 2 lc rgb '%s' pt %d ps 1.2 title '%s'",
                i ? ", " : "", i, series[i].style.colour, series[i].style.point,
                series[i].title);
    fprintf(g, "\n");
    return gb_chart_draw(&c, dir);
}

/* ---- interval: latency and throughput across switch intervals -------------------------- */

/* Per policy (data block $iN), column solid as a solid line, column dashed
 * dashed, in the policy's colour; one legend entry per policy. */
static void plot_solid_dashed(FILE *g, const int *policies, int np, int solid, int dashed)
{
    fprintf(g, "plot ");
    for (int i = 0; i < np; i++) {
        gb_style_t s = gb_policy_style((gil_policy_t)policies[i]);
        fprintf(g, "%s$i%d using 1:%d with linespoints lw 2 lc rgb '%s' pt %d ps 1.2, "
                   "$i%d using 1:%d with linespoints lw 2 dt 2 lc rgb '%s' pt %d ps 1.2, ",
                i ? ", " : "", i, solid, s.colour, s.point, i, dashed, s.colour, s.point);
        legend_entry(g, s, gil_policy_name((gil_policy_t)policies[i]), 0);
    }
    fputs("\n", g);
}

static int plot_interval(const gb_results_t *res, const char *dir)
{
    int policies[GB_MAX_POLICIES], np = 0;
    gb_range_t x = {0}, lat = {0}, pct = {0};
    gb_chart_t c;
    FILE *g = gb_chart_begin(&c, "interval", 1100, 500);

    for (int p = 0; p < GB_MAX_POLICIES; p++) {
        int rows = 0;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
            if (st->scenario != GB_SC_INTERVAL || st->kind != GB_K_CONVOY ||
                (int)st->policy != p)
                continue;
            const gb_step_t *cd = gb_find_sibling(res, st, GB_K_COUNTDOWN, 2);
            double p50 = st->io_count ? st->io_lat.p50_us : NAN;
            double p99 = st->io_count ? st->io_lat.p99_us : NAN;
            double kept = st->cpu_fraction >= 0 ? st->cpu_fraction * 100 : NAN;
            double eff = cd && cd->ratio > 0 ? 100 / cd->ratio : NAN;
            if (rows++ == 0)
                data_begin(g, "i", np);
            fprintf(g, "%lu %.6g %.6g %.6g %.6g\n", st->interval_us, p50, p99, kept, eff);
            gb_range_add(&x, (double)st->interval_us);
            range_add_log(&lat, p50);
            range_add_log(&lat, p99);
            gb_range_add(&pct, kept);
            gb_range_add(&pct, eff);
        }
        if (rows) {
            data_end(g);
            policies[np++] = p;
        }
    }
    if (np == 0) {
        gb_chart_discard(&c);
        return 0;
    }
    gb_range_add(&pct, 0);
    gb_range_add(&pct, 100);
    fprintf(g, "set multiplot layout 1,2 title 'Switch interval: I/O latency against CPU "
               "throughput (1 CPU thread beside the I/O thread)'\n");
    fprintf(g, "set logscale x\nset xlabel 'switch interval (log)'\n"
               "set xtics ('10 us' 10, '100 us' 100, '1 ms' 1000, '5 ms' 5000)\n"
               "set xrange [%.6g:%.6g]\n", x.lo / 1.8, x.hi * 1.8);
    fprintf(g, "set key outside bottom center horizontal samplen 2\n"
               "set bmargin 7\n");
    /* Left: latency, log. */
    fprintf(g, "set logscale y\nset ylabel 'I/O round trip (us, log)'\n"
               "set title 'I/O latency: solid p50, dashed p99'\n");
    gb_set_log_range(g, "y", lat, 10, 1000);
    plot_solid_dashed(g, policies, np, 2, 3);
    /* Right: CPU, linear percent. */
    fprintf(g, "unset logscale y\nset format y '%%g%%%%'\n"
               "set ylabel 'work rate, %% of the rate alone'\n"
               "set title 'CPU throughput: solid CPU thread beside I/O, dashed countdown with 2 "
               "threads'\n");
    gb_set_lin_range(g, "y", pct, 0, 100);
    plot_solid_dashed(g, policies, np, 4, 5);
    fprintf(g, "unset multiplot\n");
    return gb_chart_draw(&c, dir);
}

/* ---- workers: short-task latency, one GIL against two -------------------------------- */

static int plot_workers(const gb_results_t *res, const char *dir)
{
    gb_range_t y = {0};
    char xtics[512] = "";
    size_t xlen = 0;
    int n = 0;
    gb_chart_t c;
    FILE *g = gb_chart_begin(&c, "workers", 900, 460);

    /* Rows: x, plain p50, sharded p50, plain p99, sharded p99. */
    data_begin(g, "w", 0);
    for (int p = 0; p < GB_MAX_POLICIES; p++) {
        const gb_step_t *plain = NULL, *sharded = NULL;
        for (size_t i = 0; i < res->nsteps; i++) {
            const gb_step_t *st = &res->steps[i];
            if (st->scenario != GB_SC_WORKERS || (int)st->policy != p || !st->measured)
                continue;
            if (st->kind == GB_K_WORKERS_PLAIN)
                plain = st;
            else
                sharded = st;
        }
        if (plain == NULL || sharded == NULL)
            continue;
        fprintf(g, "%d %.6g %.6g %.6g %.6g\n", n, plain->short_lat.p50_us,
                sharded->short_lat.p50_us, plain->short_lat.p99_us, sharded->short_lat.p99_us);
        range_add_log(&y, plain->short_lat.p50_us);
        range_add_log(&y, sharded->short_lat.p50_us);
        range_add_log(&y, plain->short_lat.p99_us);
        range_add_log(&y, sharded->short_lat.p99_us);
        xlen += (size_t)snprintf(xtics + xlen, sizeof xtics - xlen, "%s'%s' %d",
                                 xlen ? ", " : "", gil_policy_name((gil_policy_t)p), n);
        n++;
    }
    data_end(g);
    if (n == 0) {
        gb_chart_discard(&c);
        return 0;
    }
    const gb_style_t one = {"#0072B2", 5}, two = {"#E69F00", 5};
    fprintf(g, "set multiplot layout 1,2 title \"Queue workers: latency of the 50 us tasks, "
               "enqueue to done, beside 20 ms and C-extension tasks\\n4 workers on one GIL, or "
               "2 + 2 on two GILs (short tasks | long and C-extension tasks)\"\n");
    fprintf(g, "set style fill solid 0.85 border lc '#333333'\nset boxwidth 0.36\n"
               "set xtics (%s) scale 0\nset xrange [-0.6:%d.6]\nset grid noxtics ytics\n"
               "set logscale y\nset ylabel 'latency (us, log)'\n", xtics, n - 1);
    gb_set_log_range(g, "y", y, 10, 1000);
    fprintf(g, "set key outside bottom center horizontal samplen 2\nset bmargin 5\n");
    for (int panel = 0; panel < 2; panel++) {
        int col = panel ? 4 : 2;
        fprintf(g, "set title '%s'\nplot $w0 using ($1-0.19):%d with boxes lc rgb '%s', "
                   "$w0 using ($1+0.19):%d with boxes lc rgb '%s', "
                   "$w0 using ($1-0.19):%d:(sprintf('%%.0f', $%d)) with labels offset 0,0.6 "
                   "font 'sans,10', "
                   "$w0 using ($1+0.19):%d:(sprintf('%%.0f', $%d)) with labels offset 0,0.6 "
                   "font 'sans,10', ",
                panel ? "p99" : "p50", col, one.colour, col + 1, two.colour, col, col,
                col + 1, col + 1);
        legend_entry(g, one, "one GIL", 1);
        fputs(", ", g);
        legend_entry(g, two, "two GILs", 1);
        fputs("\n", g);
    }
    fprintf(g, "unset multiplot\n");
    return gb_chart_draw(&c, dir);
}

/* ---- all charts ------------------------------------------------------------------------ */

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
    int failed = 0;
    failed |= plot_convoy(res, dir) != 0;
    failed |= plot_interval(res, dir) != 0;
    failed |= plot_workers(res, dir) != 0;
    failed |= gb_plot_matrix(res, dir) != 0;
    return failed ? -1 : 0;
}
