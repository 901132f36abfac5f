/* Layer: base (the bottom): the record of a run, names, messages, clock.
 * Calls libc and libgil only; every other gilbench file may call it.
 * See the map below for the layers above it. */

/*
 * gilbench runs a list of *steps*.  A step is one measurement: a fresh gil_t
 * (or an external interpreter), a set of threads, a warm-up, a measured
 * window.  Calls go one way, down:
 *
 *   scenarios    gilbench.c (options, main) and gilbench_scenario.c (which
 *                steps to run, the ratios between them, the goals): call
 *                measurement and report
 *   measurement  gilbench_work.c, gilbench_workers.c, gilbench_ext.c: run
 *                one step and fill in its measurements (gilbench_measure.h)
 *   report       gilbench_report.c (tables), gilbench_export.c (JSON, CSV),
 *                gilbench_plot.c (gnuplot charts) (gilbench_report.h)
 *   base         gilbench_base.c (this header)
 *
 * Measurement and report sit side by side: neither calls the other.
 * timeline.c (an SVG timeline of a libgil trace) is a leaf beside libgil:
 * it knows only gil.h, and measurement calls it to save a traced window.
 */
#ifndef GILBENCH_BASE_H
#define GILBENCH_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gil.h"

/* Room for every policy libgil has (enumerated with gil_policy_name). */
#define GB_MAX_POLICIES 8
#define GB_MAX_THREAD_COUNTS 8
#define GB_MAX_THREADS 64
#define GB_MAX_GOALS 8
#define GB_MAX_SKIPPED 4

typedef enum gb_scenario {
    GB_SC_CONVOY,
    GB_SC_COUNTDOWN,
    GB_SC_INTERVAL,
    GB_SC_WORKERS,
    GB_SC_CPYTHON,
    GB_SC_COUNT
} gb_scenario_t;

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
    double cpu_s;        /* libgil: CPU time of the whole process (user + sys,
                          * every thread, getrusage RUSAGE_SELF) during the
                          * window; < 0 unknown (interpreters) */
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

/* What a run found: written by the scenarios, read by the report. */
typedef struct gb_results {
    double seconds;           /* the measured window of each step */
    unsigned long interval_us;/* --interval */
    double unit_ns;           /* calibrated duration of one work unit */
    const char *executable;   /* argv[0] */

    gb_step_t *steps;
    size_t nsteps, capsteps;
    gb_comparison_t cmp[2 * GB_MAX_THREAD_COUNTS];
    unsigned ncmp;
    gb_goal_t goals[GB_MAX_GOALS];
    unsigned ngoals;
    gb_skip_t skipped[GB_MAX_SKIPPED];
    unsigned nskipped;
} gb_results_t;

/* ---- names ------------------------------------------------------------------- */
const char *gb_scenario_name(gb_scenario_t sc);
const char *gb_runtime_name(gb_runtime_t rt);
const char *gb_kind_name(gb_kind_t kind);
/* A label for the step's policy column: "cpython" for libgil, or the
 * interpreter ("CPython 3.11.7"). */
void gb_step_label(const gb_step_t *st, char *buf, size_t size);

/* What a step of that kind measures. */
int gb_kind_has_io(gb_kind_t kind);  /* IO_ALONE, CONVOY */
int gb_kind_has_cpu(gb_kind_t kind); /* CPU_ALONE, CONVOY */
int gb_kind_is_workers(gb_kind_t kind);

/* The step of the same scenario, runtime, policy and interval as st with
 * that kind and thread count, or NULL. */
const gb_step_t *gb_find_sibling(const gb_results_t *res, const gb_step_t *st, gb_kind_t kind,
                                 unsigned threads);

/* ---- messages ---------------------------------------------------------------- */
/* "gilbench: ..." on stderr, then exit(1): for failures that are bugs. */
void gb_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* A progress line on stderr, unless notes are off (--quiet, planning). */
void gb_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gb_notes_enable(int on);

/* ---- the clock and the system --------------------------------------------------- */
uint64_t gb_now_ns(void); /* CLOCK_MONOTONIC */
double gb_cpu_seconds(void); /* this process's user + sys time so far */
void gb_sleep_until(uint64_t deadline_ns);
/* 1 if an executable of that name is on PATH. */
int gb_on_path(const char *name);

#endif /* GILBENCH_BASE_H */
