/*
 * test_policies.c - what makes each policy itself: FIFO serves in arrival
 * order; LEGACY never makes drop requests but releases every N ticks;
 * PRIORITY serves a returning I/O thread before a CPU thread and demotes a
 * thread that only pretends to block.  Orderings and counters only.
 * (The rest of the suite runs once per policy: see the Makefile.)
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* These tests build GILs of the policy they test, so the group runs once,
 * under the default GIL_TEST_POLICY, not once per policy like the rest. */
#define RUN_ONCE() \
    only_for_policy(GIL_POLICY_CPYTHON, "test_policies builds its own GILs; it runs once")

static gil_t *gil_with(gil_policy_t policy, unsigned long interval_us)
{
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.policy = policy;
    cfg.switch_interval_us = interval_us;
    gil_t *gil;
    assert_int_equal(gil_create(&gil, &cfg), 0);
    assert_int_equal(gil_get_policy(gil), policy);
    return gil;
}

static uint64_t waiting_now(gil_t *gil)
{
    gil_stats_t st;
    gil_stats_get(gil, &st);
    return st.waiting_now;
}

/* ---- FIFO -------------------------------------------------------------- */

#define QUEUED 5

typedef struct fifo_run {
    gil_t *gil;
    event_log_t log;
} fifo_run_t;

typedef struct fifo_arg {
    fifo_run_t *run;
    int id;
} fifo_arg_t;

