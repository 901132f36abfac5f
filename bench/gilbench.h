/*
 * gilbench.h - internals shared by the gilbench sources.
 *
 * gilbench runs a list of *steps*.  A step is one measurement: a fresh gil_t
 * (or an external interpreter), a set of threads, a warm-up, a measured
 * window.  Scenarios (gilbench.c) decide which steps to run and derive the
 * ratios from them; the workload (gilbench_work.c, gilbench_workers.c,
 * gilbench_ext.c) fills in the measurements; gilbench_report.c prints the
 * tables and writes JSON, CSV and SVG.
 */
#ifndef GILBENCH_H
#define GILBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "gil.h"

#define GIL_POLICY_COUNT__ 4 /* until gilbench enumerates policies itself */

#define GB_MAX_THREAD_COUNTS 8
#define GB_MAX_THREADS 64
#define GB_MAX_GOALS 8
#define GB_MAX_SKIPPED 4

/* Queue workers in the workers scenario (sharded: 2 per GIL). */
#define GB_WORKERS 4

/* The switch intervals the interval scenario sweeps, in microseconds. */
#define GB_SWEEP_INTERVALS {5000ul, 1000ul, 100ul, 10ul}
#define GB_SWEEP_COUNT 4

/* CPython's default switch interval; the countdown goal is stated for it. */
#define GB_DEFAULT_INTERVAL_US 5000ul

typedef enum gb_scenario {
    GB_SC_CONVOY,
    GB_SC_COUNTDOWN,
    GB_SC_INTERVAL,
    GB_SC_WORKERS,
    GB_SC_CPYTHON,
    GB_SC_COUNT
} gb_scenario_t;

typedef struct gb_options {
    unsigned scenarios; /* bit (1u << gb_scenario_t) per selected scenario */
    double seconds;     /* measured window per step */
    gil_policy_t policies[GIL_POLICY_COUNT__];
    unsigned npolicies;
    unsigned long interval_us;
    unsigned threads[GB_MAX_THREAD_COUNTS]; /* CPU thread counts, ascending */
    unsigned nthreads;
    const char *json_path;
    const char *csv_path;
    const char *plot_dir;
    const char *trace_path;    /* --trace: Chrome trace JSON of the first convoy step */
    const char *timeline_path; /* --timeline: its SVG timeline */
    int quiet;
} gb_options_t;

/* Who ran a step. */
typedef enum gb_runtime {
    GB_RT_LIBGIL,  /* this library, the model */
    GB_RT_CPYTHON, /* python3 bench/cpython/convoy.py */
    GB_RT_RUBY,    /* ruby bench/ruby/convoy.rb */
    GB_RT_COUNT
} gb_runtime_t;

typedef enum gb_kind {
    GB_K_IO_ALONE,        /* the I/O thread alone */
    GB_K_CPU_ALONE,       /* `threads` CPU threads, no I/O thread */
    GB_K_CONVOY,          /* the I/O thread beside `threads` CPU threads */
    GB_K_COUNTDOWN,       /* a fixed amount of work split over `threads` */
    GB_K_WORKERS_PLAIN,   /* 4 queue workers on one GIL */
    GB_K_WORKERS_SHARDED, /* 2 + 2 workers on two GILs (short | long tasks) */
    GB_K_COUNT
} gb_kind_t;

/* A latency summary in microseconds. */
typedef struct gb_lat {
    uint64_t count;
    double p50_us, p99_us, max_us;
} gb_lat_t;

typedef struct gb_step {
    /* What to run. */
    gb_scenario_t scenario;
    gb_runtime_t runtime;
    gil_policy_t policy; /* GB_RT_LIBGIL only */
    gb_kind_t kind;
    unsigned threads;    /* CPU threads, countdown threads */
    unsigned long interval_us;

    /* Measured. */
    int measured;        /* 0 until the step ran (and in the planning pass) */
    double seconds;      /* the measured window */
    uint64_t io_count;   /* round trips started inside the window */
    double io_rate;      /* round trips per second */
    gb_lat_t io_lat;
    double cpu_rate;     /* work units (loop iterations for interpreters)
                          * per second, all CPU threads together */
    double elapsed_s;    /* countdown: time to finish the fixed work */
    uint64_t tasks;      /* workers: tasks completed */
    double tasks_per_s;  /* workers: completed / (last completion - start) */
    double offered_per_s;/* workers: arrival rate of the schedule */
    gb_lat_t short_lat;  /* workers: short tasks, enqueue -> done */
    gb_lat_t long_lat;   /* workers: long and C-extension tasks */
    gil_stats_t gil;     /* libgil: the counters of the step's GIL(s) */
    char version[32];    /* external runtimes: the interpreter's version */

    /* Derived by the scenario from other steps of the same run. */
    double io_slowdown;  /* I/O alone rate / this rate; < 0 if unknown */
    double cpu_fraction; /* CPU rate / rate without the I/O thread; < 0 unknown */
    double ratio;        /* countdown: elapsed / sequential elapsed; < 0 unknown */
} gb_step_t;

