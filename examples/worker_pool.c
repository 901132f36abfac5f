/*
 * worker_pool.c - a thread-based worker pool under a GIL, with per-task
 * latency monitoring, and a serial queue that gives lock-free access to a
 * shared object.
 *
 * Part 1, the pool.  Eight interpreter threads take tasks from a queue (a
 * mutex + condvar, waited on WITHOUT the GIL, like Python's queue.Queue).
 * The main thread submits a short task every 500 us and records, for every
 * task, the time from when it was due to its completion.  Three runs:
 *
 *   short tasks only         the baseline;
 *   + long tasks             two CPU-heavy tasks in interpreted code: short
 *                            tasks now wait for drop requests (the switch
 *                            interval) and complete in bursts;
 *   + long tasks in C        the same work in a C extension that holds the
 *                            GIL with no check point: every short task
 *                            waits for a whole chunk of it.
 *
 * This is what operators of queue workers (Celery and the like) see: watch
 * task latency, and shard workers by task speed.
 *
 * Part 2, the serial queue.  Four threads deposit into a ledger.  A deposit
 * is read-modify-write with a check point inside (interpreted code between
 * the read and the write), so done directly from four threads, updates get
 * lost whenever the GIL switches in between.  Sent through a queue with a
 * single consumer thread, the ledger is touched by one thread only and
 * needs no lock at all.
 *
 *   worker_pool [SHORT_TASKS]        (default 200)
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gil.h"

#define POOL_WORKERS 8
#define LONG_TASKS 2
#define SHORT_UNITS 20000L     /* interpreted steps of a short task */
#define LONG_UNITS 60000000L   /* of a long task */
#define CHECK_EVERY 100        /* steps between check points */
#define C_CHUNK_UNITS 10000000L /* a long task's steps per extension call */
#define SUBMIT_GAP_US 500

#define DEPOSITORS 4
#define DEPOSITS 20000         /* per depositor */
#define ACCOUNTS 8

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "worker_pool: %s: %s\n", what, gil_strerror(rc));
        exit(1);
    }
}

static void check_errno(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "worker_pool: %s: %s\n", what, strerror(rc));
        exit(1);
    }
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, "worker_pool: out of memory\n");
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* The interpreter's two kinds of code                                      */

/* Interpreted code: `units` steps with a check point every CHECK_EVERY,
 * where a waiting thread can get the GIL. */
static uint64_t interpret(gil_tstate_t *ts, long units, uint64_t acc)
{
    for (long i = 0; i < units; i++) {
        acc = acc * 6364136223846793005u + (uint64_t)i;
        if (i % CHECK_EVERY == 0)
            check(gil_check(ts), "gil_check");
    }
    return acc;
}

/* A C extension that holds the GIL and never reaches a check point. */
static uint64_t c_extension_holding(long units, uint64_t acc)
{
    for (long i = 0; i < units; i++)
        acc = acc * 6364136223846793005u + (uint64_t)i;
    return acc;
}

/* ------------------------------------------------------------------------ */
/* A blocking queue, waited on without the GIL                              */

typedef struct item {
    struct item *next;
} item_t;

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    item_t *head, *tail;
    int closed;
} queue_t;

static void queue_init(queue_t *q)
{
    memset(q, 0, sizeof *q);
    check_errno(pthread_mutex_init(&q->mu, NULL), "pthread_mutex_init");
    check_errno(pthread_cond_init(&q->nonempty, NULL), "pthread_cond_init");
}

static void queue_fini(queue_t *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->nonempty);
}

/* The queue's mutex is only ever held briefly and never while waiting for
 * the GIL, so taking it with the GIL held cannot deadlock. */
static void queue_put(queue_t *q, item_t *it)
{
    pthread_mutex_lock(&q->mu);
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
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

/* Called with q->mu held. */
static item_t *queue_pop_locked(queue_t *q)
{
    item_t *it = q->head;

    if (it != NULL && (q->head = it->next) == NULL)
        q->tail = NULL;
    return it;
}

/* Take an item; NULL once the queue is closed and empty.  Called with the
 * GIL held; releases it only when it has to wait. */
static item_t *queue_get(gil_t *gil, queue_t *q)
{
    item_t *it;
    int closed;

    pthread_mutex_lock(&q->mu);
    it = queue_pop_locked(q);
    closed = q->closed;
    pthread_mutex_unlock(&q->mu);
    if (it != NULL || closed)
        return it;

    GIL_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->closed)
        pthread_cond_wait(&q->nonempty, &q->mu);
    it = queue_pop_locked(q);
    pthread_mutex_unlock(&q->mu);
    GIL_END_ALLOW_THREADS
    if (!gil_held(gil)) {
        fprintf(stderr, "worker_pool: the GIL was shut down under a worker\n");
        exit(1);
    }
    return it;
}