static void *queued_thread(void *arg)
{
    fifo_arg_t *a = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(a->run->gil, "queued", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    log_add(&a->run->log, "%d", a->id);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_policies_fifo_serves_in_arrival_order(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 60);
    fifo_run_t run;
    log_init(&run.log);
    run.gil = gil_with(GIL_POLICY_FIFO, 60000000); /* no drop requests in this test */
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(run.gil, "holder", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    fifo_arg_t args[QUEUED];
    pthread_t t[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        args[i] = (fifo_arg_t){&run, i};
        t[i] = spawn(queued_thread, &args[i]);
        while (waiting_now(run.gil) < (uint64_t)i + 1) /* arrival order is known */
            nap_us(100);
    }
    assert_int_equal(gil_release(ts), 0);
    for (int i = 0; i < QUEUED; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(run.log.n, QUEUED);
    for (int i = 0; i < QUEUED; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        assert_string_equal(run.log.ev[i], want);
    }
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(run.gil), 0);
    hang_guard(NULL, 0);
}

/* ---- LEGACY ------------------------------------------------------------ */

typedef struct legacy_run {
    gil_t *gil;
    _Atomic int holder_ready, waiter_got_it;
} legacy_run_t;

static int holder_ready(void *arg) { return atomic_load(&((legacy_run_t *)arg)->holder_ready); }

static void *legacy_waiter(void *arg)
{
    legacy_run_t *r = arg;
    wait_until(holder_ready, r);
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(r->gil, "waiter", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    atomic_store(&r->waiter_got_it, 1); /* set while holding: the hog sees it once back */
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_policies_legacy_ticks_without_drop_requests(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 120);
    legacy_run_t r = {.gil = gil_with(GIL_POLICY_LEGACY, 1)}; /* the interval plays no part */
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(r.gil, "hog", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    pthread_t t = spawn(legacy_waiter, &r);
    atomic_store(&r.holder_ready, 1);
    while (waiting_now(r.gil) == 0 && !atomic_load(&r.waiter_got_it))
        assert_int_equal(gil_check(ts), 0);
    /* With a waiter, every 100 check points cost a release and re-acquire
     * (won back or not), so 10 x 100 checks mean at least 10 acquisitions
     * (fewer than 10 only if the waiter finished meanwhile). */
    gil_tstate_stats_t before, after;
    assert_int_equal(gil_tstate_stats_get(ts, &before), 0);
    for (int i = 0; i < 10 * 100; i++)
        assert_int_equal(gil_check(ts), 0);
    assert_int_equal(gil_tstate_stats_get(ts, &after), 0);
    if (!atomic_load(&r.waiter_got_it))
        assert_true(after.acquisitions - before.acquisitions >= 9);
    /* Let the waiter through for sure, then look at the counters. */
    GIL_BEGIN_ALLOW_THREADS
    join(t);
    GIL_END_ALLOW_THREADS
    ASSERT_NO_CHECK_FAILURES();
    gil_stats_t st;
    assert_int_equal(gil_stats_get(r.gil, &st), 0);
    assert_int_equal(st.drop_requests, 0);
    assert_int_equal(st.forced_switches, 0);
    assert_true(st.contended >= 1);
    /* Alone again, check points are free: no tick releases. */
    assert_int_equal(gil_tstate_stats_get(ts, &before), 0);
    for (int i = 0; i < 10 * 100; i++)
        assert_int_equal(gil_check(ts), 0);
    assert_int_equal(gil_tstate_stats_get(ts, &after), 0);
    assert_true(after.acquisitions - before.acquisitions <= 1); /* at most the last armed tick */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(r.gil), 0);
    hang_guard(NULL, 0);
}

/* ---- PRIORITY: I/O first ------------------------------------------------ */

typedef struct prio_run {
    gil_t *gil;
    event_log_t log;
    int pipefd[2];
    _Atomic int io_blocked;
} prio_run_t;

static int io_blocked(void *arg) { return atomic_load(&((prio_run_t *)arg)->io_blocked); }
/* Takes the GIL, blocks in read() with it released, then must get it back
 * ahead of the CPU thread that has waited longer. */
static void *io_thread(void *arg)
{
    prio_run_t *r = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(r->gil, "io", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    char c;
    ssize_t n;
    GIL_BEGIN_ALLOW_THREADS
    atomic_store(&r->io_blocked, 1);
    n = read(r->pipefd[0], &c, 1);
    GIL_END_ALLOW_THREADS
    CHECK_EQ(n, 1);
    log_add(&r->log, "io");
    gil_tstate_stats_t st;
    CHECK_EQ(gil_tstate_stats_get(ts, &st), 0);
    CHECK(st.boosts >= 1);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void *cpu_waiter(void *arg)
{
    prio_run_t *r = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(r->gil, "cpu", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    log_add(&r->log, "cpu");
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_policies_priority_serves_io_before_cpu(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 60);
    prio_run_t r;
    memset(&r, 0, sizeof r);
    log_init(&r.log);
    assert_int_equal(pipe(r.pipefd), 0);
    /* A long interval: the CPU waiter never asks within the test, so only
     * the I/O thread's immediate request can move the GIL. */
    r.gil = gil_with(GIL_POLICY_PRIORITY, 60000000);
    pthread_t io = spawn(io_thread, &r);
    wait_until(io_blocked, &r); /* the hog takes the GIL behind its back */
    hog_t hog;
    hog_start(&hog, r.gil, "hog");
    wait_until(hog_is_holding, &hog);
    pthread_t cpu = spawn(cpu_waiter, &r);
    while (waiting_now(r.gil) < 1)
        nap_us(100);
    assert_int_equal(write(r.pipefd[1], "x", 1), 1); /* the I/O completes */
    while (log_count(&r.log) < 1)
        nap_us(100);
    hog_stop(&hog); /* then the hog lets the CPU waiter in */
    join(io);
    join(cpu);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(r.log.n, 2);
    assert_string_equal(r.log.ev[0], "io"); /* served first, though it came later */
    assert_string_equal(r.log.ev[1], "cpu");
    close(r.pipefd[0]);
    close(r.pipefd[1]);
    assert_int_equal(gil_destroy(r.gil), 0);
    hang_guard(NULL, 0);
}

/* ---- PRIORITY: the abuse guard ------------------------------------------ */

typedef struct abuse_run {
    gil_t *gil;
    uint64_t contended; /* run until this many restores had to wait */
    unsigned sleep_us; /* 0: an abuser (empty sections) */
    gil_tstate_stats_t result;
} abuse_run_t;

static void run_sections(abuse_run_t *r)
{
    hog_t hog;
    hog_start(&hog, r->gil, "hog");
    wait_until(hog_is_holding, &hog);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(r->gil, "sections", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    /* Count contended returns, not sections: only a return that finds the
     * GIL taken is classified, and the scheduler may keep the CPU thread off
     * a CPU for a while (the hang guard bounds the loop). */
    do {
        GIL_BEGIN_ALLOW_THREADS
        if (r->sleep_us)
            nap_us(r->sleep_us); /* really blocks */
        GIL_END_ALLOW_THREADS
        assert_int_equal(gil_check(ts), 0);
        assert_int_equal(gil_tstate_stats_get(ts, &r->result), 0);
    } while (r->result.contended < r->contended);
    assert_int_equal(gil_release(ts), 0);
    hog_stop(&hog);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_tstate_delete(ts), 0);
}

static gil_t *abuse_gil(void)
{
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.policy = GIL_POLICY_PRIORITY;
    /* A generous bound keeps the test independent of machine speed: an
     * empty section is far below 1 ms, a 20 ms sleep far above. */
    cfg.priority_abuse_ns = 1000000;
    gil_t *gil;
    assert_int_equal(gil_create(&gil, &cfg), 0);
    return gil;
}

static void test_policies_priority_demotes_abuser(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 120);
    abuse_run_t r = {.gil = abuse_gil(), .contended = 40, .sleep_us = 0};
    run_sections(&r);
    assert_true(r.result.demotions >= 1);
    /* Demoted after 4 fast returns in a row, and served without priority
     * after that.  (Not a ratio: when its release wakes the CPU thread on
     * its own CPU, the kernel may keep it off the CPU for a millisecond,
     * which the guard, measuring time away from the GIL, rightly counts as
     * blocking, and the privilege returns for a few returns.) */
    assert_true(r.result.boosts < r.result.contended);
    assert_int_equal(gil_destroy(r.gil), 0);
    hang_guard(NULL, 0);
}

static void test_policies_priority_keeps_real_blocker(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 120);
    abuse_run_t r = {.gil = abuse_gil(), .contended = 10, .sleep_us = 20000};
    run_sections(&r);
    assert_int_equal(r.result.demotions, 0);
    /* Every contended return after a real block was boosted (the first
     * acquisition of a new thread is not: it has not shown that it blocks). */
    assert_true(r.result.boosts + 1 >= r.result.contended);
    assert_int_equal(gil_destroy(r.gil), 0);
    hang_guard(NULL, 0);
}

/* ---- liveness: I/O beside CPU-bound threads, every policy -------------- */

typedef struct live {
    gil_t *gil;
    int sv[2];
    long round_trips;
} live_t;

/* The far end: echoes bytes, never touches the GIL. */
static void *echo_thread(void *arg)
{
    live_t *l = arg;
    char c;
    while (read(l->sv[1], &c, 1) == 1)
        if (write(l->sv[1], &c, 1) != 1)
            break;
    return NULL;
}

static void run_liveness(gil_policy_t policy, int hogs, unsigned spin_io, unsigned spin_cpu)
{
    live_t l;
    memset(&l, 0, sizeof l);
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.policy = policy;
    cfg.switch_interval_us = 200;
    cfg.priority_spin_io_us = spin_io;
    cfg.priority_spin_cpu_us = spin_cpu;
    assert_int_equal(gil_create(&l.gil, &cfg), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, l.sv), 0);
    pthread_t echo = spawn(echo_thread, &l);
    hog_t hog[4];
    for (int i = 0; i < hogs; i++)
        hog_start(&hog[i], l.gil, "hog");
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(l.gil, "io", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    for (long i = 0; i < scaled(200); i++) {
        char c = 'x';
        ssize_t n;
        GIL_BEGIN_ALLOW_THREADS
        n = write(l.sv[0], &c, 1);
        GIL_END_ALLOW_THREADS
        assert_int_equal(n, 1);
        GIL_BEGIN_ALLOW_THREADS
        n = read(l.sv[0], &c, 1);
        GIL_END_ALLOW_THREADS
        assert_int_equal(n, 1);
        for (int k = 0; k < 20; k++)
            assert_int_equal(gil_check(ts), 0);
        l.round_trips++;
    }
    assert_int_equal(gil_release(ts), 0);
    for (int i = 0; i < hogs; i++)
        hog_stop(&hog[i]);
    shutdown(l.sv[0], SHUT_RDWR);
    join(echo);
    close(l.sv[0]);
    close(l.sv[1]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(l.round_trips, scaled(200));
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(l.gil), 0);
}

/* Every policy keeps an I/O thread moving beside 1, 2 and 4 CPU-bound
 * threads (a short interval keeps the slow policies quick), including
 * PRIORITY with no spinning and with long spins.  Only a hang detector. */
static void test_policies_io_beside_cpu_threads_progresses(void **state)
{
    (void)state;
    RUN_ONCE();
    hang_guard(__func__, 300);
    for (int p = 0; gil_policy_name((gil_policy_t)p) != NULL; p++)
        for (int hogs = 1; hogs <= 4; hogs *= 2)
            run_liveness((gil_policy_t)p, hogs, 10, 5);
    run_liveness(GIL_POLICY_PRIORITY, 2, 0, 0);
    run_liveness(GIL_POLICY_PRIORITY, 2, 100, 50);
    run_liveness(GIL_POLICY_PRIORITY, 4, 100, 50);
    hang_guard(NULL, 0);
}

static void test_policies_names(void **state)
{
    (void)state;
    RUN_ONCE();
    const char *names[] = {"cpython", "legacy", "fifo", "priority"};
    int n = 0;
    while (gil_policy_name((gil_policy_t)n) != NULL)
        n++;
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        gil_policy_t p;
        assert_string_equal(gil_policy_name((gil_policy_t)i), names[i]);
        assert_int_equal(gil_policy_from_name(names[i], &p), 0);
        assert_int_equal(p, i);
    }
    gil_config_t cfg;
    gil_config_init(&cfg);
    assert_int_equal(cfg.legacy_check_interval, 100);
    cfg.legacy_check_interval = 0;
    gil_t *gil;
    assert_int_equal(gil_create(&gil, &cfg), GIL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies_fifo_serves_in_arrival_order),
        cmocka_unit_test(test_policies_legacy_ticks_without_drop_requests),
        cmocka_unit_test(test_policies_priority_serves_io_before_cpu),
        cmocka_unit_test(test_policies_priority_demotes_abuser),
        cmocka_unit_test(test_policies_priority_keeps_real_blocker),
        cmocka_unit_test(test_policies_io_beside_cpu_threads_progresses),
        cmocka_unit_test(test_policies_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
