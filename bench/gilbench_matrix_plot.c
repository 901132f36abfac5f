/* Layer: report: the convoy matrix as SVG heat maps, one per figure.
 * Called by gb_plot (gilbench_plot.c); calls only the base layer and the
 * chart helpers of gilbench_plot.h. */

/*
 * One map per figure.  Rows: the I/O shapes; columns: per policy, the CPU
 * thread counts at each check granularity.  Every cell shows its value;
 * the colours run from dark (bad) to bright (good) whichever way the
 * figure is better (viridis, legible in grey and for colour-blind
 * readers), and the text is white on the dark half, black on the bright.
 */
#include "gilbench_plot.h"

#include <math.h>
#include <string.h>

typedef struct figure {
    const char *file;      /* matrix-io-fraction */
    const char *title;
    const char *unit;      /* the colour bar's label */
    int higher_is_better;
    int log_scale;
    double scale;          /* value shown = figure * scale */
    const char *format;    /* of a cell's label, on the shown value */
    double (*get)(const gb_step_t *st); /* < 0: unknown */
    double cb_lo, cb_hi;   /* the colour bar spans at least these (shown values),
                            * so that colours compare between runs; 0, 0: none */
    const char *cbtics;    /* the colour bar's tics, or NULL: gnuplot's */
} figure_t;

static double io_fraction(const gb_step_t *st) { return st->io_fraction; }
static double io_p50(const gb_step_t *st) { return st->io_count ? st->io_lat.p50_us : -1; }
static double io_p99(const gb_step_t *st) { return st->io_count ? st->io_lat.p99_us : -1; }
static double share_min(const gb_step_t *st) { return st->share_min; }
static double jain(const gb_step_t *st) { return st->jain; }
static double cpu_time(const gb_step_t *st) { return st->cpu_vs_cpython; }

static const figure_t figures[] = {
    {"matrix-io-fraction", "I/O round-trip rate beside the CPU threads, % of the I/O thread alone",
     "% of solo", 1, 0, 100, "%.0f%%", io_fraction, 0, 100, NULL},
    {"matrix-io-p50", "I/O round trip, median (us)", "us (log)", 0, 1, 1, NULL, io_p50, 0, 0, NULL},
    {"matrix-io-p99", "I/O round trip, 99th percentile (us)", "us (log)", 0, 1, 1, NULL, io_p99,
     0, 0, NULL},
    {"matrix-cpu-share", "The slowest CPU thread's rate, % of its share of the solo rate",
     "% of its solo share", 1, 0, 100, "%.0f%%", share_min, 0, 100, NULL},
    {"matrix-fairness", "Fairness between the CPU threads (Jain's index: 1 = equal)", "Jain",
     1, 0, 1, "%.2f", jain, 0, 1, NULL},
    {"matrix-cpu-time", "Whole-process CPU time / the cpython policy's in the same cell",
     "x cpython (log)", 0, 1, 1, "%.2f", cpu_time, 1, 1,
     "('0.25' 0.25, '0.5' 0.5, '0.7' 0.7, '1' 1, '1.4' 1.4, '2' 2, '4' 4, '8' 8)"},
};

/* Viridis at five points: position 0 is drawn dark. */
#define VIRIDIS "(0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')"

/* Latencies: "180", "5.2k", "52k" (microseconds). */
static void format_value(const figure_t *fig, double v, char *buf, size_t size)
{
    if (fig->format != NULL)
        snprintf(buf, size, fig->format, v);
    else if (v < 1000)
        snprintf(buf, size, "%.0f", v);
    else if (v < 10000)
        snprintf(buf, size, "%.1fk", v / 1000);
    else
        snprintf(buf, size, "%.0fk", v / 1000);
}

/* The matrix's layout: which shapes (rows), policies and columns ran. */
typedef struct layout {
    int shapes[16];        /* row -> shape index */
    unsigned nrows;
    gil_policy_t policies[GB_MAX_POLICIES];
    unsigned npolicies;
    unsigned cols_threads[16], cols_checks[16]; /* column within a policy group */
    unsigned ncols;
} layout_t;

static int find_policy(const layout_t *l, gil_policy_t p)
{
    for (unsigned i = 0; i < l->npolicies; i++)
        if (l->policies[i] == p)
            return (int)i;
    return -1;
}

static void add_column(layout_t *l, unsigned threads, unsigned check)
{
    for (unsigned i = 0; i < l->ncols; i++)
        if (l->cols_threads[i] == threads && l->cols_checks[i] == check)
            return;
    if (l->ncols == 16)
        return;
    /* Ordered by check granularity, then thread count. */
    unsigned at = l->ncols;
    while (at > 0 && (l->cols_checks[at - 1] > check ||
                      (l->cols_checks[at - 1] == check && l->cols_threads[at - 1] > threads))) {
        l->cols_threads[at] = l->cols_threads[at - 1];
        l->cols_checks[at] = l->cols_checks[at - 1];
        at--;
    }
    l->cols_threads[at] = threads;
    l->cols_checks[at] = check;
    l->ncols++;
}

