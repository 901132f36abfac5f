/*
 * foreign_thread.c - a C library's own thread calling into the interpreter.
 *
 * The "library" below (a job runner with a worker thread) knows nothing of
 * libgil: it calls plain C callbacks from a thread it created.  The
 * interpreter registers two callbacks with it:
 *
 *   on_progress   called synchronously from the library thread, needs the
 *                 interpreter's state right away: it enters the interpreter
 *                 with gil_ensure / gil_ensure_release (PyGILState_Ensure /
 *                 Release), and a helper inside it nests a second
 *                 gil_ensure, as callbacks calling callbacks do;
 *   on_result     hands a finished job's result to the interpreter without
 *                 waiting for the GIL: gil_add_pending_call queues a call
 *                 that runs at the next check point of whichever thread
 *                 holds the GIL, which stores the result in the
 *                 interpreter's inbox; the interpreter's main thread takes
 *                 it from there.
 *
 * At the end the program checks that every pending call ran exactly once,
 * in order, and that the thread state gil_ensure created is gone.
 *
 *   foreign_thread [JOBS]        (default 2000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gil.h"

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "foreign_thread: %s: %s\n", what, gil_strerror(rc));
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* The library: no libgil in here.                                          */

typedef struct joblib_callbacks {
    void (*on_progress)(void *user, int done, int total);
    void (*on_result)(void *user, int job, int64_t value);
    void *user;
} joblib_callbacks_t;

typedef struct joblib {
    pthread_t thread;
    int njobs;
    int progress_every;
    joblib_callbacks_t cb;
} joblib_t;

