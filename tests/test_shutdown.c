/*
 * test_shutdown.c - gil_shutdown wakes every waiter with GIL_ESHUTDOWN and
 * everything can be torn down.
 */
#include "helpers.h"

#include <string.h>

#define WAITERS 3

typedef struct sd {
    gil_t *gil;
    gil_tstate_t *ts[WAITERS];
    int rc[WAITERS];
    int ensure_rc;
    _Atomic int created;
} sd_t;

typedef struct sd_arg {
    sd_t *s;
    int i;
} sd_arg_t;

static void *blocked_acquirer(void *arg)
{
    sd_arg_t *a = arg;
    CHECK_EQ(gil_tstate_new(a->s->gil, "blocked", &a->s->ts[a->i]), 0);
    atomic_fetch_add(&a->s->created, 1);
    a->s->rc[a->i] = gil_acquire(a->s->ts[a->i]);
    return NULL;
}

static void *blocked_ensure(void *arg)
{
    sd_t *s = arg;
    gil_ensure_t st;
    s->ensure_rc = gil_ensure(s->gil, &st);
    return NULL;
}

static int all_waiting(void *arg)
{
    return stats_of(((sd_t *)arg)->gil).waiting_now == WAITERS + 1;
}

static void test_shutdown_wakes_every_waiter(void **state)
{
    (void)state;
    sd_t s;
    memset(&s, 0, sizeof s);
    s.gil = make_gil(1000);
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(s.gil, "main", &main_ts), 0);
    assert_int_equal(gil_acquire(main_ts), 0);
    sd_arg_t args[WAITERS];
    pthread_t t[WAITERS + 1];
    for (int i = 0; i < WAITERS; i++) {
        args[i] = (sd_arg_t){&s, i};
        t[i] = spawn(blocked_acquirer, &args[i]);
    }
    t[WAITERS] = spawn(blocked_ensure, &s);
    wait_until(all_waiting, &s);

    assert_int_equal(gil_shutdown(s.gil), 0);
    assert_int_equal(gil_shutdown(s.gil), 0); /* idempotent */
    for (int i = 0; i <= WAITERS; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(s.rc[i], GIL_ESHUTDOWN);
    assert_int_equal(s.ensure_rc, GIL_ESHUTDOWN);

    /* The holder unwinds: every check point says so, then it releases. */
    assert_int_equal(gil_check(main_ts), GIL_ESHUTDOWN);
    assert_int_equal(gil_check(main_ts), GIL_ESHUTDOWN);
    assert_true(gil_held(s.gil));
    assert_int_equal(gil_release(main_ts), 0);
    /* Later calls fail promptly. */
    assert_int_equal(gil_acquire(main_ts), GIL_ESHUTDOWN);
    assert_int_equal(gil_restore(main_ts), GIL_ESHUTDOWN);
    assert_false(gil_held(s.gil));
    gil_tstate_t *late;
    assert_int_equal(gil_tstate_new(s.gil, "late", &late), GIL_ESHUTDOWN);
    gil_ensure_t es;
    assert_int_equal(gil_ensure(s.gil, &es), GIL_ESHUTDOWN);

    /* Teardown: the main thread may delete the states of threads that were
     * blocked (they have returned), then destroy. */
    assert_int_equal(gil_destroy(s.gil), GIL_EBUSY);
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(gil_tstate_delete(s.ts[i]), 0);
    assert_int_equal(gil_tstate_delete(main_ts), 0);
    assert_int_equal(count_tstates(s.gil), 0);
    assert_int_equal(gil_destroy(s.gil), 0);
}

/* A holder that ignores the drop request and then releases voluntarily waits
 * for the switch (FORCE_SWITCHING); shutdown must free it too if the waiter
 * goes away instead of taking the GIL. */
typedef struct fs {
    gil_t *gil;
    int rc;
} fs_t;

static void *impatient_waiter(void *arg)
{
    fs_t *f = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(f->gil, "waiter", &ts), 0);
    f->rc = gil_acquire(ts);
    if (f->rc == 0)
        CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static int drop_requested(void *arg)
{
    return stats_of(((fs_t *)arg)->gil).drop_requests >= 1;
}

static void test_shutdown_during_forced_switch(void **state)
{
    (void)state;
    if (!POLICY_HAS_DROP_REQUESTS())
        skip(); /* LEGACY never asks, so nothing is forced */
    fs_t f = {.gil = make_gil(500)};
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(f.gil, "holder", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    pthread_t t = spawn(impatient_waiter, &f);
    wait_until(drop_requested, &f); /* the request is pending on us */
    assert_int_equal(gil_shutdown(f.gil), 0);
    join(t); /* it left with GIL_ESHUTDOWN without taking the GIL */
    assert_int_equal(f.rc, GIL_ESHUTDOWN);
    /* Releasing with the request pending must not wait for a switch that
     * will never come. */
    assert_int_equal(gil_release(ts), 0);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(f.gil), 0);
}

/* ---- teardown races (found by review) ----------------------------------- */

/* A deleter may be inside a grace period, away from the registry lock, with
 * its batch of states already off the list: gil_destroy must not free the
 * GIL under it.  A reader on another GIL keeps grace periods long. */
