/* Layer: scenarios (the top): options, which steps to run, ratios, goals.
 * Calls measurement (gilbench_measure.h) and report (gilbench_report.h);
 * nothing calls it but main().  Files: gilbench.c, gilbench_scenario.c. */
#ifndef GILBENCH_SCENARIO_H
#define GILBENCH_SCENARIO_H

#include "gilbench_base.h"
#include "gilbench_measure.h"

/* The switch intervals the interval scenario sweeps, in microseconds. */
#define GB_SWEEP_INTERVALS {5000ul, 1000ul, 100ul, 10ul}
#define GB_SWEEP_COUNT 4

/* CPython's default switch interval; the countdown goal is stated for it. */
#define GB_DEFAULT_INTERVAL_US 5000ul

/* Work under the GIL between two round trips of the I/O thread: ~1 us. */
#define GB_IO_WORK_NS 1000.0

typedef struct gb_options {
    unsigned scenarios; /* bit (1u << gb_scenario_t) per selected scenario */
    double seconds;     /* measured window per step */
    gil_policy_t policies[GB_MAX_POLICIES];
    unsigned npolicies;
    unsigned long interval_us;
    unsigned threads[GB_MAX_THREAD_COUNTS]; /* CPU thread counts, ascending */
    unsigned nthreads;
    const char *json_path;
    const char *gbench_path; /* --gbench-json */
    const char *csv_path;
    const char *plot_dir;
    gb_trace_req_t trace;  /* --trace, --timeline: the first convoy step */
    int matrix_full;       /* --matrix full: every cell of convoy-matrix */
    /* --matrix SHAPE[/Ncpu[/CHECK]]: only those cells (and their baselines).
     * matrix_shape: index in gb_shapes, -1 for none chosen; matrix_threads:
     * CPU threads, 0 for 1, 2, 4, 8; matrix_check: units between check
     * points, 0 for both granularities. */
    int matrix_shape;
    unsigned matrix_threads, matrix_check;
    unsigned long io_slice_us; /* --io-slice, 0: the kernel's default */
    int quiet;
} gb_options_t;

typedef struct gb_run {
    const gb_options_t *opt;
    int planning;       /* counting steps: record them, measure nothing */
    size_t step_no;     /* steps done so far */
    size_t step_total;  /* from the planning pass */
    int traced;         /* the --trace step ran */
    gb_rig_t rig;
    gb_results_t res;
} gb_run_t;

/* A step's "what to run" fields, with the defaults (1 us of I/O work, two
 * sections, a check after every unit), everything derived unknown. */
void gb_step_init(gb_step_t *st, gb_scenario_t sc, gb_runtime_t rt, gil_policy_t policy,
                  gb_kind_t kind, unsigned threads, unsigned long interval_us);
/* Record a copy of *proto and, unless planning, measure it (and print its
 * progress line).  Returns its index in run->res.steps. */
size_t gb_run_step(gb_run_t *run, const gb_step_t *proto);

/* ---- gilbench_matrix.c: the convoy-matrix scenario ------------------------------- */
void gb_matrix_policy(gb_run_t *run, gil_policy_t policy); /* one policy's cells */
void gb_matrix_finish(gb_run_t *run); /* across policies: CPU time ratios, goals */

/* Every selected scenario: records (and unless planning, measures and
 * prints) its steps in run->res. */
void gb_run_scenarios(gb_run_t *run);
/* The goals, from the steps measured. */
void gb_judge_goals(gb_run_t *run);
/* Forget the steps, comparisons, goals and skips of the planning pass. */
void gb_reset_results(gb_run_t *run);
/* A rough duration of the steps recorded, for the header line. */
double gb_estimate_seconds(const gb_run_t *run);

#endif /* GILBENCH_SCENARIO_H */
