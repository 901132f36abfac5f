/*
 * test_allow_threads.c - GIL_BEGIN/END_ALLOW_THREADS and friends.
 */
#include "helpers.h"

#include <errno.h>
#include <string.h>

typedef struct other {
    gil_t *gil;
    _Atomic int go, took, hold_until_waiter;
} other_t;

static int told_to_go(void *arg) { return atomic_load(&((other_t *)arg)->go); }
static int other_took(void *arg) { return atomic_load(&((other_t *)arg)->took); }

static void *other_thread(void *arg)
{
    other_t *o = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(o->gil, "other", &ts), 0);
    wait_until(told_to_go, o);
    CHECK_EQ(gil_acquire(ts), 0);
    atomic_store(&o->took, 1);
    if (atomic_load(&o->hold_until_waiter)) {
        /* Keep the GIL until the main thread waits for it in its restore,
         * and a little longer, so that it sleeps in the slow path. */
        gil_stats_t st;
        do
            CHECK_EQ(gil_stats_get(o->gil, &st), 0);
        while (st.waiting_now == 0);
        for (int i = 0; i < 3; i++) {
            nap_us(3000);
            CHECK_EQ(gil_check(ts), 0);
        }
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

/* Inside the block the GIL is free: another thread takes it meanwhile.
 * errno set inside the block survives GIL_END_ALLOW_THREADS even when the
 * restore had to wait (the wait itself uses timed condvar waits). */
static void run_block(int contended_restore)
{
    other_t o;
    memset(&o, 0, sizeof o);
    o.gil = make_gil(1000);
    atomic_store(&o.hold_until_waiter, contended_restore);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(o.gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    pthread_t t = spawn(other_thread, &o);
    int held_inside = -1;
    GIL_BEGIN_ALLOW_THREADS
    held_inside = gil_held(o.gil);
    atomic_store(&o.go, 1);
    wait_until(other_took, &o); /* it got the GIL while we are inside */
    errno = EIO;
    GIL_END_ALLOW_THREADS
    int saved = errno;
    assert_int_equal(saved, EIO);
    assert_int_equal(held_inside, 0);
    assert_true(gil_held(o.gil));
    assert_ptr_equal(gil_current(), ts);
    /* The other thread's acquisition found the GIL free (we were inside);
     * with contended_restore it held the GIL until our restore waited. */
    gil_tstate_stats_t mine = tstate_stats_of(ts);
    assert_int_equal(gil_release(ts), 0);
    join(t);
    ASSERT_NO_CHECK_FAILURES();
    if (contended_restore)
        assert_true(mine.contended >= 1);
    assert_int_equal(mine.acquisitions, 2); /* the acquire and the restore */
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(o.gil), 0);
}

static void test_allow_threads_gil_free_inside(void **state)
{
    (void)state;
    run_block(0);
}

static void test_allow_threads_errno_survives_contended_restore(void **state)
{
    (void)state;
    run_block(1);
}

static void test_allow_threads_block_unblock(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    GIL_BEGIN_ALLOW_THREADS
    assert_false(gil_held(gil));
    assert_null(gil_current());
    GIL_BLOCK_THREADS
    assert_true(gil_held(gil)); /* e.g. to raise an error with the GIL */
    GIL_UNBLOCK_THREADS
    assert_false(gil_held(gil));
    GIL_END_ALLOW_THREADS
    assert_true(gil_held(gil));
    /* gil_save/gil_restore directly. */
    gil_tstate_t *saved = gil_save();
    assert_ptr_equal(saved, ts);
    assert_false(gil_held(gil));
    assert_null(gil_save());
    assert_int_equal(gil_restore(saved), 0);
    assert_true(gil_held(gil));
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_allow_threads_gil_free_inside, 60),
        GUARDED_TEST(test_allow_threads_errno_survives_contended_restore, 60),
        GUARDED_TEST(test_allow_threads_block_unblock, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
