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
    GB_SC_MATRIX,  /* convoy-matrix */
    GB_SC_COUNT
} gb_scenario_t;

/* The I/O shapes of the convoy matrix: what the I/O thread does per round
 * trip.  Its work is check-pointed (a check after each ~50 ns unit). */
typedef struct gb_shape {
    const char *name;  /* "1us-2rel" */
    double work_ns;    /* work under the GIL per round trip */
    unsigned sections; /* 1: send and recv in one allow-threads section;
                        * 2: each in its own (released separately) */
    int tcp;           /* 1: TCP over loopback, else the AF_UNIX socketpair */
    int interp_cell;   /* 1: only the cell of 1 CPU thread checking every
                        * unit (the interpreter shape of issue 14) */
} gb_shape_t;

extern const gb_shape_t gb_shapes[];
extern const unsigned gb_nshapes;

/* Goals of the policies issue (issue 9 item 2), judged per matrix cell of
 * the priority policy. */
enum { GB_MG_IO_RATE, GB_MG_IO_P99, GB_MG_CPU_FAIR, GB_MG_CPU_TIME, GB_MG_COUNT };
/* A verdict: GB_NA (no goal for this cell, or not measurable), 0 missed,
 * 1 met. */
#define GB_NA (-1)

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
    int shape;           /* convoy-matrix: index in gb_shapes, else -1 */
    double io_work_ns;   /* I/O thread: work per round trip (default 1 us) */
    unsigned io_sections;/* I/O thread: 1 or 2 allow-threads sections */
    int io_tcp;          /* I/O thread: TCP loopback instead of AF_UNIX */
    unsigned check_units;/* CPU threads: work units between check points */
    int rerun;           /* convoy-matrix: the second run of a baseline */

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
    double thread_rate[GB_MAX_THREADS]; /* each CPU thread's units per second */
    /* Each thread's own view of the window (convoy, io/cpu alone), < 0
     * unknown: the fraction of the window it held the GIL, and the CPU time
     * it used (CLOCK_THREAD_CPUTIME_ID), in seconds. */
    double thread_held[GB_MAX_THREADS], thread_cpu_s[GB_MAX_THREADS];
    double io_held, io_cpu_s;
    double echo_cpu_s;   /* the echo process's CPU time during the window
                          * (/proc/PID/stat utime + stime, clock ticks);
                          * < 0 unknown */
    double cpu_s;        /* libgil: CPU time of the whole process (user + sys,
                          * every thread, getrusage RUSAGE_SELF) during the
                          * window; < 0 unknown (interpreters) */
    gil_stats_t gil;     /* libgil: the counters of the step's GIL(s) */
    char version[32];    /* external runtimes: the interpreter's version */

    /* Derived by the scenario from other steps of the same run. */
    double io_slowdown;  /* I/O alone rate / this rate; < 0 if unknown */
    double cpu_fraction; /* CPU rate / rate without the I/O thread; < 0 unknown */
    double ratio;        /* countdown: elapsed / sequential elapsed; < 0 unknown */

    /* Derived, convoy-matrix (docs/benchmarks.md defines each); < 0 unknown.
     * Solo steps: */
    double solo_rate;    /* the mean of the two runs of this baseline */
    double solo_spread;  /* |first - second| / mean */
    /* Cells: */
    double io_fraction;  /* I/O rate / I/O solo rate */
    double share_min, share_mean, share_max; /* CPU thread rate / (N-thread
                          * solo rate / N) */
    double io_gil;       /* fraction of the window the I/O thread's work needs */
    double fair_min;     /* min share / (1 - io_gil) */
    double jain;         /* Jain's index over the CPU threads' rates */
    double cpu_vs_cpython; /* cpu_s / cpu_s of the cpython policy's cell */
    signed char goal[GB_MG_COUNT]; /* priority cells: GB_NA, 0, 1 */
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

/* One goal of the convoy matrix, over the priority policy's cells. */
typedef struct gb_matrix_goal {
    const char *name;   /* "I/O rate" */
    const char *target; /* ">= 50% of solo (1 CPU thread), >= 25% (4, 8)" */
    unsigned met, missed, na;
} gb_matrix_goal_t;

/* What a run found: written by the scenarios, read by the report. */
typedef struct gb_results {
    double seconds;           /* the measured window of each step */
    unsigned long interval_us;/* --interval */
    double unit_ns;           /* calibrated duration of one work unit */
    unsigned long io_slice_us;/* --io-slice, 0 if not given */
    const char *executable;   /* argv[0] */

    gb_step_t *steps;
    size_t nsteps, capsteps;
    gb_comparison_t cmp[2 * GB_MAX_THREAD_COUNTS];
    unsigned ncmp;
    gb_goal_t goals[GB_MAX_GOALS];
    unsigned ngoals;
    gb_skip_t skipped[GB_MAX_SKIPPED];
    unsigned nskipped;
    gb_matrix_goal_t matrix_goals[GB_MG_COUNT]; /* when the matrix ran */
    int matrix_ran;
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

/* The nominal unit (the calibration aims at 50 ns), for labels that stay
 * the same from run to run. */
#define GB_NOMINAL_UNIT_NS 50.0
/* "50ns" or "5us": the check granularity of a step's CPU threads, nominal. */
void gb_check_label(const gb_step_t *st, char *buf, size_t size);
/* "1us-2rel/4cpu/50ns": a matrix step's cell (without the policy). */
void gb_cell_label(const gb_step_t *st, char *buf, size_t size);

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

/* ---- ranges ------------------------------------------------------------------- */
/* The finite values seen (an axis must show them, a check bounds them). */
typedef struct gb_range {
    double lo, hi;
    int n;
} gb_range_t;

void gb_range_add(gb_range_t *r, double v);

/* ---- the clock and the system --------------------------------------------------- */
uint64_t gb_now_ns(void); /* CLOCK_MONOTONIC */
double gb_cpu_seconds(void); /* this process's user + sys time so far */
void gb_sleep_until(uint64_t deadline_ns);
/* 1 if an executable of that name is on PATH. */
int gb_on_path(const char *name);

#endif /* GILBENCH_BASE_H */
