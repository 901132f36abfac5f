/* Layer: measurement: the workers step (a queue-worker pool on one GIL or
 * sharded over two).  Called by the scenarios through gb_measure_step;
 * calls only the base layer, gilbench_work.c's helpers and libgil. */

/*
 * gilbench_workers.c - the queue-worker convoy (Celery and the like).
 *
 * A producer that never touches the GIL (the broker) enqueues tasks on an
 * open-loop schedule: exponential inter-arrival times, 95% short tasks
 * (~50 us of work with check points), 4% long tasks (~20 ms with check
 * points), 1% "C-extension" tasks (5 ms holding the GIL without a check
 * point).  The arrival rate offers ~60% of one core, so a single GIL keeps
 * up; what suffers is the short tasks' latency, queued behind long ones.
 *
 * Plain: 4 workers share one GIL.  Sharded: 2 workers on a GIL for short
 * tasks, 2 on another for long and C-extension tasks (the per-interpreter
 * GIL answer: shard workers by task speed).  Both see the same schedule.
 * A worker waits for the queue with the GIL released, as queue.get() does.
 */
#include "gilbench_measure.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_TASK_NS 50e3
#define LONG_TASK_NS 20e6
#define CEXT_TASK_NS 5e6
#define SHARE_LONG 0.04
#define SHARE_CEXT 0.01
#define OFFERED_LOAD 0.6

enum { TASK_SHORT, TASK_LONG, TASK_CEXT };

typedef struct task {
    int kind;
    uint64_t arrival_ns; /* scheduled, relative to the start */
    uint64_t enqueued_ns;
    uint64_t done_ns;
} task_t;

/* An unbounded FIFO (it holds at most every task of the step). */
typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    task_t **items;
    size_t head, tail;
    int closed;
} queue_t;

typedef struct shard {
    gil_t *gil;
    queue_t queue;
} shard_t;

typedef struct worker {
    shard_t *shard;
    pthread_t thread;
    uint64_t units[3]; /* per task kind */
    uint64_t sink;
} worker_t;

static void queue_init(queue_t *q, size_t capacity)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    q->items = malloc((capacity ? capacity : 1) * sizeof *q->items);
    if (q->items == NULL)
        gb_die("out of memory");
    q->head = q->tail = 0;
    q->closed = 0;
}

static void queue_destroy(queue_t *q)
{
    free(q->items);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->mu);
}

static void queue_push(queue_t *q, task_t *t)
{
    pthread_mutex_lock(&q->mu);
    q->items[q->tail++] = t;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
}

static void queue_close(queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
}

/* Blocks; NULL once the queue is closed and empty. */
static task_t *queue_pop(queue_t *q)
{
    task_t *t = NULL;
    pthread_mutex_lock(&q->mu);
    while (q->head == q->tail && !q->closed)
        pthread_cond_wait(&q->nonempty, &q->mu);
    if (q->head != q->tail)
        t = q->items[q->head++];
    pthread_mutex_unlock(&q->mu);
    return t;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double uniform01(uint64_t *s)
{
    return (double)(xorshift(s) >> 11) / 9007199254740992.0; /* 2^53 */
}

static double mean_task_ns(void)
{
    return (1 - SHARE_LONG - SHARE_CEXT) * SHORT_TASK_NS + SHARE_LONG * LONG_TASK_NS +
           SHARE_CEXT * CEXT_TASK_NS;
}

/* The same schedule for every step of a run: a fixed seed. */
static task_t *make_schedule(double seconds, size_t *count, double *rate)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t cap = 1024, n = 0;
    task_t *tasks = malloc(cap * sizeof *tasks);
    double t = 0;

    *rate = OFFERED_LOAD * 1e9 / mean_task_ns();
    if (tasks == NULL)
        gb_die("out of memory");
    for (;;) {
        t += -log(1 - uniform01(&seed)) / *rate;
        if (t >= seconds)
            break;
        if (n == cap) {
            cap *= 2;
            task_t *p = realloc(tasks, cap * sizeof *tasks);
            if (p == NULL)
                gb_die("out of memory");
            tasks = p;
        }
        double r = uniform01(&seed);
        memset(&tasks[n], 0, sizeof tasks[n]);
        tasks[n].kind = r < SHARE_CEXT ? TASK_CEXT : r < SHARE_CEXT + SHARE_LONG ? TASK_LONG
                                                                                  : TASK_SHORT;
        tasks[n].arrival_ns = (uint64_t)(t * 1e9);
        n++;
    }
    *count = n;
    return tasks;
}

