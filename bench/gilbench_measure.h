/* Layer: measurement: run one step, fill in its measured fields.
 * Called by the scenarios; calls only the base layer, libgil and timeline.c
 * (never scenarios or report).  Files: gilbench_work/_workers/_ext.c. */
#ifndef GILBENCH_MEASURE_H
#define GILBENCH_MEASURE_H

#include <sys/types.h>

#include "gilbench_base.h"

/* Queue workers in the workers scenario (sharded: 2 per GIL). */
#define GB_WORKERS 4

/* What every step is measured with: the echo process at the other end of
 * the I/O thread's socket, the calibrated work unit, the window. */
typedef struct gb_rig {
    int echo_fd;     /* our end of the socketpair to the echo process */
    pid_t echo_pid;
    int echo_tcp_fd; /* TCP loopback to a second echo process; -1 if none */
    pid_t echo_tcp_pid;
    double unit_ns;  /* calibrated duration of one work unit */
    double seconds;  /* the measured window of each step */
    unsigned long io_slice_us; /* --io-slice: the I/O threads' kernel slice
                                  (sched_setattr sched_runtime); 0: the
                                  kernel's default */
} gb_rig_t;

/* Where to save a traced step's window (either path may be NULL). */
typedef struct gb_trace_req {
    const char *trace_path;    /* Chrome trace JSON */
    const char *timeline_path; /* SVG timeline of the last 50 ms */
} gb_trace_req_t;

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

/* Fork the echo process (before any thread exists) and calibrate the work
 * unit.  Returns 0, or -1 with errno set. */
int gb_rig_start(gb_rig_t *rig, double seconds);
void gb_rig_stop(gb_rig_t *rig);

/* The warm-up before each measured window of `seconds`. */
double gb_warmup_seconds(double seconds);

/* Measure st (its "what to run" fields set) in place.  trace: save the
 * window (convoy steps of libgil only), or NULL.  Returns 0, or -1 if an
 * external interpreter failed (st->measured stays 0; a message is on
 * stderr).  Any other failure is a bug and ends the run. */
int gb_measure_step(const gb_rig_t *rig, gb_step_t *st, const gb_trace_req_t *trace);

/* 0 if the runtime can run (interpreter on PATH and script present), else
 * -1 with a reason in why. */
int gb_external_available(gb_runtime_t rt, char *why, size_t size);

/* ---- shared by the measurement files ------------------------------------------- */
gil_t *gb_gil_new(gil_policy_t policy, unsigned long interval_us, const char *name);
gil_tstate_t *gb_tstate_new(gil_t *gil, const char *name);
void gb_tstate_done(gil_tstate_t *ts);
void gb_acquire(gil_tstate_t *ts);
void gb_check(gil_tstate_t *ts);
/* units work units with a check point between each. */
uint64_t gb_work(gil_tstate_t *ts, uint64_t x, uint64_t units);
/* Sorts ns in place. */
void gb_lat_from_samples(gb_lat_t *out, uint64_t *ns, size_t n);

void gb_measure_threads(const gb_rig_t *rig, gb_step_t *st, const gb_trace_req_t *trace);
void gb_measure_countdown(const gb_rig_t *rig, gb_step_t *st);
void gb_measure_workers(const gb_rig_t *rig, gb_step_t *st);
int gb_measure_external(const gb_rig_t *rig, gb_step_t *st);

#endif /* GILBENCH_MEASURE_H */