/* ------------------------------------------------------------------------ */
/* Part 1: the pool                                                         */

typedef enum { TASK_SHORT, TASK_LONG, TASK_LONG_IN_C } task_kind_t;

typedef struct task {
    item_t item;           /* first: a task is an item */
    task_kind_t kind;
    uint64_t submitted_ns;
} task_t;

typedef struct pool {
    gil_t *gil;
    queue_t queue;
    pthread_t workers[POOL_WORKERS];
    /* Guarded by the GIL: the latency monitor's samples. */
    uint64_t *short_latency, *short_done_at;
    size_t nshort;
    uint64_t long_latency[LONG_TASKS];
    size_t nlong;
    uint64_t sink;         /* results, so that the work is not optimized out */
} pool_t;

static uint64_t run_task(gil_tstate_t *ts, const task_t *t)
{
    uint64_t acc = (uint64_t)t->submitted_ns;

    switch (t->kind) {
    case TASK_SHORT:
        return interpret(ts, SHORT_UNITS, acc);
    case TASK_LONG:
        return interpret(ts, LONG_UNITS, acc);
    case TASK_LONG_IN_C:
        /* Interpreted code calling the extension in chunks: check points
         * only between the calls. */
        for (long done = 0; done < LONG_UNITS; done += C_CHUNK_UNITS) {
            check(gil_check(ts), "gil_check");
            acc = c_extension_holding(C_CHUNK_UNITS, acc);
        }
        return acc;
    }
    return acc;
}

/* Record a finished task; the GIL guards the samples. */
static void monitor_task(pool_t *p, const task_t *t)
{
    uint64_t now = now_ns();

    if (t->kind == TASK_SHORT) {
        p->short_done_at[p->nshort] = now;
        p->short_latency[p->nshort++] = now - t->submitted_ns;
    } else {
        p->long_latency[p->nlong++] = now - t->submitted_ns;
    }
}

