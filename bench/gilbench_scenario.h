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