static void layout_of(const gb_results_t *res, layout_t *l)
{
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->scenario != GB_SC_MATRIX || st->kind != GB_K_CONVOY)
            continue;
        int seen = 0;
        for (unsigned r = 0; r < l->nrows; r++)
            seen |= l->shapes[r] == st->shape;
        if (!seen && l->nrows < sizeof l->shapes / sizeof l->shapes[0])
            l->shapes[l->nrows++] = st->shape;
        if (find_policy(l, st->policy) < 0 && l->npolicies < GB_MAX_POLICIES)
            l->policies[l->npolicies++] = st->policy;
        add_column(l, st->threads, st->check_units);
    }
    /* Rows in gb_shapes order, top to bottom. */
    for (unsigned a = 0; a < l->nrows; a++)
        for (unsigned b = a + 1; b < l->nrows; b++)
            if (l->shapes[b] < l->shapes[a]) {
                int t = l->shapes[a];
                l->shapes[a] = l->shapes[b];
                l->shapes[b] = t;
            }
}

/* x of a cell: policy groups of ncols columns, one empty column between. */
static double cell_x(const layout_t *l, unsigned policy_slot, unsigned col)
{
    return policy_slot * (l->ncols + 1.0) + col;
}

/* y of a row: the first shape at the top. */
static double cell_y(const layout_t *l, unsigned row) { return l->nrows - 1.0 - row; }

static int slot_of(const layout_t *l, const gb_step_t *st, unsigned *slot, unsigned *col,
                   unsigned *row)
{
    int p = find_policy(l, st->policy);
    int r = -1, c = -1;
    for (unsigned i = 0; i < l->nrows; i++)
        if (l->shapes[i] == st->shape)
            r = (int)i;
    for (unsigned i = 0; i < l->ncols; i++)
        if (l->cols_threads[i] == st->threads && l->cols_checks[i] == st->check_units)
            c = (int)i;
    if (p < 0 || r < 0 || c < 0)
        return -1;
    *slot = (unsigned)p;
    *col = (unsigned)c;
    *row = (unsigned)r;
    return 0;
}

static void write_axes(FILE *g, const layout_t *l)
{
    fprintf(g, "set xtics scale 0 font 'sans,10' (");
    for (unsigned p = 0; p < l->npolicies; p++)
        for (unsigned c = 0; c < l->ncols; c++) {
            char check[16];
            gb_step_t probe;
            memset(&probe, 0, sizeof probe);
            probe.check_units = l->cols_checks[c];
            gb_check_label(&probe, check, sizeof check);
            fprintf(g, "%s\"%u\\n%s\" %g", p || c ? ", " : "", l->cols_threads[c], check,
                    cell_x(l, p, c));
        }
    fprintf(g, ")\nset ytics scale 0 (");
    for (unsigned r = 0; r < l->nrows; r++)
        fprintf(g, "%s'%s' %g", r ? ", " : "", gb_shapes[l->shapes[r]].name, cell_y(l, r));
    fprintf(g, ")\n");
    for (unsigned p = 0; p < l->npolicies; p++)
        fprintf(g, "set label '%s' at first %g, graph 1.04 center font 'sans,12'\n",
                gil_policy_name(l->policies[p]), cell_x(l, p, 0) + (l->ncols - 1) / 2.0);
    fprintf(g, "set xrange [-0.6:%g]\nset yrange [-0.6:%g]\n",
            cell_x(l, l->npolicies - 1, l->ncols - 1) + 0.6, l->nrows - 0.4);
    fprintf(g, "set xlabel 'CPU threads beside the I/O thread, and how often they check "
               "(every ~50 ns or ~5 us)' offset 0,-0.5\n"
               "set ylabel 'I/O shape'\n"
               "set label \"I/O shapes: work per round trip - 1rel: send and recv in one "
               "allow-threads section, 2rel: each in its own; interp: an interpreter's I/O "
               "thread (1.5 us of\\nwork checked every ~50 ns, send and recv released "
               "separately, TCP loopback) beside 1 CPU thread checking every ~50 ns\" at "
               "screen 0.01, screen 0.075 left font 'sans,9' tc '#555555'\n"
               "unset grid\nset border 0\nset tics nomirror\n");
}

/* The colour bar's range: the values, at least the figure's own span,
 * never empty. */
static gb_range_t cb_range(const figure_t *fig, gb_range_t r)
{
    if (fig->cb_lo < fig->cb_hi || fig->cb_lo > 0) {
        gb_range_add(&r, fig->cb_lo);
        gb_range_add(&r, fig->cb_hi);
    }
    if (r.n == 0) {
        r.lo = fig->log_scale ? 1 : 0;
        r.hi = fig->log_scale ? 10 : 1;
    }
    if (!(r.hi > r.lo)) {
        r.lo = fig->log_scale ? r.lo / 1.5 : r.lo - (r.lo != 0 ? fabs(r.lo) * 0.1 : 1);
        r.hi = fig->log_scale ? r.hi * 1.5 : r.hi + (r.hi != 0 ? fabs(r.hi) * 0.1 : 1);
    }
    return r;
}

