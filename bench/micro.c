/*
 * micro.c - libgil's micro benchmarks, through google-benchmark (gbench.h).
 *
 * Each libgil operation sits next to the physical baseline it is judged
 * against, measured in the same run:
 *
 *   gil_acquire_release     vs mutex_lock_unlock (and spinlock_cas_store)
 *   gil_check_x1 (batched)  vs empty_loop_x1
 *   gil_handoff_yield       vs condvar_pingpong   (both: one round trip =
 *                                                   two handoffs)
 *
 * After google-benchmark's report, the goals of issue 3 are printed as
 * ratios of those results ("goal: ... measured X (target Y) MET/MISSED"),
 * on stdout for the console format and on stderr otherwise, so that
 * --benchmark_format=json output stays valid JSON.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gbench.h"
#include "gil.h"

/* Inner loop length of the batched benchmarks: long enough that the
 * keep-running call between batches does not count. */
#define BATCH 1000

/* Keeps i in a register each iteration so the loop is not folded away, and
 * costs no instruction. */
#define OPAQUE(i) __asm__ volatile("" : : "r"(i))

static void die(const char *what, int rc)
{
    fprintf(stderr, "micro: %s: %s\n", what, rc < 0 ? gil_strerror(rc) : strerror(rc));
    exit(1);
}

static gil_tstate_t *tstate_new(gil_t *gil, const char *name)
{
    gil_tstate_t *ts;
    int rc = gil_tstate_new(gil, name, &ts);
    if (rc != 0)
        die("gil_tstate_new", rc);
    return ts;
}

static void tstate_delete(gil_tstate_t *ts)
{
    int rc = gil_tstate_delete(ts);
    if (rc != 0)
        die("gil_tstate_delete", rc);
}

static void must(const char *what, int rc)
{
    if (rc != 0)
        die(what, rc);
}

/* Report a failure seen inside a timed loop (where we only OR the codes
 * together, so that the check costs nothing). */
static void check_loop(gbench_state_t *st, int bad, const char *what)
{
    if (bad)
        gbench_skip_with_error(st, what);
}

/* ---- libgil --------------------------------------------------------------- */

static void bm_gil_acquire_release(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    int bad = 0;
    while (gbench_keep_running(st)) {
        bad |= gil_acquire(ts);
        bad |= gil_release(ts);
    }
    check_loop(st, bad, "gil_acquire/gil_release failed");
    tstate_delete(ts);
}

/* One thread per benchmark thread on a shared GIL: contended pairs. */
static void bm_gil_acquire_release_contended(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    int bad = 0;
    while (gbench_keep_running(st)) {
        bad |= gil_acquire(ts);
        bad |= gil_release(ts);
    }
    check_loop(st, bad, "gil_acquire/gil_release failed");
    tstate_delete(ts);
}

static void bm_gil_allow_threads(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    must("gil_acquire", gil_acquire(ts));
    while (gbench_keep_running(st)) {
        GIL_BEGIN_ALLOW_THREADS
        GIL_END_ALLOW_THREADS
    }
    check_loop(st, !gil_held(arg), "GIL_END_ALLOW_THREADS did not re-acquire");
    must("gil_release", gil_release(ts));
    tstate_delete(ts);
}

static void bm_gil_check(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    int bad = 0;
    must("gil_acquire", gil_acquire(ts));
    while (gbench_keep_running_batch(st, BATCH))
        for (int i = 0; i < BATCH; i++) {
            bad |= gil_check(ts);
            OPAQUE(i);
        }
    check_loop(st, bad, "gil_check returned non-zero");
    must("gil_release", gil_release(ts));
    tstate_delete(ts);
}

/* gil_ensure while the thread already holds the GIL (a callback re-entering
 * the interpreter): the counter path, GIL_ENSURE_LOCKED. */
