/*
 * test_registry.c - thread states, names, and gil_foreach_tstate from a
 * monitor thread while other threads create and delete states (RCU).
 */
#include "helpers.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>

#define CHURNERS 8

typedef struct churn {
    gil_t *gil;
    long per_thread;
    _Atomic int done;
    _Atomic long walks;     /* completed by the monitor */
    long seen, bad_names;   /* the monitor's */
    long workers_seen;      /* idem: "worker" states met */
} churn_t;

static int walked(churn_t *c, long n) { return atomic_load(&c->walks) >= n; }

/* Every CHECKPOINT iterations a churner keeps its new state alive until the
 * monitor has completed a walk that began after it was created (two more
 * completed walks): that walk must have met it.  So walks interleave with
 * the churn, and the monitor sees states that come and go, whatever the
 * scheduler does. */
#define CHECKPOINT 1024

static void *churner(void *arg)
{
    churn_t *c = arg;
    for (long i = 0; i < c->per_thread; i++) {
        gil_tstate_t *ts;
        CHECK_EQ(gil_tstate_new(c->gil, "worker", &ts), 0);
        if (i % 64 == 0) { /* sometimes use it, too */
            CHECK_EQ(gil_acquire(ts), 0);
            CHECK_EQ(gil_release(ts), 0);
        }
        if (i % CHECKPOINT == 0) {
            long target = atomic_load(&c->walks) + 2;
            while (!walked(c, target))
                sched_yield();
        }
        CHECK_EQ(gil_tstate_delete(ts), 0);
    }
    atomic_fetch_add(&c->done, 1);
    return NULL;
}

static int inspect(const gil_tstate_t *ts, void *arg)
{
    churn_t *c = arg;
    const char *name = gil_tstate_name(ts);
    if (strcmp(name, "worker") == 0)
        c->workers_seen++;
    else if (strcmp(name, "main") != 0)
        c->bad_names++;
    if (gil_tstate_gil(ts) != c->gil)
        c->bad_names++;
    gil_tstate_stats_t st;
    (void)gil_tstate_stats_get(ts, &st); /* may say EINVAL if just deleted */
    c->seen++;
    return 0;
}

static void *monitor(void *arg)
{
    churn_t *c = arg;
    while (atomic_load(&c->done) < CHURNERS) {
        CHECK_EQ(gil_foreach_tstate(c->gil, inspect, c), 0);
        atomic_fetch_add(&c->walks, 1);
    }
    return NULL;
}

static void test_registry_foreach_during_churn(void **state)
{
    (void)state;
    churn_t c;
    memset(&c, 0, sizeof c);
    c.gil = make_gil(5000);
    c.per_thread = scaled(100000) / CHURNERS;
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(c.gil, "main", &main_ts), 0);
    pthread_t mon = spawn(monitor, &c), t[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        t[i] = spawn(churner, &c);
    for (int i = 0; i < CHURNERS; i++)
        join(t[i]);
    join(mon);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(c.bad_names, 0);
    long checkpoints = CHURNERS * ((c.per_thread + CHECKPOINT - 1) / CHECKPOINT);
    assert_true(atomic_load(&c.walks) >= 2 * checkpoints / CHURNERS); /* each churner waited for two */
    assert_true(c.workers_seen >= checkpoints); /* each checkpoint's state was met */
    assert_true(c.seen >= atomic_load(&c.walks)); /* main is always there */
    assert_int_equal(count_tstates(c.gil), 1); /* only main is left */
    assert_int_equal(gil_tstate_delete(main_ts), 0);
    assert_int_equal(gil_destroy(c.gil), 0);
}

static int collect_names(const gil_tstate_t *ts, void *arg)
{
    char *buf = arg;
    strcat(buf, gil_tstate_name(ts));
    strcat(buf, ",");
    return 0;
}

static int stop_at_b(const gil_tstate_t *ts, void *arg)
{
    (*(int *)arg)++;
    return strcmp(gil_tstate_name(ts), "b") == 0 ? 77 : 0;
}

static void test_registry_names_and_order(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *a, *b, *c, *unnamed;
    assert_int_equal(gil_tstate_new(gil, "a", &a), 0);
    assert_int_equal(gil_tstate_new(gil, "b", &b), 0);
    assert_int_equal(gil_tstate_new(gil, "a-very-long-thread-name-that-is-truncated-here", &c), 0);
    assert_int_equal(gil_tstate_new(gil, NULL, &unnamed), 0);
    assert_string_equal(gil_tstate_name(c), "a-very-long-thread-name-that-is");
    assert_string_equal(gil_tstate_name(unnamed), "");
    char names[256] = "";
    assert_int_equal(gil_foreach_tstate(gil, collect_names, names), 0);
    assert_string_equal(names, ",a-very-long-thread-name-that-is,b,a,"); /* newest first */
    int visited = 0;
    assert_int_equal(gil_foreach_tstate(gil, stop_at_b, &visited), 77);
    assert_int_equal(visited, 3);
    assert_int_equal(gil_tstate_delete(b), 0);
    names[0] = '\0';
    assert_int_equal(gil_foreach_tstate(gil, collect_names, names), 0);
    assert_string_equal(names, ",a-very-long-thread-name-that-is,a,");
    assert_int_equal(gil_tstate_delete(a), 0);
    assert_int_equal(gil_tstate_delete(c), 0);
    assert_int_equal(gil_tstate_delete(unnamed), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_registry_foreach_during_churn, 300),
        GUARDED_TEST(test_registry_names_and_order, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
