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
 *   gil_acquire_release_hooked / _traced  vs gil_acquire_release (the cost
 *                           of a no-op hook, of tracing)
 *
 * and the monitor's calls (gil_stats_get, gil_stats_format, the Prometheus
 * exporter), for one GIL with one thread state.
 *
 * After google-benchmark's report, the goals of issue 3 are printed as
 * ratios of those results ("goal: ... measured X (target Y) MET/MISSED"),
 * on stdout for the console format and on stderr otherwise, so that
 * --benchmark_format=json output stays valid JSON.  A ratio is the ratio of
 * the two medians over --benchmark_repetitions; with more than one
 * repetition the line also gives the range of the per-repetition ratios and
 * in how many repetitions the goal was met (scripts/micro-figures.sh).
 *
 * The handoff benchmarks also count voluntary context switches per
 * iteration (counter "vcsw": how many times a thread went to sleep, the
 * kernel's share of a handoff), and --micro_iterations=N (ours, not
 * google-benchmark's) runs every benchmark exactly N iterations, so that a
 * run under callgrind counts instructions per iteration independently of
 * the machine's speed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* Voluntary context switches of the whole process so far: a thread that
 * blocks (futex wait) counts one. */
static long voluntary_switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        die("getrusage", errno);
    return ru.ru_nvcsw;
}

/* Report the switches since `since` as the counter "vcsw", per iteration. */
static void count_switches(gbench_state_t *st, long since)
{
    gbench_set_counter(st, "vcsw", (double)(voluntary_switches() - since),
                       GBENCH_COUNTER_AVG_ITERATIONS);
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

/* The monitor's side: reading one GIL's figures with one thread state
 * alive, as a metrics thread or a /metrics endpoint does. */
static FILE *dev_null(void)
{
    FILE *f = fopen("/dev/null", "w");
    if (f == NULL)
        die("fopen /dev/null", errno);
    return f;
}

static void bm_gil_stats_get(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    gil_stats_t s;
    int bad = 0;
    while (gbench_keep_running(st))
        bad |= gil_stats_get(arg, &s);
    check_loop(st, bad, "gil_stats_get failed");
    tstate_delete(ts);
}

static void bm_gil_stats_format(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    char line[512];
    int bad = 0;
    while (gbench_keep_running(st))
        bad |= gil_stats_format(arg, line, sizeof line) < 0;
    check_loop(st, bad, "gil_stats_format failed");
    tstate_delete(ts);
}

static void bm_gil_stats_prometheus(gbench_state_t *st, void *arg)
{
    gil_tstate_t *ts = tstate_new(arg, "bench");
    FILE *out = dev_null();
    int bad = 0;
    while (gbench_keep_running(st))
        bad |= gil_stats_write_prometheus(arg, out);
    check_loop(st, bad, "gil_stats_write_prometheus failed");
    fclose(out);
    tstate_delete(ts);
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
    long switches = voluntary_switches();
    while (gbench_keep_running(st))
        bad |= gil_yield(ts);
    count_switches(st, switches);
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
    long switches = voluntary_switches();
    while (gbench_keep_running(st)) {
        pp.turn = 1;
        pthread_cond_signal(&pp.cv[1]);
        while (pp.turn != 0)
            pthread_cond_wait(&pp.cv[0], &pp.mu);
    }
    count_switches(st, switches);
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
    {"acquire+release with a no-op hook / without", "gil_acquire_release_hooked",
     "gil_acquire_release", NULL, 0},
    {"acquire+release while tracing / without", "gil_acquire_release_traced",
     "gil_acquire_release", NULL, 0},
};

/* Enough for any sensible --benchmark_repetitions; more are ignored. */
#define MAX_REPS 1000

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n > 0); sorts v. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One ratio line: the ratio of the medians, and with repetitions the
 * per-repetition ratios' range (repetition i of one against repetition i of
 * the other) and how many met the goal. */
static void print_ratio(FILE *f, const ratio_t *r)
{
    static double a[MAX_REPS], b[MAX_REPS], q[MAX_REPS];
    const char *prefix = r->target ? "goal: " : "      ";
    size_t na = gbench_result_runs(r->name, a, MAX_REPS);
    size_t nb = gbench_result_runs(r->baseline, b, MAX_REPS);
    na = na < MAX_REPS ? na : MAX_REPS;
    nb = nb < MAX_REPS ? nb : MAX_REPS;
    size_t n = na < nb ? na : nb, met = 0;

    if (n == 0) {
        fprintf(f, "%s%s not measured (%s or %s did not run)\n", prefix, r->what, r->name,
                r->baseline);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        q[i] = b[i] > 0 ? a[i] / b[i] : 0;
        met += q[i] <= r->limit;
    }
    double ma = median(a, na), mb = median(b, nb), ratio = mb > 0 ? ma / mb : 0;
    fprintf(f, "%s%s%s %.2f (%.2f ns / %.2f ns", prefix, r->what, r->target ? " measured" : ":",
            ratio, ma, mb);
    if (n > 1) {
        double qmed = median(q, n);
        fprintf(f, ", medians of %zu; per-repetition %.2f-%.2f, median %.2f", n, q[0],
                q[n - 1], qmed);
        if (r->target)
            fprintf(f, ", met in %zu of %zu", met, n);
    }
    fputc(')', f);
    if (r->target)
        fprintf(f, " (target %s) %s", r->target, ratio <= r->limit ? "MET" : "MISSED");
    fputc('\n', f);
}

