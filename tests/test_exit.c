/*
 * test_exit.c - what a VM does at exit: gil_finalize with threads still
 * running (0, 1 and 64 threads holding, waiting, inside an allow-threads
 * section, or not started yet; GIL_ESHUTDOWN or parked), a forked child
 * exiting the same way, a fork made by a thread other than the main one,
 * and threads that end without deleting their states.
 *
 * No wall-clock assertion: every outcome is a count or a state, and the
 * only deadlines are the hang guard's.  That the GIL is freed, and not
 * touched after, is what ASan checks when this file runs under `make asan`.
 */
#include "helpers.h"
#include "core/core.h" /* white-box: gil__finalized_frees, gil__parked_threads */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef enum { ST_HOLDING, ST_WAITING, ST_ALLOW, ST_UNSTARTED } fin_state_t;

static const char *const state_names[] = {"holding", "waiting", "allow-threads", "unstarted"};

typedef struct fin {
    gil_t *gil;
    fin_state_t state;
    unsigned flags;        /* gil_finalize flags */
    _Atomic int ready;     /* threads in their state */
    _Atomic int gate;      /* 1: ALLOW / UNSTARTED threads may come back */
    _Atomic int returned;  /* threads that got GIL_ESHUTDOWN back */
    _Atomic int deleted;   /* threads that deleted their own state */
} fin_t;

typedef struct fin_thread {
    fin_t *f;
    pthread_t thread;
    int rc;                /* what libgil answered when the thread came back */
} fin_thread_t;

static void wait_gate(fin_t *f)
{
    while (!atomic_load(&f->gate))
        nap_us(100);
}

/* The thread after GIL_ESHUTDOWN: as an interpreter unwinding, it lets go
 * of what it holds and deletes its state; that deletion may free the GIL,
 * so nothing touches the GIL after it. */
static void unwind(fin_thread_t *t, gil_tstate_t *ts, int rc)
{
    t->rc = rc;
    atomic_fetch_add(&t->f->returned, 1);
    if (gil_held(t->f->gil))
        CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    atomic_fetch_add(&t->f->deleted, 1);
}

static void *fin_thread_main(void *arg)
{
    fin_thread_t *t = arg;
    fin_t *f = t->f;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(f->gil, "vm-thread", &ts), 0);
    int rc = 0;
    switch (f->state) {
    case ST_HOLDING: /* an interpreter loop: check points until told to stop */
    case ST_WAITING:
        atomic_fetch_add(&f->ready, 1);
        rc = gil_acquire(ts);
        while (rc == 0)
            rc = gil_check(ts);
        break;
    case ST_ALLOW: /* blocked in a system call, the GIL released around it */
        CHECK_EQ(gil_acquire(ts), 0);
        GIL_BEGIN_ALLOW_THREADS
        atomic_fetch_add(&f->ready, 1);
        wait_gate(f);
        GIL_END_ALLOW_THREADS
        /* The restore failed (GIL_ESHUTDOWN): the next check says so. */
        rc = gil_check(ts);
        break;
    case ST_UNSTARTED: /* created its state, not yet its first acquire */
        atomic_fetch_add(&f->ready, 1);
        wait_gate(f);
        rc = gil_acquire(ts);
        break;
    }
    unwind(t, ts, rc);
    return NULL;
}

typedef struct ready_pred {
    fin_t *f;
    int n;
} ready_pred_t;

static int all_ready(void *arg)
{
    ready_pred_t *p = arg;
    if (atomic_load(&p->f->ready) < p->n)
        return 0;
    if (p->f->state == ST_WAITING || p->f->state == ST_HOLDING) {
        /* Every thread is inside gil_acquire or holds: one holder (HOLDING)
         * or the main thread's hold (WAITING) keeps the others waiting. */
        gil_stats_t st;
        gil_stats_get(p->f->gil, &st);
        int expect_waiting = p->f->state == ST_WAITING ? p->n : p->n - 1;
        return (int)st.waiting_now >= expect_waiting && (p->f->state == ST_WAITING || st.acquisitions > 0);
    }
    return 1;
}

