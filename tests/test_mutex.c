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
    _Atomic int finished;    /* workers done */
    _Atomic int interleaved; /* workers whose visits another worker's came between */
} shared_t;

/* Whether another thread was in the section since the caller's last visit
 * (the owner it left behind was overwritten); marks the section the
 * caller's.  GIL held. */
static int saw_other_holder(shared_t *s)
{
    int other = !pthread_equal(s->owner, pthread_self());
    s->owner = pthread_self();
    return other;
}

/* Each worker does its iterations, then keeps making check points (not
 * counted) until another thread has been in the section between two of
 * its own visits, or until it is the last one left: so the sections were
 * really interleaved, whatever the scheduler did. */
static void *count_worker(void *arg)
{
    shared_t *s = arg;
    gil_tstate_t *ts;
    int interleaved = 0;
    CHECK_EQ(gil_tstate_new(s->gil, "counter", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    for (long i = 0; i < s->iterations; i++) {
        CHECK_EQ(gil_check(ts), 0);
        CHECK(atomic_exchange(&s->inside, 1) == 0);
        if (saw_other_holder(s) && i > 0)
            interleaved = 1;
        s->counter++;
        if (!pthread_equal(s->owner, pthread_self()) || !gil_held(s->gil))
            check_fail(__FILE__, __LINE__, "the holder changed inside the section");
        atomic_store(&s->inside, 0);
    }
    while (!interleaved && atomic_load(&s->finished) < NTHREADS - 1) {
        CHECK_EQ(gil_check(ts), 0);
        interleaved = saw_other_holder(s);
    }
    atomic_fetch_add(&s->interleaved, interleaved);
    atomic_fetch_add(&s->finished, 1);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static int all_waiting(void *arg)
{
    shared_t *s = arg;
    return stats_of(s->gil).waiting_now == NTHREADS;
}

static void run_exclusion(unsigned long interval_us, long iterations)
{
    shared_t s;
    memset(&s, 0, sizeof s);
    s.gil = make_gil(interval_us);
    s.iterations = iterations;
    /* Every worker waits before the first one starts. */
    gil_tstate_t *starter;
    assert_int_equal(gil_tstate_new(s.gil, "starter", &starter), 0);
    assert_int_equal(gil_acquire(starter), 0);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        t[i] = spawn(count_worker, &s);
    wait_until(all_waiting, &s);
    assert_int_equal(gil_release(starter), 0);
    for (int i = 0; i < NTHREADS; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(s.counter, NTHREADS * iterations);
    /* All but the last one left were switched out and came back. */
    assert_true(atomic_load(&s.interleaved) >= NTHREADS - 1);
    gil_stats_t st = stats_of(s.gil);
    assert_true(st.acquisitions >= 1 + 2 * (NTHREADS - 1));
    if (POLICY_HAS_DROP_REQUESTS())
        assert_true(st.forced_switches >= NTHREADS - 1); /* a check point lets go only when asked */
    assert_int_equal(gil_tstate_delete(starter), 0);
    assert_int_equal(gil_destroy(s.gil), 0);
}

static void test_mutex_exclusion_default_interval(void **state)
{
    (void)state;
    run_exclusion(5000, scaled(1000000));
}

/* A 1 us interval: waiters ask for the GIL almost at once, so the holder is
 * forced out at nearly every check point. */
static void test_mutex_exclusion_constant_switching(void **state)
{
    (void)state;
    run_exclusion(1, scaled(1000000));
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_mutex_exclusion_default_interval, 120),
        GUARDED_TEST(test_mutex_exclusion_constant_switching, 240),
        GUARDED_TEST(test_mutex_two_gils_independent, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