typedef struct reclaim {
    gil_t *gil, *other;
    _Atomic int created, stop_reader;
} reclaim_t;

static int slow_visit(const gil_tstate_t *ts, void *arg)
{
    (void)ts;
    (void)arg;
    nap_us(500); /* inside an RCU read-side section */
    return 0;
}

static void *rcu_reader(void *arg)
{
    reclaim_t *r = arg;
    while (!atomic_load(&r->stop_reader))
        CHECK_EQ(gil_foreach_tstate(r->other, slow_visit, NULL), 0);
    return NULL;
}

static void *bulk_deleter(void *arg)
{
    reclaim_t *r = arg;
    gil_tstate_t *ts[32]; /* two batches of 16: the last grace period starts at count 0 */
    for (int i = 0; i < 32; i++)
        CHECK_EQ(gil_tstate_new(r->gil, "bulk", &ts[i]), 0);
    atomic_store(&r->created, 1);
    for (int i = 0; i < 32; i++) /* 16 at a time go through a grace period */
        CHECK_EQ(gil_tstate_delete(ts[i]), 0);
    return NULL;
}

static int states_created(void *arg) { return atomic_load(&((reclaim_t *)arg)->created); }

static void test_shutdown_destroy_waits_for_reclaiming_deleter(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        reclaim_t r = {.gil = make_gil(5000), .other = make_gil(5000)};
        gil_tstate_t *visible;
        assert_int_equal(gil_tstate_new(r.other, "visible", &visible), 0);
        pthread_t reader = spawn(rcu_reader, &r);
        pthread_t deleter = spawn(bulk_deleter, &r);
        wait_until(states_created, &r);
        int rc;
        while ((rc = gil_destroy(r.gil)) == GIL_EBUSY)
            ; /* poll, as a caller tearing down would */
        assert_int_equal(rc, 0);
        join(deleter); /* it touched nothing freed (ASan would say) */
        atomic_store(&r.stop_reader, 1);
        join(reader);
        assert_int_equal(gil_tstate_delete(visible), 0);
        assert_int_equal(gil_destroy(r.other), 0);
    }
    ASSERT_NO_CHECK_FAILURES();
}

/* A thread inside a slow path of libgil may not have its state deleted by
 * another thread, even after shutdown: gil_tstate_delete says GIL_EBUSY.  A
 * hook on WAIT holds the waiter at the start of its slow path. */
typedef struct gap {
    gil_t *gil;
    gil_tstate_t *waiter_ts;
    _Atomic int in_hook, may_leave;
    int acquire_rc;
} gap_t;

static void hold_in_wait(const gil_event_t *ev, void *arg)
{
    gap_t *g = arg;
    if (ev->tstate != g->waiter_ts)
        return;
    atomic_store(&g->in_hook, 1);
    while (!atomic_load(&g->may_leave))
        nap_us(100);
}

static int in_hook(void *arg) { return atomic_load(&((gap_t *)arg)->in_hook); }

static void *make_waiter_state(void *arg)
{
    gap_t *g = arg;
    CHECK_EQ(gil_tstate_new(g->gil, "waiter", &g->waiter_ts), 0);
    g->acquire_rc = gil_acquire(g->waiter_ts);
    return NULL;
}

static void test_shutdown_delete_of_busy_state_is_ebusy(void **state)
{
    (void)state;
    gap_t g;
    memset(&g, 0, sizeof g);
    g.gil = make_gil(5000000); /* long interval: nobody asks within the test */
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(g.gil, "main", &main_ts), 0);
    assert_int_equal(gil_acquire(main_ts), 0);
    gil_hook_handle_t h;
    assert_int_equal(gil_hook_add(g.gil, GIL_EVENT_WAIT, hold_in_wait, &g, &h), 0);
    pthread_t t = spawn(make_waiter_state, &g); /* the state must be its own */
    wait_until(in_hook, &g);                    /* the waiter is in gil__take's slow path */
    assert_int_equal(gil_shutdown(g.gil), 0);
    assert_int_equal(gil_release(main_ts), 0);
    assert_int_equal(gil_tstate_delete(main_ts), 0);
    assert_int_equal(gil_tstate_delete(g.waiter_ts), GIL_EBUSY);
    assert_int_equal(gil_destroy(g.gil), GIL_EBUSY);
    atomic_store(&g.may_leave, 1);
    join(t);
    assert_int_equal(g.acquire_rc, GIL_ESHUTDOWN);
    assert_int_equal(gil_tstate_delete(g.waiter_ts), 0); /* it has returned now */
    assert_int_equal(gil_hook_remove(g.gil, h), 0);
    assert_int_equal(gil_destroy(g.gil), 0);
    ASSERT_NO_CHECK_FAILURES();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_shutdown_wakes_every_waiter, 60),
        GUARDED_TEST(test_shutdown_during_forced_switch, 60),
        GUARDED_TEST(test_shutdown_destroy_waits_for_reclaiming_deleter, 60),
        GUARDED_TEST(test_shutdown_delete_of_busy_state_is_ebusy, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