/* A C-extension call: holds the GIL for its whole duration, no check point
 * (CPython cannot preempt C code that does not call back into Python). */
static uint64_t cext_call(uint64_t x, uint64_t units)
{
    for (uint64_t i = 0; i < units; i++)
        x = gb_unit(x, gb_unit_iters);
    return x;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    gil_tstate_t *ts = gb_tstate_new(w->shard->gil, "worker");
    uint64_t x = 3;

    gb_acquire(ts);
    for (;;) {
        task_t *t;
        GIL_BEGIN_ALLOW_THREADS
        t = queue_pop(&w->shard->queue);
        GIL_END_ALLOW_THREADS
        if (t == NULL)
            break;
        if (t->kind == TASK_CEXT) {
            x = cext_call(x, w->units[TASK_CEXT]);
            gb_check(ts);
        } else {
            x = gb_work(ts, x, w->units[t->kind]);
        }
        t->done_ns = gb_now_ns();
    }
    gb_tstate_done(ts);
    w->sink = x;
    return NULL;
}

static void summarize(gb_step_t *st, task_t *tasks, size_t n, uint64_t t0)
{
    uint64_t *short_ns = malloc((n ? n : 1) * sizeof *short_ns);
    uint64_t *long_ns = malloc((n ? n : 1) * sizeof *long_ns);
    size_t ns = 0, nl = 0;
    uint64_t last = t0;

    if (short_ns == NULL || long_ns == NULL)
        gb_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        uint64_t lat = tasks[i].done_ns - tasks[i].enqueued_ns;
        if (tasks[i].kind == TASK_SHORT)
            short_ns[ns++] = lat;
        else
            long_ns[nl++] = lat;
        if (tasks[i].done_ns > last)
            last = tasks[i].done_ns;
    }
    gb_lat_from_samples(&st->short_lat, short_ns, ns);
    gb_lat_from_samples(&st->long_lat, long_ns, nl);
    st->tasks = n;
    st->seconds = (double)(last - t0) / 1e9;
    st->tasks_per_s = st->seconds > 0 ? (double)n / st->seconds : 0;
    free(short_ns);
    free(long_ns);
}

void gb_measure_workers(const gb_rig_t *rig, gb_step_t *st)
{
    const int sharded = st->kind == GB_K_WORKERS_SHARDED;
    const unsigned nshards = sharded ? 2 : 1;
    size_t ntasks;
    task_t *tasks = make_schedule(rig->seconds, &ntasks, &st->offered_per_s);
    shard_t shard[2];
    worker_t workers[GB_WORKERS];

    for (unsigned s = 0; s < nshards; s++) {
        shard[s].gil = gb_gil_new(st->policy, st->interval_us, s ? "long" : "short");
        queue_init(&shard[s].queue, ntasks);
    }
    for (unsigned i = 0; i < GB_WORKERS; i++) {
        worker_t *w = &workers[i];
        memset(w, 0, sizeof *w);
        /* Sharded: workers 0-1 on the short-task GIL, 2-3 on the other. */
        w->shard = &shard[sharded && i >= GB_WORKERS / 2];
        w->units[TASK_SHORT] = (uint64_t)(SHORT_TASK_NS / rig->unit_ns);
        w->units[TASK_LONG] = (uint64_t)(LONG_TASK_NS / rig->unit_ns);
        w->units[TASK_CEXT] = (uint64_t)(CEXT_TASK_NS / rig->unit_ns);
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0)
            gb_die("pthread_create: %s", strerror(rc));
    }

    /* The producer: this thread, on the schedule. */
    uint64_t t0 = gb_now_ns();
    double cpu0 = gb_cpu_seconds();
    for (size_t i = 0; i < ntasks; i++) {
        task_t *t = &tasks[i];
        gb_sleep_until(t0 + t->arrival_ns);
        t->enqueued_ns = gb_now_ns();
        queue_push(&shard[sharded && t->kind != TASK_SHORT].queue, t);
    }
    for (unsigned s = 0; s < nshards; s++)
        queue_close(&shard[s].queue);
    for (unsigned i = 0; i < GB_WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    st->cpu_s = gb_cpu_seconds() - cpu0;

    summarize(st, tasks, ntasks, t0);
    /* The stats of the GIL the short tasks ran on. */
    if (gil_stats_get(shard[0].gil, &st->gil) != 0)
        gb_die("gil_stats_get failed");
    for (unsigned s = 0; s < nshards; s++) {
        queue_destroy(&shard[s].queue);
        if (gil_destroy(shard[s].gil) != 0)
            gb_die("gil_destroy failed");
    }
    free(tasks);
}