static void bm_gil_ensure_nested(gbench_state_t *st, void *arg)
{
    gil_ensure_t outer, inner;
    int bad = 0;
    must("gil_ensure", gil_ensure(arg, &outer));
    while (gbench_keep_running(st)) {
        bad |= gil_ensure(arg, &inner);
        bad |= gil_ensure_release(arg, inner);
    }
    check_loop(st, bad, "gil_ensure/gil_ensure_release failed");
    must("gil_ensure_release", gil_ensure_release(arg, outer));
}

/* gil_ensure from a thread that has its state already (created by an outer
 * gil_ensure) but does not hold the GIL: take and drop, GIL_ENSURE_UNLOCKED. */
static void bm_gil_ensure_existing(gbench_state_t *st, void *arg)
{
    gil_ensure_t outer, inner;
    int bad = 0;
    must("gil_ensure", gil_ensure(arg, &outer));
    gil_tstate_t *saved = gil_save();
    while (gbench_keep_running(st)) {
        bad |= gil_ensure(arg, &inner);
        bad |= gil_ensure_release(arg, inner);
    }
    check_loop(st, bad, "gil_ensure/gil_ensure_release failed");
    must("gil_restore", gil_restore(saved));
    must("gil_ensure_release", gil_ensure_release(arg, outer));
}

/* Handoff: this thread and a partner pass the GIL back and forth with
 * gil_yield.  One iteration = this thread yields, the partner runs and
 * yields back: a round trip of two handoffs. */
typedef struct yield_partner {
    gil_t *gil;
    atomic_int stop;
} yield_partner_t;

static void *yield_partner_main(void *arg)
{
    yield_partner_t *p = arg;
    gil_tstate_t *ts = tstate_new(p->gil, "partner");
    must("gil_acquire", gil_acquire(ts));
    while (!atomic_load_explicit(&p->stop, memory_order_relaxed))
        must("gil_yield", gil_yield(ts));
    must("gil_release", gil_release(ts));
    tstate_delete(ts);
    return NULL;
}

static void wait_for_waiter(gil_t *gil)
{
    gil_stats_t s;
    for (;;) {
        must("gil_stats_get", gil_stats_get(gil, &s));
        if (s.waiting_now >= 1)
            return;
        usleep(100);
    }
}

static void bm_gil_handoff_yield(gbench_state_t *st, void *arg)
{
    yield_partner_t p = {.gil = arg};
    pthread_t partner;
    gil_tstate_t *ts = tstate_new(arg, "bench");
    int bad = 0, rc;

    atomic_init(&p.stop, 0);
    must("gil_acquire", gil_acquire(ts));
    if ((rc = pthread_create(&partner, NULL, yield_partner_main, &p)) != 0)
        die("pthread_create", rc);
    wait_for_waiter(arg); /* otherwise the first yields find nobody */
    while (gbench_keep_running(st))
        bad |= gil_yield(ts);
    atomic_store_explicit(&p.stop, 1, memory_order_relaxed);
    must("gil_release", gil_release(ts));
    pthread_join(partner, NULL);
    check_loop(st, bad, "gil_yield failed");
    tstate_delete(ts);
}

/* ---- baselines -------------------------------------------------------------- */

static pthread_mutex_t shared_mutex = PTHREAD_MUTEX_INITIALIZER;

static void bm_mutex_lock_unlock(gbench_state_t *st, void *arg)
{
    (void)arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    int bad = 0;
    while (gbench_keep_running(st)) {
        bad |= pthread_mutex_lock(&m);
        bad |= pthread_mutex_unlock(&m);
    }
    check_loop(st, bad, "pthread_mutex_lock/unlock failed");
}

static void bm_mutex_lock_unlock_contended(gbench_state_t *st, void *arg)
{
    (void)arg;
    int bad = 0;
    while (gbench_keep_running(st)) {
        bad |= pthread_mutex_lock(&shared_mutex);
        bad |= pthread_mutex_unlock(&shared_mutex);
    }
    check_loop(st, bad, "pthread_mutex_lock/unlock failed");
}