static unsigned long frees(void)
{
    return atomic_load_explicit(&gil__finalized_frees, memory_order_acquire);
}

typedef struct frees_pred {
    unsigned long want;
} frees_pred_t;

static int freed_enough(void *arg)
{
    return frees() >= ((frees_pred_t *)arg)->want;
}

static int parked_enough(void *arg)
{
    return atomic_load(&gil__parked_threads) >= *(unsigned long *)arg;
}

/* One case: n threads in `state`, then the main thread finalizes. */
static void run_case(fin_state_t state, int n, unsigned flags)
{
    fin_t f;
    memset(&f, 0, sizeof f);
    f.state = state;
    f.flags = flags;
    f.gil = make_gil(1000);
    fin_thread_t t[MAX_THREADS];
    memset(t, 0, sizeof t);

    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(f.gil, "main", &main_ts), 0);
    if (state == ST_WAITING)
        assert_int_equal(gil_acquire(main_ts), 0); /* the threads will wait for us */
    for (int i = 0; i < n; i++) {
        t[i].f = &f;
        t[i].thread = spawn(fin_thread_main, &t[i]);
    }
    ready_pred_t rp = {&f, n};
    wait_until(all_ready, &rp);

    unsigned long frees_before = frees();
    unsigned long parked_before = atomic_load(&gil__parked_threads);
    gil_finalize_report_t r;
    /* A generous drain deadline: a hang detector, not a figure. */
    assert_int_equal(gil_finalize(f.gil, flags | GIL_FINALIZE_QUIET, 60000, &r), 0);
    /* f.gil may be freed from here on: never touched again. */
    assert_true(r.deleted >= 1); /* main's own state */
    assert_int_equal(r.stuck, 0);
    if (n == 0)
        assert_int_equal(r.freed, 1);
    if (state == ST_ALLOW || state == ST_UNSTARTED) {
        /* They run outside libgil: finalize must keep the GIL for them. */
        assert_int_equal((int)r.running, n);
        assert_int_equal(r.freed, n == 0);
    }
    atomic_store(&f.gate, 1);

    /* Whatever finalize could not free is freed by the last deletion. */
    frees_pred_t fp = {frees_before + 1};
    wait_until(freed_enough, &fp);
    if (flags & GIL_FINALIZE_PARK) {
        unsigned long want = parked_before + (unsigned long)n;
        wait_until(parked_enough, &want);
        assert_int_equal(atomic_load(&f.returned), 0); /* none went back to its VM */
        for (int i = 0; i < n; i++) {
            pthread_cancel(t[i].thread); /* parked: pause() is a cancellation point */
            join(t[i].thread);
        }
    } else {
        for (int i = 0; i < n; i++) {
            join(t[i].thread);
            assert_int_equal(t[i].rc, GIL_ESHUTDOWN);
        }
        assert_int_equal(atomic_load(&f.returned), n);
        assert_int_equal(atomic_load(&f.deleted), n);
    }
    assert_int_equal(frees(), frees_before + 1); /* exactly once */
}

static void run_states(unsigned flags)
{
    static const int counts[] = {0, 1, MAX_THREADS};
    for (int s = ST_HOLDING; s <= ST_UNSTARTED; s++)
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            if (s == ST_HOLDING && counts[c] == 0)
                continue; /* nobody to hold */
            fprintf(stderr, "  finalize with %d thread(s) %s%s\n", counts[c], state_names[s],
                    (flags & GIL_FINALIZE_PARK) ? ", parked" : "");
            run_case((fin_state_t)s, counts[c], flags);
        }
    ASSERT_NO_CHECK_FAILURES();
}

static void test_exit_finalize_shutdown_error(void **state)
{
    (void)state;
    run_states(0);
}

static void test_exit_finalize_park(void **state)
{
    (void)state;
    run_states(GIL_FINALIZE_PARK);
}

/* ---- bad input ----------------------------------------------------------- */

static void test_exit_finalize_rejects_bad_input(void **state)
{
    (void)state;
    gil_finalize_report_t r;
    assert_int_equal(gil_finalize(NULL, 0, 0, &r), GIL_EINVAL);
    gil_t *gil = make_gil(1000);
    assert_int_equal(gil_finalize(gil, 1u << 9, 0, &r), GIL_EINVAL);
    assert_int_equal(gil_finalize(gil, 0, 0, NULL), 0); /* no report wanted: fine */
}

