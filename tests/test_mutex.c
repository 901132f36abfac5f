/*
 * test_mutex.c - mutual exclusion under constant switching, and
 * independence of two GIL instances.
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#define NTHREADS 8

typedef struct shared {
    gil_t *gil;
    long iterations;
    long counter;            /* plain: protected by the GIL alone */
    pthread_t owner;         /* plain: "I am the holder" */
    _Atomic int inside;      /* detects two threads in the section at once */
} shared_t;

static void *count_worker(void *arg)
{
    shared_t *s = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(s->gil, "counter", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    for (long i = 0; i < s->iterations; i++) {
        CHECK_EQ(gil_check(ts), 0);
        CHECK(atomic_exchange(&s->inside, 1) == 0);
        s->owner = pthread_self();
        s->counter++;
        if (!pthread_equal(s->owner, pthread_self()) || !gil_held(s->gil))
            check_fail(__FILE__, __LINE__, "the holder changed inside the section");
        atomic_store(&s->inside, 0);
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void run_exclusion(unsigned long interval_us, long iterations)
{
    shared_t s;
    memset(&s, 0, sizeof s);
    s.gil = make_gil(interval_us);
    s.iterations = iterations;
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        t[i] = spawn(count_worker, &s);
    for (int i = 0; i < NTHREADS; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(s.counter, NTHREADS * iterations);
    gil_stats_t st;
    assert_int_equal(gil_stats_get(s.gil, &st), 0);
    assert_true(st.acquisitions >= NTHREADS);
    assert_int_equal(gil_destroy(s.gil), 0);
}

static void test_mutex_exclusion_default_interval(void **state)
{
    (void)state;
    hang_guard(__func__, 120);
    run_exclusion(5000, scaled(1000000));
    hang_guard(NULL, 0);
}

/* A 1 us interval: waiters ask for the GIL almost at once, so the holder is
 * forced out at nearly every check point. */
static void test_mutex_exclusion_constant_switching(void **state)
{
    (void)state;
    hang_guard(__func__, 240);
    run_exclusion(1, scaled(1000000));
    hang_guard(NULL, 0);
}

/* Two GILs in one process are independent: a thread holding one does not
 * stop another thread from taking the other. */
typedef struct two {
    gil_t *other;
    _Atomic int done;
} two_t;

static void *take_other(void *arg)
{
    two_t *t = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(t->other, "other", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    CHECK(gil_held(t->other));
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    atomic_store(&t->done, 1);
    return NULL;
}

static int is_done(void *arg) { return atomic_load(&((two_t *)arg)->done); }

static void test_mutex_two_gils_independent(void **state)
{
    (void)state;
    hang_guard(__func__, 60);
    gil_t *a = make_gil(5000);
    two_t t = {.other = make_gil(5000)};
    gil_tstate_t *ts_a, *ts_b;
    assert_int_equal(gil_tstate_new(a, "main", &ts_a), 0);
    assert_int_equal(gil_acquire(ts_a), 0);
    /* Holding a, the same thread may also hold b. */
    assert_int_equal(gil_tstate_new(t.other, "main-b", &ts_b), 0);
    assert_int_equal(gil_acquire(ts_b), 0);
    assert_true(gil_held(a) && gil_held(t.other));
    assert_ptr_equal(gil_current(), ts_b);
    assert_int_equal(gil_release(ts_b), 0);
    assert_ptr_equal(gil_current(), ts_a);
    /* While we hold a, another thread takes b and finishes. */
    pthread_t th = spawn(take_other, &t);
    wait_until(is_done, &t);
    join(th);
    ASSERT_NO_CHECK_FAILURES();
    assert_true(gil_held(a));
    assert_int_equal(gil_release(ts_a), 0);
    assert_null(gil_current());
    assert_int_equal(gil_tstate_delete(ts_a), 0);
    assert_int_equal(gil_tstate_delete(ts_b), 0);
    assert_int_equal(gil_destroy(a), 0);
    assert_int_equal(gil_destroy(t.other), 0);
    hang_guard(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_exclusion_default_interval),
        cmocka_unit_test(test_mutex_exclusion_constant_switching),
        cmocka_unit_test(test_mutex_two_gils_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
