/* Layer: report: tables, goal lines, JSON, CSV, SVG charts of a run.
 * Called by the scenarios; calls only the base layer (never scenarios or
 * measurement).  Files: gilbench_report.c, _export.c, _plot.c. */
#ifndef GILBENCH_REPORT_H
#define GILBENCH_REPORT_H

#include "gilbench_base.h"

/* ---- gilbench_report.c: stdout ----------------------------------------------- */
void gb_print_scenario(const gb_results_t *res, gb_scenario_t sc);
void gb_print_goals(const gb_results_t *res);

/* ---- gilbench_export.c: files (0, or -1 with a message on stderr) ------------- */
int gb_write_json(const gb_results_t *res, const char *path);
int gb_write_csv(const gb_results_t *res, const char *path);
/* google-benchmark's JSON format, one benchmark per figure of each step. */
int gb_write_gbench_json(const gb_results_t *res, const char *path);

/* ---- gilbench_plot.c: SVG charts into dir (0, or -1 with a message) ----------- */
int gb_plot(const gb_results_t *res, const char *dir);

#endif /* GILBENCH_REPORT_H */