static void print_ratios(FILE *f)
{
    fprintf(f, "\nratios (real time per iteration, this run):\n");
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++)
        print_ratio(f, &ratios[i]);
}

static void no_op_hook(const gil_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
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

/* --micro_iterations=N: every benchmark runs exactly N iterations (0:
 * google-benchmark decides, as usual). */
static int64_t fixed_iterations;

/* Take --micro_iterations=N out of argv before google-benchmark sees it. */
static void take_own_flags(int *argc, char **argv)
{
    static const char flag[] = "--micro_iterations=";
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strncmp(argv[i], flag, sizeof flag - 1) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char *v = argv[i] + sizeof flag - 1;
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n <= 0) {
            fprintf(stderr, "micro: %s: expected a positive number of iterations, got '%s'\n",
                    flag, v);
            exit(2);
        }
        fixed_iterations = n;
    }
    *argc = out;
    argv[out] = NULL;
}

static gbench_bench_t *add(const char *name, gbench_fn_t fn, void *arg)
{
    gbench_bench_t *b = gbench_register(name, fn, arg);
    if (fixed_iterations > 0)
        gbench_set_iterations(b, fixed_iterations);
    return b;
}

int main(int argc, char **argv)
{
    take_own_flags(&argc, argv);
    pthread_t idle = start_bystander();
    gil_t *gil = make_gil(GIL_TIMING_CONTENDED, "micro");
    gil_t *timed = make_gil(GIL_TIMING_ALWAYS, "micro-timed");
    gil_t *shared = make_gil(GIL_TIMING_CONTENDED, "micro-contended");
    gil_t *hooked = make_gil(GIL_TIMING_CONTENDED, "micro-hooked");
    gil_t *traced = make_gil(GIL_TIMING_CONTENDED, "micro-traced");
    gil_hook_handle_t hook;
    must("gil_hook_add", gil_hook_add(hooked, GIL_EVENT_ALL, no_op_hook, NULL, &hook));
    must("gil_trace_start", gil_trace_start(traced, 0)); /* a ring: old events overwritten */

    if (gbench_initialize(&argc, argv) != 0)
        return 2;

    add("gil_acquire_release", bm_gil_acquire_release, gil);
    add("mutex_lock_unlock", bm_mutex_lock_unlock, NULL);
    add("spinlock_cas_store", bm_spinlock_cas_store, NULL);
    add("gil_acquire_release_timed", bm_gil_acquire_release, timed);
    add("gil_acquire_release_hooked", bm_gil_acquire_release, hooked);
    add("gil_acquire_release_traced", bm_gil_acquire_release, traced);
    add("gil_allow_threads", bm_gil_allow_threads, gil);
    add("gil_check_x1", bm_gil_check, gil);
    add("empty_loop_x1", bm_empty_loop, NULL);
    add("gil_ensure_nested", bm_gil_ensure_nested, gil);
    add("gil_ensure_existing", bm_gil_ensure_existing, gil);
    add("gil_stats_get", bm_gil_stats_get, gil);
    add("gil_stats_format", bm_gil_stats_format, gil);
    add("gil_stats_prometheus", bm_gil_stats_prometheus, gil);
    gbench_use_real_time(add("gil_handoff_yield", bm_gil_handoff_yield, gil));
    gbench_use_real_time(add("condvar_pingpong", bm_condvar_pingpong, NULL));
    gbench_bench_t *b = add("gil_acquire_release_contended", bm_gil_acquire_release_contended,
                            shared);
    gbench_set_threads(b, 2);
    gbench_use_real_time(b);
    b = add("mutex_lock_unlock_contended", bm_mutex_lock_unlock_contended, NULL);
    gbench_set_threads(b, 2);
    gbench_use_real_time(b);

    gbench_run();
    print_ratios(gbench_format() == GBENCH_FORMAT_CONSOLE ? stdout : stderr);
    gbench_shutdown();

    must("gil_trace_stop", gil_trace_stop(traced));
    must("gil_hook_remove", gil_hook_remove(hooked, hook));
    must("gil_destroy", gil_destroy(traced));
    must("gil_destroy", gil_destroy(hooked));
    must("gil_destroy", gil_destroy(shared));
    must("gil_destroy", gil_destroy(timed));
    must("gil_destroy", gil_destroy(gil));
    stop_bystander(idle);
    return 0;
}