static void colour_scale(FILE *g, const figure_t *fig, gb_range_t r)
{
    fprintf(g, "%sset cbrange [%.6g:%.6g]\nset palette defined %s%s\n",
            fig->log_scale ? "set logscale cb\n" : "", r.lo, r.hi, VIRIDIS,
            fig->higher_is_better ? "" : "\nset palette negative");
    if (fig->cbtics != NULL)
        fprintf(g, "set cbtics %s\n", fig->cbtics);
    fprintf(g, "set cblabel '%s' offset -0.5,0\nset colorbox user origin screen 0.895, "
               "screen 0.25 size screen 0.015, screen 0.5\n", fig->unit);
}

/* A value's place on the colour bar, 0 dark to 1 bright, for its text. */
static double brightness(const figure_t *fig, gb_range_t r, double v)
{
    double t;
    if (fig->log_scale)
        t = (log(v) - log(r.lo)) / (log(r.hi) - log(r.lo));
    else
        t = (v - r.lo) / (r.hi - r.lo);
    return fig->higher_is_better ? t : 1 - t;
}

static int plot_figure(const gb_results_t *res, const layout_t *l, const figure_t *fig,
                       const char *dir)
{
    gb_range_t r = {0};
    gb_chart_t c;
    int width = 190 + (int)(l->npolicies * (l->ncols + 1)) * 48 + 130;
    int height = 230 + (int)l->nrows * 44;
    FILE *g = gb_chart_begin(&c, fig->file, width < 700 ? 700 : width, height);

    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        if (st->scenario == GB_SC_MATRIX && st->kind == GB_K_CONVOY && st->measured &&
            fig->get(st) >= 0 && (!fig->log_scale || fig->get(st) > 0))
            gb_range_add(&r, fig->get(st) * fig->scale);
    }
    r = cb_range(fig, r);
    /* Columns: x, y, value, text colour, label; unknown cells apart. */
    fprintf(g, "$cells << EOD\n");
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        unsigned slot, col, row;
        double v = fig->get(st) * fig->scale;
        char text[32];
        if (st->scenario != GB_SC_MATRIX || st->kind != GB_K_CONVOY || !st->measured ||
            fig->get(st) < 0 || (fig->log_scale && !(v > 0)) ||
            slot_of(l, st, &slot, &col, &row) != 0)
            continue;
        format_value(fig, v, text, sizeof text);
        fprintf(g, "%g %g %.6g %d \"%s\"\n", cell_x(l, slot, col), cell_y(l, row), v,
                brightness(fig, r, v) < 0.55 ? 0xffffff : 0x000000, text);
    }
    fprintf(g, "EOD\n$unknown << EOD\n");
    fprintf(g, "-10 -10 \"-\"\n"); /* keeps the block non-empty */
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *st = &res->steps[i];
        unsigned slot, col, row;
        if (st->scenario != GB_SC_MATRIX || st->kind != GB_K_CONVOY ||
            (st->measured && fig->get(st) >= 0 && (!fig->log_scale || fig->get(st) > 0)) ||
            slot_of(l, st, &slot, &col, &row) != 0)
            continue;
        fprintf(g, "%g %g \"%s\"\n", cell_x(l, slot, col), cell_y(l, row),
                !st->measured ? "failed" : st->io_count == 0 && fig->log_scale ? "no rt" : "-");
    }
    fprintf(g, "EOD\n");
    fprintf(g, "set title \"Convoy matrix: %s\\n(%s is better; interval %lu us, %g s per "
               "cell)\" offset 0,1\n",
            fig->title, fig->higher_is_better ? "brighter = higher" : "brighter = lower",
            res->interval_us, res->seconds);
    fprintf(g, "set tmargin 6\nset bmargin 7\nset lmargin 14\nset rmargin at screen 0.86\n");
    write_axes(g, l);
    colour_scale(g, fig, r);
    fprintf(g, "plot $unknown using 1:2:(0.47):(0.45) with boxxyerror fs solid 1.0 noborder "
               "fc rgb '#e0e0e0', "
               "$unknown using 1:2:3 with labels font 'sans,9' tc rgb '#555555', "
               "$cells using 1:2:(0.47):(0.45):3 with boxxyerror fs solid 1.0 noborder "
               "fc palette, "
               "$cells using 1:2:5:4 with labels font 'sans,10' tc rgb variable\n");
    return gb_chart_draw(&c, dir);
}

int gb_plot_matrix(const gb_results_t *res, const char *dir)
{
    layout_t l;
    int failed = 0;
    layout_of(res, &l);
    if (l.nrows == 0 || l.ncols == 0 || l.npolicies == 0)
        return 0;
    for (size_t f = 0; f < sizeof figures / sizeof figures[0]; f++)
        failed |= plot_figure(res, &l, &figures[f], dir) != 0;
    return failed ? -1 : 0;
}