/* The cheapest possible lock: CAS 0 -> 1 to take, a release store to drop. */
static void bm_spinlock_cas_store(gbench_state_t *st, void *arg)
{
    (void)arg;
    atomic_int word;
    atomic_init(&word, 0);
    while (gbench_keep_running(st)) {
        int expected = 0;
        while (!atomic_compare_exchange_weak_explicit(&word, &expected, 1, memory_order_acquire,
                                                      memory_order_relaxed))
            expected = 0;
        atomic_store_explicit(&word, 0, memory_order_release);
    }
}

static void bm_empty_loop(gbench_state_t *st, void *arg)
{
    (void)arg;
    while (gbench_keep_running_batch(st, BATCH))
        for (int i = 0; i < BATCH; i++)
            OPAQUE(i);
}

/* Condvar ping-pong: the textbook handoff between two threads.  One
 * iteration = a round trip (two handoffs), like gil_handoff_yield. */
typedef struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t cv[2]; /* cv[i]: wakes thread i */
    int turn;             /* whose turn: 0 = benchmark thread, 1 = partner */
    int stop;
} pingpong_t;

static void *pingpong_partner(void *arg)
{
    pingpong_t *pp = arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (pp->turn != 1 && !pp->stop)
            pthread_cond_wait(&pp->cv[1], &pp->mu);
        if (pp->stop)
            break;
        pp->turn = 0;
        pthread_cond_signal(&pp->cv[0]);
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

static void bm_condvar_pingpong(gbench_state_t *st, void *arg)
{
    (void)arg;
    pingpong_t pp = {.mu = PTHREAD_MUTEX_INITIALIZER,
                     .cv = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER}};
    pthread_t partner;
    int rc;

    if ((rc = pthread_create(&partner, NULL, pingpong_partner, &pp)) != 0)
        die("pthread_create", rc);
    pthread_mutex_lock(&pp.mu);
    while (gbench_keep_running(st)) {
        pp.turn = 1;
        pthread_cond_signal(&pp.cv[1]);
        while (pp.turn != 0)
            pthread_cond_wait(&pp.cv[0], &pp.mu);
    }
    pp.stop = 1;
    pthread_cond_signal(&pp.cv[1]);
    pthread_mutex_unlock(&pp.mu);
    pthread_join(partner, NULL);
}

/* ---- registration and ratios ------------------------------------------------ */

typedef struct ratio {
    const char *what;
    const char *name, *baseline;
    const char *target; /* NULL: informative, no goal */
    double limit;
} ratio_t;

static const ratio_t ratios[] = {
    {"uncontended acquire+release / pthread mutex lock+unlock", "gil_acquire_release",
     "mutex_lock_unlock", "<= 1.5", 1.5},
    {"gil_check with no request / empty loop iteration", "gil_check_x1", "empty_loop_x1",
     "<= 1.1", 1.1},
    {"handoff (gil_yield round trip) / condvar ping-pong round trip", "gil_handoff_yield",
     "condvar_pingpong", "<= 1.0", 1.0},
    {"acquire+release timed (GIL_TIMING_ALWAYS) / untimed", "gil_acquire_release_timed",
     "gil_acquire_release", NULL, 0},
    {"allow-threads round trip / pthread mutex lock+unlock", "gil_allow_threads",
     "mutex_lock_unlock", NULL, 0},
    {"acquire+release / CAS+store spin lock", "gil_acquire_release", "spinlock_cas_store",
     NULL, 0},
};

static void print_ratios(FILE *f)
{
    fprintf(f, "\nratios (real time per iteration, this run):\n");
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        const ratio_t *r = &ratios[i];
        double a, b;
        int have = gbench_result_ns(r->name, &a) == 0 && gbench_result_ns(r->baseline, &b) == 0 &&
                   b > 0;
        const char *prefix = r->target ? "goal: " : "      ";
        if (!have) {
            fprintf(f, "%s%s not measured (%s or %s did not run)\n", prefix, r->what, r->name,
                    r->baseline);
            continue;
        }
        if (r->target)
            fprintf(f, "%s%s measured %.2f (%.2f ns / %.2f ns) (target %s) %s\n", prefix,
                    r->what, a / b, a, b, r->target, a / b <= r->limit ? "MET" : "MISSED");
        else
            fprintf(f, "%s%s: %.2f (%.2f ns / %.2f ns)\n", prefix, r->what, a / b, a, b);
    }
}