/* ---- a forked child exits the same way ------------------------------------ */

static void *holder_forever(void *arg)
{
    fin_t *f = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(f->gil, "parent-vm", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    atomic_store(&f->ready, 1);
    while (gil_check(ts) == 0)
        ;
    if (gil_held(f->gil))
        CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static int ready_one(void *arg)
{
    return atomic_load(&((fin_t *)arg)->ready) >= 1;
}

/* The child has only the forking thread: the other thread's state is gone,
 * so finalize frees at once, whatever the parent's threads were doing. */
static void test_exit_forked_child_finalizes(void **state)
{
    (void)state;
    fin_t f;
    memset(&f, 0, sizeof f);
    f.gil = make_gil(1000);
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(f.gil, "main", &main_ts), 0);
    pthread_t holder = spawn(holder_forever, &f);
    wait_until(ready_one, &f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gil_finalize_report_t r;
        int rc = gil_finalize(f.gil, GIL_FINALIZE_QUIET, 0, &r);
        _exit(rc == 0 && r.freed == 1 && r.running == 0 && r.deleted == 1 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent finalizes too, with its holder still running. */
    gil_finalize_report_t r;
    assert_int_equal(gil_finalize(f.gil, GIL_FINALIZE_QUIET, 60000, &r), 0);
    join(holder);
    ASSERT_NO_CHECK_FAILURES();
}

/* ---- a fork made by a thread other than the main one --------------------- */

typedef struct forker {
    gil_t *gil;
    int child_status;
    int held_in_child;
} forker_t;

static int count_state(const gil_tstate_t *ts, void *arg)
{
    (void)ts;
    (*(int *)arg)++;
    return 0;
}

/* The forking thread becomes the child's only thread: it keeps its state and
 * its hold; the main thread's state (the main thread does not exist in the
 * child) is gone; the child can create threads and use the GIL normally. */
static void *forking_thread(void *arg)
{
    forker_t *fk = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(fk->gil, "forker", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int states = 0;
        int ok = gil_held(fk->gil) && gil_check(ts) == 0 && gil_current() == ts;
        ok = ok && gil_foreach_tstate(fk->gil, count_state, &states) == 0 && states == 1;
        ok = ok && gil_release(ts) == 0 && gil_tstate_delete(ts) == 0 && gil_destroy(fk->gil) == 0;
        _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    fk->child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_exit_fork_from_other_thread(void **state)
{
    (void)state;
    forker_t fk = {make_gil(1000), -1, 0};
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(fk.gil, "main", &main_ts), 0); /* not in the child */
    join(spawn(forking_thread, &fk));
    assert_int_equal(fk.child_status, 0);
    assert_int_equal(gil_tstate_delete(main_ts), 0);
    assert_int_equal(gil_destroy(fk.gil), 0);
    ASSERT_NO_CHECK_FAILURES();
}

/* ---- a thread that ends without deleting its state ------------------------ */

typedef struct leaver {
    gil_t *gil;
    gil_tstate_t *ts;
    _Atomic int holding;
    int cancel_while_holding;
} leaver_t;

static void *leave_holding(void *arg)
{
    leaver_t *l = arg;
    CHECK_EQ(gil_tstate_new(l->gil, "leaver", &l->ts), 0);
    CHECK_EQ(gil_acquire(l->ts), 0);
    atomic_store(&l->holding, 1);
    if (l->cancel_while_holding)
        block_until_cancelled(); /* user code, GIL held, at a cancellation point */
    return NULL; /* ends holding the GIL, state not deleted */
}

static int leaver_holding(void *arg)
{
    return atomic_load(&((leaver_t *)arg)->holding);
}

static void check_leaver_cleaned_up(leaver_t *l)
{
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(l->gil, "main", &ts), 0);
    /* The GIL was released at the thread's end: this does not hang. */
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_release(ts), 0);
    /* The orphan is nobody's: any thread may delete it, nobody may use it. */
    assert_int_equal(gil_acquire(l->ts), GIL_EPERM);
    assert_int_equal(gil_tstate_delete(l->ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(l->gil), 0);
}

static void test_exit_thread_ends_holding(void **state)
{
    (void)state;
    leaver_t l = {make_gil(1000), NULL, 0, 0};
    join(spawn(leave_holding, &l));
    check_leaver_cleaned_up(&l);
    ASSERT_NO_CHECK_FAILURES();
}

static void test_exit_thread_cancelled_holding(void **state)
{
    (void)state;
    leaver_t l = {make_gil(1000), NULL, 0, 1};
    pthread_t t = spawn(leave_holding, &l);
    wait_until(leaver_holding, &l);
    assert_int_equal(pthread_cancel(t), 0);
    join(t);
    check_leaver_cleaned_up(&l);
    ASSERT_NO_CHECK_FAILURES();
}

/* An orphan left at exit is deleted by gil_finalize, which then frees. */
static void test_exit_finalize_deletes_orphans(void **state)
{
    (void)state;
    leaver_t l = {make_gil(1000), NULL, 0, 0};
    join(spawn(leave_holding, &l));
    gil_finalize_report_t r;
    assert_int_equal(gil_finalize(l.gil, GIL_FINALIZE_QUIET, 0, &r), 0);
    assert_int_equal(r.deleted, 1);
    assert_int_equal(r.running, 0);
    assert_int_equal(r.freed, 1);
    ASSERT_NO_CHECK_FAILURES();
}

/* ---- the checker build at exit -------------------------------------------- */

/* In a child without GIL_DEBUG_NOABORT: the documented answers of an exit
 * with live threads (GIL_EBUSY from gil_destroy, GIL_ESHUTDOWN from an
 * acquire or a check after shutdown) return; a real misuse (a release by a
 * thread that does not hold the GIL) aborts -- in a checker build only. */
static int expected_errors_child(int marker_fd)
{
    unsetenv("GIL_DEBUG_NOABORT");
    gil_t *gil = make_gil(1000);
    gil_tstate_t *ts;
    if (gil_tstate_new(gil, "main", &ts) != 0)
        return 1;
    if (gil_destroy(gil) != GIL_EBUSY) /* a live state: expected */
        return 2;
    if (gil_shutdown(gil) != 0 || gil_acquire(ts) != GIL_ESHUTDOWN)
        return 3;
    if (gil_check(ts) != GIL_ESHUTDOWN) /* checked without the GIL after shutdown */
        return 4;
    gil_finalize_report_t r;
    if (gil_finalize(gil, GIL_FINALIZE_QUIET, 0, &r) != 0 || r.freed != 1)
        return 5;
    gil = make_gil(1000);
    if (gil_tstate_new(gil, "misuser", &ts) != 0)
        return 6;
    if (write(marker_fd, "E", 1) != 1) /* every expected error returned */
        return 7;
    gil_release(ts); /* misuse: aborts in a checker build */
    return 0;
}

static void test_exit_checker_build_aborts_only_on_misuse(void **state)
{
    (void)state;
    const char *variant = getenv("GIL_TEST_VARIANT");
    int checker = variant != NULL && strcmp(variant, "debug") == 0;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(expected_errors_child(fds[1]));
    close(fds[1]);
    char marker = 0;
    assert_int_equal(read(fds[0], &marker, 1), 1); /* it got past the expected errors */
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (checker) {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT); /* at the misuse, after every expected error */
    } else {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_exit_finalize_rejects_bad_input, 60),
        GUARDED_TEST(test_exit_finalize_shutdown_error, 300),
        GUARDED_TEST(test_exit_finalize_park, 300),
        GUARDED_TEST(test_exit_forked_child_finalizes, 60),
        GUARDED_TEST(test_exit_fork_from_other_thread, 60),
        GUARDED_TEST(test_exit_thread_ends_holding, 60),
        GUARDED_TEST(test_exit_thread_cancelled_holding, 60),
        GUARDED_TEST(test_exit_finalize_deletes_orphans, 60),
        GUARDED_TEST(test_exit_checker_build_aborts_only_on_misuse, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