/* The model's slowdown next to a real interpreter's (cpython scenario). */
typedef struct gb_comparison {
    gb_runtime_t runtime;
    unsigned threads;
    double model_slowdown;
    double runtime_slowdown;
} gb_comparison_t;

typedef struct gb_goal {
    const char *name;
    const char *target; /* as printed, e.g. "<= 1.10" */
    double measured;    /* < 0: not measured */
    int met;
    const char *why_not; /* when not measured */
} gb_goal_t;

typedef struct gb_skip {
    gb_scenario_t scenario;
    gb_runtime_t runtime;
    char reason[96];
} gb_skip_t;

typedef struct gb_run {
    const gb_options_t *opt;
    int planning;       /* counting steps: record them, measure nothing */
    size_t step_no;     /* steps done so far */
    size_t step_total;  /* from the planning pass */

    gb_step_t *steps;
    size_t nsteps, capsteps;
    gb_comparison_t cmp[2 * GB_MAX_THREAD_COUNTS];
    unsigned ncmp;
    gb_goal_t goals[GB_MAX_GOALS];
    unsigned ngoals;
    gb_skip_t skipped[GB_MAX_SKIPPED];
    unsigned nskipped;

    int echo_fd;        /* our end of the socketpair to the echo process */
    pid_t echo_pid;
    double unit_ns;     /* calibrated duration of one work unit */
} gb_run_t;

/* ---- gilbench.c ---------------------------------------------------------- */
const char *gb_scenario_name(gb_scenario_t sc);
const char *gb_runtime_name(gb_runtime_t rt);
const char *gb_kind_name(gb_kind_t kind);
/* A label for the step's policy column: "cpython" for libgil, or the
 * interpreter ("CPython 3.11.7"). */
void gb_step_label(const gb_step_t *st, char *buf, size_t size);
void gb_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void gb_note(const gb_run_t *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- gilbench_work.c ----------------------------------------------------- */
/* One work unit: a dependent chain of multiply-adds, ~50 ns once
 * calibrated.  Inline so that a CPU thread's loop is unit, check, unit... */
static inline uint64_t gb_unit(uint64_t x, unsigned iters)
{
    for (unsigned i = 0; i < iters; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}
extern unsigned gb_unit_iters;

uint64_t gb_now_ns(void);
void gb_sleep_until(uint64_t deadline_ns);
double gb_calibrate(void);
int gb_echo_start(gb_run_t *run);
void gb_echo_stop(gb_run_t *run);
gil_t *gb_gil_new(gil_policy_t policy, unsigned long interval_us, const char *name);
gil_tstate_t *gb_tstate_new(gil_t *gil, const char *name);
void gb_tstate_done(gil_tstate_t *ts);
void gb_acquire(gil_tstate_t *ts);
void gb_check(gil_tstate_t *ts);
/* units work units with a check point between each. */
uint64_t gb_work(gil_tstate_t *ts, uint64_t x, uint64_t units);
double gb_warmup_seconds(double seconds);
void gb_lat_from_samples(gb_lat_t *out, uint64_t *ns, size_t n);
void gb_measure_threads(gb_run_t *run, gb_step_t *st);   /* IO_ALONE, CPU_ALONE, CONVOY */
void gb_measure_countdown(gb_run_t *run, gb_step_t *st);

/* ---- gilbench_workers.c -------------------------------------------------- */
void gb_measure_workers(gb_run_t *run, gb_step_t *st);

/* ---- gilbench_ext.c ------------------------------------------------------ */
/* 1 if an executable of that name is on PATH. */
int gb_on_path(const char *name);
/* 0 if the runtime can run (interpreter on PATH and script present), else
 * -1 with a reason in why. */
int gb_external_available(gb_runtime_t rt, char *why, size_t size);
/* 0 on success, -1 (with a message on stderr) if the interpreter failed. */
int gb_measure_external(gb_run_t *run, gb_step_t *st);

/* ---- gilbench_report.c --------------------------------------------------- */
void gb_print_scenario(const gb_run_t *run, gb_scenario_t sc);
void gb_print_goals(const gb_run_t *run);
int gb_write_json(const gb_run_t *run, const char *path);
int gb_write_csv(const gb_run_t *run, const char *path);
int gb_plot(const gb_run_t *run, const char *dir);

#endif /* GILBENCH_H */
