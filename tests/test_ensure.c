/*
 * test_ensure.c - gil_ensure / gil_ensure_release (PyGILState semantics).
 */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

typedef struct foreign {
    gil_t *gil;
    gil_ensure_t outer, inner;
    int held_outer, held_inner, held_after_inner, held_after_outer;
    int states_inside;
    char name[32];
    int again_rc;
    gil_ensure_t again;
} foreign_t;

/* A thread libgil never saw: no state of its own. */
static void *foreign_thread(void *arg)
{
    foreign_t *f = arg;
    CHECK_EQ(gil_ensure(f->gil, &f->outer), 0);
    f->held_outer = gil_held(f->gil);
    f->states_inside = count_tstates(f->gil);
    snprintf(f->name, sizeof f->name, "%s", gil_tstate_name(gil_current()));
    CHECK_EQ(gil_ensure(f->gil, &f->inner), 0);
    f->held_inner = gil_held(f->gil);
    CHECK_EQ(gil_check(gil_current()), 0);
    CHECK_EQ(gil_ensure_release(f->gil, f->inner), 0);
    f->held_after_inner = gil_held(f->gil);
    CHECK_EQ(gil_ensure_release(f->gil, f->outer), 0);
    f->held_after_outer = gil_held(f->gil);
    /* A second round after the state was deleted creates a fresh one. */
    f->again_rc = gil_ensure(f->gil, &f->again);
    CHECK_EQ(gil_ensure_release(f->gil, f->again), 0);
    return NULL;
}

static void test_ensure_nesting_from_foreign_thread(void **state)
{
    (void)state;
    foreign_t f;
    memset(&f, 0, sizeof f);
    f.gil = make_gil(5000);
    assert_int_equal(count_tstates(f.gil), 0);
    join(spawn(foreign_thread, &f));
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(f.outer, GIL_ENSURE_UNLOCKED);
    assert_int_equal(f.inner, GIL_ENSURE_LOCKED);
    assert_true(f.held_outer && f.held_inner && f.held_after_inner);
    assert_false(f.held_after_outer);
    assert_int_equal(f.states_inside, 1); /* created on first use */
    assert_string_equal(f.name, "ensure");
    assert_int_equal(f.again_rc, 0);
    assert_int_equal(f.again, GIL_ENSURE_UNLOCKED);
    assert_int_equal(count_tstates(f.gil), 0); /* deleted at counter 0 */
    assert_int_equal(gil_destroy(f.gil), 0);
}

/* A thread that already holds the GIL with its own state gets LOCKED, and
 * no state is created. */
static void test_ensure_when_already_held(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    gil_ensure_t s;
    assert_int_equal(gil_ensure(gil, &s), 0);
    assert_int_equal(s, GIL_ENSURE_LOCKED);
    assert_int_equal(count_tstates(gil), 1);
    assert_ptr_equal(gil_current(), ts);
    assert_int_equal(gil_ensure_release(gil, s), 0);
    assert_true(gil_held(gil));
    assert_int_equal(gil_ensure_release(gil, s), GIL_EPERM); /* unbalanced */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

typedef struct contend {
    gil_t *gil;
    long rounds;
    long counter;
} contend_t;

static void *ensure_worker(void *arg)
{
    contend_t *c = arg;
    for (long i = 0; i < c->rounds; i++) {
        gil_ensure_t s;
        CHECK_EQ(gil_ensure(c->gil, &s), 0);
        CHECK_EQ(s, GIL_ENSURE_UNLOCKED);
        c->counter++;
        CHECK_EQ(gil_ensure_release(c->gil, s), 0);
    }
    return NULL;
}

/* Many foreign threads calling in repeatedly: exclusion holds, and every
 * auto-created state is gone afterwards. */
static void test_ensure_many_foreign_threads(void **state)
{
    (void)state;
    contend_t c = {.gil = make_gil(100), .rounds = scaled(20000)};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(ensure_worker, &c);
    for (int i = 0; i < 4; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(c.counter, 4 * c.rounds);
    assert_int_equal(count_tstates(c.gil), 0);
    assert_int_equal(gil_destroy(c.gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_ensure_nesting_from_foreign_thread, 60),
        GUARDED_TEST(test_ensure_when_already_held, 30),
        GUARDED_TEST(test_ensure_many_foreign_threads, 120),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
