/*
 * test_fork.c - fork while other threads hold or wait for the GIL.
 *
 * The child must not deadlock: it acquires, starts a thread that acquires,
 * and exits 0.  Repeated many times, because a fork can land anywhere in
 * another thread's critical section.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct busy {
    gil_t *gil;
    _Atomic int stop;
    _Atomic long rounds;
} busy_t;

/* Hammers the GIL: holds it across check points, lets go around "I/O". */
static void *busy_thread(void *arg)
{
    busy_t *b = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(b->gil, "busy", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    while (!atomic_load(&b->stop)) {
        for (int i = 0; i < 1000; i++)
            CHECK_EQ(gil_check(ts), 0);
        GIL_BEGIN_ALLOW_THREADS
        atomic_fetch_add(&b->rounds, 1);
        GIL_END_ALLOW_THREADS
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void *child_thread(void *arg)
{
    gil_t *gil = arg;
    gil_tstate_t *ts;
    if (gil_tstate_new(gil, "child-thread", &ts) != 0 || gil_acquire(ts) != 0)
        _exit(10);
    if (gil_check(ts) != 0 || gil_release(ts) != 0 || gil_tstate_delete(ts) != 0)
        _exit(11);
    return NULL;
}

/* Runs in the child.  main_ts: the forking thread's state (it may hold). */
static void child_body(gil_t *gil, gil_tstate_t *main_ts, int parent_held)
{
    if (gil_held(gil) != parent_held)
        _exit(2);
    if (count_tstates(gil) != 1)
        _exit(3); /* only the forking thread's state is left */
    if (!parent_held && gil_acquire(main_ts) != 0)
        _exit(4);
    if (gil_check(main_ts) != 0)
        _exit(5);
    if (gil_release(main_ts) != 0)
        _exit(6);
    /* The sanitizers' runtimes are not fork-safe with threads: TSan cannot
     * follow threads created in the child of a multithreaded process ("dup
     * thread id"), and GCC 12's ASan allocator lock can be held by a parent
     * thread at the fork, so a child thread's first malloc blocks forever.
     * Under them the child uses the GIL from its one thread; the release
     * build runs the full check. */
    const char *variant = getenv("GIL_TEST_VARIANT");
    if (variant == NULL || (strcmp(variant, "tsan") != 0 && strcmp(variant, "asan") != 0)) {
        pthread_t t;
        if (pthread_create(&t, NULL, child_thread, gil) != 0 || pthread_join(t, NULL) != 0)
            _exit(7);
    }
    gil_tstate_t *fresh;
    if (gil_tstate_new(gil, "fresh", &fresh) != 0 || gil_acquire(fresh) != 0 || gil_release(fresh) != 0)
        _exit(8);
    if (gil_tstate_delete(fresh) != 0 || gil_tstate_delete(main_ts) != 0 || gil_destroy(gil) != 0)
        _exit(9);
    _exit(0);
}

static int others_wait(void *gil)
{
    return stats_of(gil).waiting_now >= 1;
}

static int busy_cycled(void *arg)
{
    return atomic_load(&((busy_t *)arg)->rounds) >= 3;
}

/* The busy threads have been through holding, letting go and coming back
 * before the first fork, and each fork happens with at least one of them
 * registered as a waiter (and, with main_holds, the main thread holding):
 * the child inherits a GIL whose waiters do not exist there. */
static void fork_many(int main_holds)
{
    busy_t b = {.gil = make_gil(200)};
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(b.gil, "main", &ts), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(busy_thread, &b);
    wait_until(busy_cycled, &b);
    long forks = scaled(100) < 20 ? 20 : scaled(100);
    for (long i = 0; i < forks; i++) {
        if (main_holds)
            assert_int_equal(gil_acquire(ts), 0);
        wait_until(others_wait, b.gil);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_body(b.gil, ts, main_holds);
        if (main_holds)
            assert_int_equal(gil_release(ts), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %ld exited with status %d", i, status);
    }
    atomic_store(&b.stop, 1);
    for (int i = 0; i < 3; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(b.gil), 0);
}

static void test_fork_while_other_threads_hold_and_wait(void **state)
{
    (void)state;
    fork_many(0);
}

static void test_fork_while_holding(void **state)
{
    (void)state;
    fork_many(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_fork_while_other_threads_hold_and_wait, 300),
        GUARDED_TEST(test_fork_while_holding, 300),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