static void *pool_worker(void *arg)
{
    pool_t *p = arg;
    gil_tstate_t *ts;
    item_t *it;

    check(gil_tstate_new(p->gil, "worker", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");
    while ((it = queue_get(p->gil, &p->queue)) != NULL) {
        task_t *t = (task_t *)it;
        p->sink += run_task(ts, t);
        monitor_task(p, t);
        free(t);
    }
    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    return NULL;
}

/* due_ns: when the task was due, which may be earlier than now if the
 * submitting thread waited for the GIL.  Measuring from there keeps that
 * wait in the latency (no "coordinated omission"). */
static void submit(pool_t *p, task_kind_t kind, uint64_t due_ns)
{
    task_t *t = xcalloc(1, sizeof *t);

    t->kind = kind;
    t->submitted_ns = due_ns;
    queue_put(&p->queue, &t->item);
}

/* Sleep until deadline_ns (CLOCK_MONOTONIC) without the GIL, as time.sleep
 * does. */
static void sleep_until(gil_t *gil, uint64_t deadline_ns)
{
    struct timespec d = {(time_t)(deadline_ns / 1000000000u),
                         (long)(deadline_ns % 1000000000u)};

    GIL_BEGIN_ALLOW_THREADS
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR)
        ;
    GIL_END_ALLOW_THREADS
    if (!gil_held(gil)) {
        fprintf(stderr, "worker_pool: the GIL was shut down under the main thread\n");
        exit(1);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, size_t n, double q)
{
    return n ? (double)sorted[(size_t)(q * (double)(n - 1))] / 1e6 : 0.0;
}

/* The most completions within any 1 ms window: 1-2 when tasks flow, more
 * when they are released in bursts by a switch. */
static size_t largest_burst(uint64_t *done_at, size_t n)
{
    size_t best = 0, lo = 0;

    qsort(done_at, n, sizeof *done_at, cmp_u64);
    for (size_t hi = 0; hi < n; hi++) {
        while (done_at[hi] - done_at[lo] > 1000000)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

static void report_pool(const char *name, pool_t *p)
{
    gil_stats_t s;
    double long_ms = 0;

    check(gil_stats_get(p->gil, &s), "gil_stats_get");
    for (size_t i = 0; i < p->nlong; i++)
        long_ms += (double)p->long_latency[i] / 1e6;
    qsort(p->short_latency, p->nshort, sizeof *p->short_latency, cmp_u64);
    printf("%-22s %5zu %8.2f %8.2f %8.2f %8.2f %6zu %9.1f %8llu\n", name, p->nshort,
           pct_ms(p->short_latency, p->nshort, 0.5), pct_ms(p->short_latency, p->nshort, 0.9),
           pct_ms(p->short_latency, p->nshort, 0.99),
           p->nshort ? (double)p->short_latency[p->nshort - 1] / 1e6 : 0.0,
           largest_burst(p->short_done_at, p->nshort), p->nlong ? long_ms / (double)p->nlong : 0.0,
           (unsigned long long)s.forced_switches);
}

static int run_pool(const char *name, int nshort, int nlong, task_kind_t long_kind)
{
    pool_t p;
    gil_tstate_t *ts;
    uint64_t start;
    int ok;

    memset(&p, 0, sizeof p);
    p.short_latency = xcalloc((size_t)nshort, sizeof *p.short_latency);
    p.short_done_at = xcalloc((size_t)nshort, sizeof *p.short_done_at);
    queue_init(&p.queue);
    check(gil_create(&p.gil, NULL), "gil_create");
    check(gil_tstate_new(p.gil, "main", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");
    for (int i = 0; i < POOL_WORKERS; i++)
        check_errno(pthread_create(&p.workers[i], NULL, pool_worker, &p), "pthread_create");

    start = now_ns();
    for (int i = 0; i < nlong; i++)
        submit(&p, long_kind, start);
    for (int i = 0; i < nshort; i++) {
        uint64_t due = start + (uint64_t)i * SUBMIT_GAP_US * 1000u;
        sleep_until(p.gil, due);
        submit(&p, TASK_SHORT, due);
    }
    queue_close(&p.queue);
    GIL_BEGIN_ALLOW_THREADS
    for (int i = 0; i < POOL_WORKERS; i++)
        check_errno(pthread_join(p.workers[i], NULL), "pthread_join");
    GIL_END_ALLOW_THREADS
    if (!gil_held(p.gil)) {
        fprintf(stderr, "worker_pool: lost the GIL while joining\n");
        exit(1);
    }

    ok = p.nshort == (size_t)nshort && p.nlong == (size_t)nlong;
    report_pool(name, &p);
    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    check(gil_destroy(p.gil), "gil_destroy");
    queue_fini(&p.queue);
    free(p.short_latency);
    free(p.short_done_at);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Part 2: the ledger and the serial queue                                  */

typedef struct deposit {
    item_t item;
    int account;
    long amount;
} deposit_t;

typedef struct ledger {
    long balance[ACCOUNTS];
} ledger_t;

/* Read, run some interpreted code (a check point: the GIL may switch
 * here), write: not atomic under a GIL. */
static void ledger_deposit(gil_tstate_t *ts, ledger_t *l, int account, long amount)
{
    long balance = l->balance[account];

    interpret(ts, CHECK_EVERY, (uint64_t)balance);
    l->balance[account] = balance + amount;
}

static long ledger_total(const ledger_t *l)
{
    long total = 0;

    for (int i = 0; i < ACCOUNTS; i++)
        total += l->balance[i];
    return total;
}

typedef struct bank {
    gil_t *gil;
    ledger_t ledger;        /* direct mode: everyone; serial mode: the teller only */
    queue_t serial;         /* serial mode: deposits for the teller */
    deposit_t *deposits;    /* DEPOSITORS * DEPOSITS, preallocated */
    int serial_mode;
    int next_depositor;     /* guarded by the GIL */
    pthread_barrier_t start; /* the depositors begin together */
} bank_t;

static void *depositor(void *arg)
{
    bank_t *b = arg;
    gil_tstate_t *ts;
    int me;

    check(gil_tstate_new(b->gil, "depositor", &ts), "gil_tstate_new");
    pthread_barrier_wait(&b->start);
    check(gil_acquire(ts), "gil_acquire");
    me = b->next_depositor++;
    for (int i = 0; i < DEPOSITS; i++) {
        deposit_t *d = &b->deposits[me * DEPOSITS + i];
        d->account = (me + i) % ACCOUNTS;
        d->amount = 1 + i % 3;
        if (b->serial_mode)
            queue_put(&b->serial, &d->item);
        else
            ledger_deposit(ts, &b->ledger, d->account, d->amount);
        check(gil_check(ts), "gil_check");
    }
    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    return NULL;
}

/* The serial queue's one consumer: the only thread that touches the
 * ledger in serial mode, so the ledger needs no lock. */
static void *teller(void *arg)
{
    bank_t *b = arg;
    gil_tstate_t *ts;
    item_t *it;

    check(gil_tstate_new(b->gil, "teller", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");
    while ((it = queue_get(b->gil, &b->serial)) != NULL) {
        deposit_t *d = (deposit_t *)it;
        ledger_deposit(ts, &b->ledger, d->account, d->amount);
    }
    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    return NULL;
}

static long expected_total(void)
{
    long total = 0;

    for (int i = 0; i < DEPOSITS; i++)
        total += 1 + i % 3;
    return total * DEPOSITORS;
}

/* Returns the ledger's total after every deposit. */
static long run_bank(int serial_mode)
{
    bank_t b;
    gil_config_t cfg;
    pthread_t threads[DEPOSITORS], teller_thread;
    long total;

    memset(&b, 0, sizeof b);
    b.serial_mode = serial_mode;
    b.deposits = xcalloc(DEPOSITORS * DEPOSITS, sizeof *b.deposits);
    queue_init(&b.serial);
    check_errno(pthread_barrier_init(&b.start, NULL, DEPOSITORS), "pthread_barrier_init");
    /* A short interval: switches are frequent, so races would show. */
    gil_config_init(&cfg);
    cfg.switch_interval_us = 100;
    check(gil_create(&b.gil, &cfg), "gil_create");
    if (serial_mode)
        check_errno(pthread_create(&teller_thread, NULL, teller, &b), "pthread_create");
    for (int i = 0; i < DEPOSITORS; i++)
        check_errno(pthread_create(&threads[i], NULL, depositor, &b), "pthread_create");
    for (int i = 0; i < DEPOSITORS; i++)
        check_errno(pthread_join(threads[i], NULL), "pthread_join");
    if (serial_mode) {
        queue_close(&b.serial);
        check_errno(pthread_join(teller_thread, NULL), "pthread_join");
    }
    total = ledger_total(&b.ledger); /* every thread is gone: no GIL needed */
    check(gil_destroy(b.gil), "gil_destroy");
    queue_fini(&b.serial);
    pthread_barrier_destroy(&b.start);
    free(b.deposits);
    return total;
}

int main(int argc, char **argv)
{
    int nshort = 200;
    char extra;
    long expected = expected_total(), direct, serial;
    int failed = 0;

    /* -h/--help: the usage on stdout, exit 0; bad usage: on stderr, exit 2. */
    int help = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help || argc > 2 ||
        (argc == 2 && (sscanf(argv[1], "%d%c", &nshort, &extra) != 1 || nshort <= 0))) {
        fprintf(help ? stdout : stderr, "usage: worker_pool [SHORT_TASKS > 0]\n");
        return help ? 0 : 2;
    }
    printf("worker_pool: %d workers, a short task every %d us; latency from due time "
           "to completion, ms\n", POOL_WORKERS, SUBMIT_GAP_US);
    printf("%-22s %5s %8s %8s %8s %8s %6s %9s %8s\n", "run", "short", "p50", "p90", "p99",
           "max", "burst", "long avg", "forced");
    failed |= run_pool("short tasks only", nshort, 0, TASK_SHORT);
    failed |= run_pool("+ long tasks", nshort, LONG_TASKS, TASK_LONG);
    failed |= run_pool("+ long tasks in C", nshort, LONG_TASKS, TASK_LONG_IN_C);
    printf("(burst: most short tasks completed within one millisecond)\n");

    direct = run_bank(0);
    serial = run_bank(1);
    printf("ledger, %d threads depositing directly: total %ld, expected %ld (%ld lost "
           "to switches inside read-modify-write)\n", DEPOSITORS, direct, expected,
           expected - direct);
    printf("ledger, through a serial queue (one teller thread): total %ld, expected %ld "
           "(%s)\n", serial, expected, serial == expected ? "exact" : "WRONG");
    if (failed)
        printf("worker_pool: some tasks were not monitored\n");
    return failed || serial != expected ? 1 : 0;
}