/* The "work": a few thousand integer steps per job. */
static int64_t joblib_compute(int job)
{
    uint64_t x = (uint64_t)job + 1;

    for (int i = 0; i < 2000; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return (int64_t)(x >> 33);
}

static void *joblib_worker(void *arg)
{
    joblib_t *lib = arg;

    for (int job = 0; job < lib->njobs; job++) {
        lib->cb.on_result(lib->cb.user, job, joblib_compute(job));
        if ((job + 1) % lib->progress_every == 0)
            lib->cb.on_progress(lib->cb.user, job + 1, lib->njobs);
    }
    return NULL;
}

static int joblib_start(joblib_t *lib, int njobs, const joblib_callbacks_t *cb)
{
    lib->njobs = njobs;
    lib->progress_every = 100;
    lib->cb = *cb;
    return pthread_create(&lib->thread, NULL, joblib_worker, lib);
}

static int joblib_wait(joblib_t *lib)
{
    return pthread_join(lib->thread, NULL);
}

/* ------------------------------------------------------------------------ */
/* The interpreter.                                                         */

typedef struct delivery {
    struct interp *in;
    int job;
    int64_t value;
} delivery_t;

typedef struct interp {
    gil_t *gil;
    pthread_t main_thread;
    int njobs;
    /* Guarded by the GIL. */
    int *inbox;              /* job numbers in the order results arrived */
    int64_t *values;         /* by job number */
    int *runs;               /* how many times each job's call ran */
    int inbox_len;
    int taken;               /* inbox entries the main thread consumed */
    int progress_calls;
    int nested_locked;       /* nested gil_ensure that returned LOCKED */
    int ran_in_main, ran_elsewhere;
    /* Written by the library thread only. */
    delivery_t *deliveries;  /* one per job: the pending calls' arguments */
    long queue_full_retries;
} interp_t;

/* A pending call: runs with the GIL held, in whichever thread holds it. */
static int deliver_result(void *arg)
{
    delivery_t *d = arg;
    interp_t *in = d->in;

    in->values[d->job] = d->value;
    in->runs[d->job]++;
    in->inbox[in->inbox_len++] = d->job;
    if (pthread_equal(pthread_self(), in->main_thread))
        in->ran_in_main++;
    else
        in->ran_elsewhere++;
    return 0;
}

/* on_result, in the library's thread, without the GIL.  The queue is
 * bounded: on GIL_EAGAIN back off and retry, never drop a result. */
static void on_result(void *user, int job, int64_t value)
{
    interp_t *in = user;
    delivery_t *d = &in->deliveries[job];
    int rc;

    d->in = in;
    d->job = job;
    d->value = value;
    while ((rc = gil_add_pending_call(in->gil, deliver_result, d)) == GIL_EAGAIN) {
        in->queue_full_retries++;
        usleep(50);
    }
    check(rc, "gil_add_pending_call");
}

/* Interpreter code a callback runs: it nests a second gil_ensure, which
 * finds the GIL already held by this thread and returns LOCKED. */
static void count_progress(interp_t *in)
{
    gil_ensure_t st;

    check(gil_ensure(in->gil, &st), "gil_ensure (nested)");
    if (st == GIL_ENSURE_LOCKED)
        in->nested_locked++;
    in->progress_calls++;
    check(gil_ensure_release(in->gil, st), "gil_ensure_release (nested)");
}

/* on_progress, in the library's thread: a thread libgil never saw.  The
 * first gil_ensure creates a state for it and takes the GIL; the matching
 * release drops the GIL and deletes that state again. */
static void on_progress(void *user, int done, int total)
{
    interp_t *in = user;
    gil_ensure_t st;

    (void)done;
    (void)total;
    check(gil_ensure(in->gil, &st), "gil_ensure");
    if (st != GIL_ENSURE_UNLOCKED) {
        fprintf(stderr, "foreign_thread: the library thread already held the GIL?\n");
        exit(1);
    }
    count_progress(in);
    check(gil_ensure_release(in->gil, st), "gil_ensure_release");
}

static int count_state(const gil_tstate_t *ts, void *arg)
{
    (void)ts;
    ++*(int *)arg;
    return 0;
}

/* Interpreted work between check points: a loop of "bytecodes". */
static uint64_t interpret_a_little(uint64_t acc)
{
    for (int i = 0; i < 1000; i++)
        acc = acc * 31 + (uint64_t)i;
    return acc;
}

/* The main thread's loop: run bytecode, and at each check point let the
 * pending calls in; consume the inbox until every result arrived. */
static void main_loop(interp_t *in, gil_tstate_t *ts)
{
    uint64_t acc = 0;

    while (in->taken < in->njobs) {
        acc = interpret_a_little(acc);
        check(gil_check(ts), "gil_check");
        while (in->taken < in->inbox_len)
            in->taken++; /* a real interpreter would wake a waiting coroutine */
    }
    if (acc == 42)
        puts("(unlikely)"); /* keep the loop from being optimized away */
}

static int verify(const interp_t *in, int *in_order, int *missing, int *twice)
{
    *in_order = 1;
    *missing = *twice = 0;
    for (int j = 0; j < in->njobs; j++) {
        if (in->inbox[j] != j)
            *in_order = 0;
        if (in->runs[j] == 0)
            ++*missing;
        if (in->runs[j] > 1)
            ++*twice;
        if (in->values[j] != joblib_compute(j))
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    interp_t in;
    gil_config_t cfg;
    gil_tstate_t *ts;
    joblib_t lib;
    joblib_callbacks_t cb = {on_progress, on_result, &in};
    int njobs = 2000;
    char extra;
    int rc, states_after = 0, in_order, missing, twice, values_ok;

    /* -h/--help: the usage on stdout, exit 0; bad usage: on stderr, exit 2. */
    int help = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help || argc > 2 ||
        (argc == 2 && (sscanf(argv[1], "%d%c", &njobs, &extra) != 1 || njobs <= 0))) {
        fprintf(help ? stdout : stderr, "usage: foreign_thread [JOBS > 0]\n");
        return help ? 0 : 2;
    }
    memset(&in, 0, sizeof in);
    in.njobs = njobs;
    in.main_thread = pthread_self();
    in.inbox = calloc((size_t)njobs, sizeof *in.inbox);
    in.values = calloc((size_t)njobs, sizeof *in.values);
    in.runs = calloc((size_t)njobs, sizeof *in.runs);
    in.deliveries = calloc((size_t)njobs, sizeof *in.deliveries);
    if (!in.inbox || !in.values || !in.runs || !in.deliveries) {
        fprintf(stderr, "foreign_thread: out of memory\n");
        return 1;
    }

    /* A small queue, so that the library sometimes finds it full. */
    gil_config_init(&cfg);
    cfg.pending_capacity = 16;
    cfg.name = "foreign";
    check(gil_create(&in.gil, &cfg), "gil_create");
    check(gil_tstate_new(in.gil, "main", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");

    if ((rc = joblib_start(&lib, njobs, &cb)) != 0) {
        fprintf(stderr, "foreign_thread: pthread_create: %s\n", strerror(rc));
        return 1;
    }
    main_loop(&in, ts);

    /* The library thread may be inside on_progress, waiting for the GIL:
     * joining it while holding the GIL would deadlock. */
    GIL_BEGIN_ALLOW_THREADS
    rc = joblib_wait(&lib);
    GIL_END_ALLOW_THREADS
    if (rc != 0 || !gil_held(in.gil)) {
        fprintf(stderr, "foreign_thread: joining the library thread failed\n");
        return 1;
    }
    check(gil_foreach_tstate(in.gil, count_state, &states_after), "gil_foreach_tstate");

    values_ok = verify(&in, &in_order, &missing, &twice) == 0;
    printf("foreign_thread: %d progress callbacks entered through gil_ensure from the "
           "library's thread, %d nested ensures returned LOCKED\n",
           in.progress_calls, in.nested_locked);
    printf("foreign_thread: thread states after the library thread ended: %d "
           "(the state gil_ensure created is gone)\n", states_after);
    printf("foreign_thread: %d results queued as pending calls (%ld retries on a full "
           "queue), %d ran: %d in the main thread, %d in the library thread "
           "during its gil_ensure\n", njobs, in.queue_full_retries, in.inbox_len,
           in.ran_in_main, in.ran_elsewhere);
    printf("foreign_thread: every pending call ran: %s (missing %d, twice %d), in "
           "order: %s, values: %s\n", missing == 0 && twice == 0 ? "yes" : "NO",
           missing, twice, in_order ? "yes" : "NO", values_ok ? "ok" : "WRONG");

    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    check(gil_destroy(in.gil), "gil_destroy");
    free(in.inbox);
    free(in.values);
    free(in.runs);
    free(in.deliveries);
    return missing == 0 && twice == 0 && in_order && values_ok &&
                   in.progress_calls == njobs / 100 && states_after == 1
               ? 0
               : 1;
}
