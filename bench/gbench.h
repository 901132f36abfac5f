/*
 * gbench.h - a thin C interface to google-benchmark (1.7.x).
 *
 * google-benchmark is a C++ library; this wrapper lets benchmarks be plain C
 * functions.  A benchmark is a function
 *
 *     static void bm_thing(gbench_state_t *st, void *arg)
 *     {
 *         ...setup...
 *         while (gbench_keep_running(st))
 *             thing();
 *         ...teardown...
 *     }
 *
 * registered with gbench_register("thing", bm_thing, arg) before
 * gbench_run().  Everything google-benchmark's command line offers
 * (--benchmark_filter, --benchmark_format=json, --benchmark_repetitions,
 * ...) keeps working: gbench_initialize passes argv to it.
 *
 * The wrapper also remembers each benchmark's results (real time per
 * iteration, one per repetition), so that a program can compute ratios
 * between benchmarks of the same run (gbench_result_runs).
 */
#ifndef GBENCH_H
#define GBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* benchmark::State, seen from C. */
typedef struct gbench_state gbench_state_t;
/* benchmark::internal::Benchmark (a registration), seen from C. */
typedef struct gbench_bench gbench_bench_t;

typedef void (*gbench_fn_t)(gbench_state_t *st, void *arg);

/* The output format chosen on the command line. */
typedef enum {
    GBENCH_FORMAT_CONSOLE = 0,
    GBENCH_FORMAT_JSON = 1,
    GBENCH_FORMAT_CSV = 2
} gbench_format_t;

/* Counter flags: the subset of benchmark::Counter::Flags worth having. */
typedef enum {
    GBENCH_COUNTER_DEFAULT = 0,       /* shown as set (summed over threads) */
    GBENCH_COUNTER_RATE = 1,          /* divided by the run's duration */
    GBENCH_COUNTER_AVG_ITERATIONS = 2 /* divided by the iteration count */
} gbench_counter_t;

/* ---- set-up (main thread, before gbench_run) --------------------------- */

/* benchmark::Initialize.  Consumes google-benchmark's flags from argv.
 * Returns 0, or -1 after printing a message if an argument is unknown. */
int gbench_initialize(int *argc, char **argv);

/* Register fn(state, arg) under name.  Returns a handle for the setters
 * below.  name is copied. */
gbench_bench_t *gbench_register(const char *name, gbench_fn_t fn, void *arg);

/* Run the benchmark in n threads at once (each calls fn; see
 * gbench_thread_index).  Timing is wall-clock per iteration of all threads
 * together, as google-benchmark reports multi-threaded runs. */
void gbench_set_threads(gbench_bench_t *b, int n);

/* Report and compare wall-clock time instead of the calling thread's CPU
 * time (needed when the benchmark waits for other threads). */
void gbench_use_real_time(gbench_bench_t *b);

/* Run exactly n iterations (once, no estimation run): for counting
 * instructions or system calls per iteration, where the count must not
 * depend on how fast the machine happens to be. */
void gbench_set_iterations(gbench_bench_t *b, int64_t n);

/* ---- running ---------------------------------------------------------- */

/* Runs the registered benchmarks that the command line selects, printing
 * google-benchmark's report in the chosen format.  Returns how many ran. */
size_t gbench_run(void);

/* The format chosen by --benchmark_format (console if none). */
gbench_format_t gbench_format(void);

/* The real time per iteration, in nanoseconds, of each repetition of the
 * benchmark registered as name in the last gbench_run, in the order they
 * ran: stores up to max of them in ns[] and returns how many there were
 * (0 if it did not run: filtered out, or it failed). */
size_t gbench_result_runs(const char *name, double *ns, size_t max);

/* benchmark::Shutdown. */
void gbench_shutdown(void);

/* ---- inside a benchmark function --------------------------------------- */

/* The keep-running loop: true while iterations remain. */
int gbench_keep_running(gbench_state_t *st);
/* The same, n iterations at a time (the loop body then runs n units of work
 * itself; time is reported per unit). */
int gbench_keep_running_batch(gbench_state_t *st, int64_t n);
/* Stop / restart the clock around work that is not to be measured. */
void gbench_pause_timing(gbench_state_t *st);
void gbench_resume_timing(gbench_state_t *st);
/* Set a user counter shown in the report. */
void gbench_set_counter(gbench_state_t *st, const char *name, double value,
                        gbench_counter_t flags);
/* Items per second in the report. */
void gbench_set_items_processed(gbench_state_t *st, int64_t items);
/* This thread's index in [0, gbench_threads()) and the thread count. */
int gbench_thread_index(const gbench_state_t *st);
int gbench_threads(const gbench_state_t *st);
/* Iterations done so far by this thread. */
int64_t gbench_iterations(const gbench_state_t *st);
/* Mark the run as failed with a message; the keep-running loop then ends. */
void gbench_skip_with_error(gbench_state_t *st, const char *message);

#ifdef __cplusplus
}
#endif
#endif /* GBENCH_H */
