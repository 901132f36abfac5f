/* Layer: report: what the chart files share (gnuplot scripts, ranges,
 * styles).  Included by the report layer's chart files only; calls only
 * the base layer.  Files: gilbench_plot.c, gilbench_matrix_plot.c. */
#ifndef GILBENCH_PLOT_H
#define GILBENCH_PLOT_H

#include "gilbench_report.h"

/* A colour ("#rrggbb") and a gnuplot point type. */
typedef struct gb_style {
    const char *colour;
    int point;
} gb_style_t;

gb_style_t gb_policy_style(gil_policy_t policy);
gb_style_t gb_runtime_style(gb_runtime_t rt);

/* "set Xrange [...]" padded around r (fallback_lo..hi when r is empty), so
 * that no point sits on a border and gnuplot never sees an empty range. */
void gb_set_log_range(FILE *g, const char *axis, gb_range_t r, double fallback_lo,
                      double fallback_hi);
void gb_set_lin_range(FILE *g, const char *axis, gb_range_t r, double fallback_lo,
                      double fallback_hi);

/* A chart: a gnuplot script written into memory, then saved as DIR/NAME.gp
 * and run by gnuplot in DIR to draw DIR/NAME.svg. */
typedef struct gb_chart {
    char name[64];
    FILE *g;
    char *text;
    size_t len;
} gb_chart_t;

/* The script's stream, with the terminal, output and common settings. */
FILE *gb_chart_begin(gb_chart_t *c, const char *name, int width, int height);
/* Save and run the script; 0, or -1 with gnuplot's messages on stderr
 * (shown only when it fails). */
int gb_chart_draw(gb_chart_t *c, const char *dir);
/* Forget a chart that has nothing to draw. */
void gb_chart_discard(gb_chart_t *c);

/* gilbench_matrix_plot.c: the convoy matrix's heat maps, one per figure. */
int gb_plot_matrix(const gb_results_t *res, const char *dir);

#endif /* GILBENCH_PLOT_H */