static gil_t *make_gil(gil_timing_t timing, const char *name)
{
    gil_config_t cfg;
    gil_t *gil;
    gil_config_init(&cfg);
    cfg.timing = timing;
    cfg.name = name;
    must("gil_create", gil_create(&gil, &cfg));
    return gil;
}

/* A thread that does nothing for the whole run.  A GIL only exists in a
 * multi-threaded process, and glibc (>= 2.34) elides the atomic instructions
 * of pthread_mutex_lock/unlock while a process has a single thread
 * (SINGLE_THREAD_P): measured alone, the mutex baseline would be a
 * single-threaded lock (~4 ns here instead of ~13 ns) and every ratio
 * against it meaningless.  With one idle thread alive, both sides pay for
 * the atomics they pay for in real use. */
static int bystander_pipe[2];

static void *bystander(void *arg)
{
    char c;
    (void)arg;
    while (read(bystander_pipe[0], &c, 1) < 0)
        ;
    return NULL;
}

static pthread_t start_bystander(void)
{
    pthread_t t;
    int rc;
    if (pipe(bystander_pipe) != 0)
        die("pipe", errno);
    if ((rc = pthread_create(&t, NULL, bystander, NULL)) != 0)
        die("pthread_create", rc);
    return t;
}

static void stop_bystander(pthread_t t)
{
    close(bystander_pipe[1]); /* read() returns 0 */
    pthread_join(t, NULL);
    close(bystander_pipe[0]);
}

int main(int argc, char **argv)
{
    pthread_t idle = start_bystander();
    gil_t *gil = make_gil(GIL_TIMING_CONTENDED, "micro");
    gil_t *timed = make_gil(GIL_TIMING_ALWAYS, "micro-timed");
    gil_t *shared = make_gil(GIL_TIMING_CONTENDED, "micro-contended");

    if (gbench_initialize(&argc, argv) != 0)
        return 2;

    gbench_register("gil_acquire_release", bm_gil_acquire_release, gil);
    gbench_register("mutex_lock_unlock", bm_mutex_lock_unlock, NULL);
    gbench_register("spinlock_cas_store", bm_spinlock_cas_store, NULL);
    gbench_register("gil_acquire_release_timed", bm_gil_acquire_release, timed);
    gbench_register("gil_allow_threads", bm_gil_allow_threads, gil);
    gbench_register("gil_check_x1", bm_gil_check, gil);
    gbench_register("empty_loop_x1", bm_empty_loop, NULL);
    gbench_register("gil_ensure_nested", bm_gil_ensure_nested, gil);
    gbench_register("gil_ensure_existing", bm_gil_ensure_existing, gil);
    gbench_use_real_time(gbench_register("gil_handoff_yield", bm_gil_handoff_yield, gil));
    gbench_use_real_time(gbench_register("condvar_pingpong", bm_condvar_pingpong, NULL));
    gbench_bench_t *b = gbench_register("gil_acquire_release_contended",
                                        bm_gil_acquire_release_contended, shared);
    gbench_set_threads(b, 2);
    gbench_use_real_time(b);
    b = gbench_register("mutex_lock_unlock_contended", bm_mutex_lock_unlock_contended, NULL);
    gbench_set_threads(b, 2);
    gbench_use_real_time(b);

    gbench_run();
    print_ratios(gbench_format() == GBENCH_FORMAT_CONSOLE ? stdout : stderr);
    gbench_shutdown();

    must("gil_destroy", gil_destroy(shared));
    must("gil_destroy", gil_destroy(timed));
    must("gil_destroy", gil_destroy(gil));
    stop_bystander(idle);
    return 0;
}
