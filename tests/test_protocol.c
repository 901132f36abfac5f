/*
 * test_protocol.c - the drop-request handshake, FORCE_SWITCHING, CPython's
 * switch_number rule, yield, the switch interval.
 * Orderings are checked with event logs written while holding the GIL and
 * with counters, never with a stopwatch.
 */
#include "helpers.h"
#include "core/core.h" /* gil->mu, white-box */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint64_t ts_acquisitions(gil_tstate_t *ts)
{
    return tstate_stats_of(ts).acquisitions;
}

/* ---- drop request and FORCE_SWITCHING ---------------------------------- */

typedef struct handshake {
    gil_t *gil;
    collector_t *log;
    gil_tstate_t *waiter_ts;
    _Atomic int holding;
    uint64_t waiter_requests;
} handshake_t;

static int holder_is_holding(void *arg) { return atomic_load(&((handshake_t *)arg)->holding); }

static void *handshake_waiter(void *arg)
{
    handshake_t *h = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(h->gil, "waiter", &ts), 0);
    wait_until(holder_is_holding, h);
    CHECK_EQ(gil_acquire(ts), 0); /* blocks until the holder is made to drop */
    collector_note(h->log, "waiter-got");
    gil_tstate_stats_t st;
    CHECK_EQ(gil_tstate_stats_get(ts, &st), 0);
    h->waiter_requests = st.drop_requests;
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

/* A holder that loops on gil_check loses the GIL to a waiter, and cannot get
 * it back before the waiter has had it. */
static void test_protocol_drop_request_forces_switch(void **state)
{
    (void)state;
    if (!POLICY_HAS_DROP_REQUESTS())
        skip(); /* LEGACY: no drop requests; test_policies covers its ticks */
    handshake_t h;
    memset(&h, 0, sizeof h);
    h.log = collector_new(2);
    h.gil = make_gil(2000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(h.gil, "holder", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    pthread_t w = spawn(handshake_waiter, &h);
    atomic_store(&h.holding, 1);
    uint64_t before = ts_acquisitions(ts);
    /* Our acquisitions counter moves only if a check point released and
     * re-acquired the GIL. */
    while (ts_acquisitions(ts) == before)
        assert_int_equal(gil_check(ts), 0);
    collector_note(h.log, "holder-back");
    join(w);
    ASSERT_NO_CHECK_FAILURES();

    int got = collector_find(h.log, 0, &(ev_match_t){.text = "waiter-got"}),
        back = collector_find(h.log, 0, &(ev_match_t){.text = "holder-back"});
    assert_true(got >= 0 && back >= 0);
    assert_true(got < back); /* FORCE_SWITCHING: the waiter had it first */
    gil_stats_t st = stats_of(h.gil);
    assert_true(st.drop_requests >= 1);
    assert_true(st.forced_switches >= 1);
    assert_true(st.switches >= 2); /* holder -> waiter -> holder */
    assert_true(h.waiter_requests >= 1);
    gil_tstate_stats_t mine;
    assert_int_equal(gil_tstate_stats_get(ts, &mine), 0);
    assert_true(mine.forced_switches >= 1);
    assert_int_equal(gil_release(ts), 0);
    collector_free(h.log);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(h.gil), 0);
}

/* ---- the switch_number rule -------------------------------------------- */

typedef struct rule {
    gil_t *gil;
    _Atomic int winners;
} rule_t;

/* Both waiters run this.  The first to get the GIL (the winner) holds it,
 * polling check points, until it is made to drop and comes back; the other
 * (the loser) just takes it once and leaves. */
static void *rule_waiter(void *arg)
{
    rule_t *r = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(r->gil, "rule", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    if (atomic_fetch_add(&r->winners, 1) == 0) {
        gil_tstate_stats_t st;
        CHECK_EQ(gil_tstate_stats_get(ts, &st), 0);
        uint64_t before = st.acquisitions;
        for (;;) {
            CHECK_EQ(gil_check(ts), 0);
            CHECK_EQ(gil_tstate_stats_get(ts, &st), 0);
            if (st.acquisitions != before)
                break;
        }
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static int two_waiting(void *arg)
{
    return stats_of(((rule_t *)arg)->gil).waiting_now == 2;
}

/* A registered CPython waiter holds gil->mu from registering until it
 * sleeps in its timed wait, so once we have had the mutex, every waiter
 * registered before is asleep, its interval begun (white-box: an ordering,
 * where a nap would only make it likely). */
static void until_waiters_asleep(gil_t *gil)
{
    gil__mutex_lock(&gil->mu);
    gil__mutex_unlock(&gil->mu);
}

/* Returns requests_withheld of one run, or -1 if the run was void (the
 * holder was asked to drop before it released: the test was descheduled
 * for a whole interval, so no switch happened inside a waiter's interval). */
static long rule_run(void)
{
    rule_t r = {.gil = make_gil(40000)};
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(r.gil, "first", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    pthread_t a = spawn(rule_waiter, &r), b = spawn(rule_waiter, &r);
    wait_until(two_waiting, &r);
    until_waiters_asleep(r.gil);
    assert_int_equal(gil_release(ts), 0); /* the switch, inside both intervals */
    /* Void if an interval ended before the switch (its request is counted
     * by now; the loser's interval, begun before the switch, withholds). */
    bool void_run = stats_of(r.gil).drop_requests != 0;
    join(a);
    join(b);
    gil_stats_t st = stats_of(r.gil);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(r.gil), 0);
    if (void_run)
        return -1;
    /* The loser must eventually have asked the winner to drop. */
    assert_true(st.drop_requests >= 1);
    return (long)st.requests_withheld;
}

/* A waiter whose interval saw a switch makes no drop request at its end: it
 * waits a full new interval (the new holder deserves one).  Without the rule
 * requests_withheld stays 0 in every run.  A run is void if the test was
 * stalled for a whole interval (detected), and inconclusive if the loser
 * was woken early (a spurious condvar wake-up starts a new interval after
 * the switch); hence a few attempts. */
static void test_protocol_switch_withholds_request(void **state)
{
    (void)state;
    /* The scenario (two waiters sleeping on one condvar, one signal) is the
     * CPython policy's; the handoff policies wake the new head instead. */
    only_for_policy(GIL_POLICY_CPYTHON, "the scenario is CPython's shared-condvar wait");
    long withheld = 0;
    for (int attempt = 0; attempt < 5 && withheld <= 0; attempt++)
        withheld = rule_run();
    ASSERT_NO_CHECK_FAILURES();
    assert_true(withheld >= 1);
}

/* ---- yield ------------------------------------------------------------- */

#define YIELDS 2000

typedef struct yielders {
    gil_t *gil;
    int seq[2 * YIELDS]; /* written with the GIL held */
    int n;
    _Atomic int ready;
} yielders_t;

typedef struct yielder_arg {
    yielders_t *y;
    int id;
} yielder_arg_t;

static int both_ready(void *arg) { return atomic_load(&((yielders_t *)arg)->ready) == 2; }

static void *yielder(void *arg)
{
    yielder_arg_t *a = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(a->y->gil, "yielder", &ts), 0);
    atomic_fetch_add(&a->y->ready, 1);
    wait_until(both_ready, a->y);
    CHECK_EQ(gil_acquire(ts), 0);
    /* Start yielding only once the other thread waits, so the loops overlap. */
    gil_stats_t st;
    do
        CHECK_EQ(gil_stats_get(a->y->gil, &st), 0);
    while (st.waiting_now == 0);
    for (int i = 0; i < YIELDS; i++) {
        CHECK_EQ(gil_yield(ts), 0);
        a->y->seq[a->y->n++] = a->id;
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

/* Two threads that only yield alternate at every yield: a yielding thread
 * counts as a waiter (OCaml fix #2112).  Without it, a thread that yields
 * while the other is still on its way back finds nobody waiting and runs on. */
static void test_protocol_yielders_alternate(void **state)
{
    (void)state;
    yielders_t *y = calloc(1, sizeof *y);
    y->gil = make_gil(5000);
    yielder_arg_t a = {y, 1}, b = {y, 2};
    pthread_t ta = spawn(yielder, &a), tb = spawn(yielder, &b);
    join(ta);
    join(tb);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(y->n, 2 * YIELDS);
    /* Once both are in the loop (after the first thread's leading run: the
     * second may not have asked yet) every yield is a handover, until the
     * first one finishes (the other's remaining yields find nobody). */
    int head = 1, tail = 1;
    while (head < 2 * YIELDS && y->seq[head] == y->seq[0])
        head++;
    while (tail < 2 * YIELDS && y->seq[2 * YIELDS - 1 - tail] == y->seq[2 * YIELDS - 1])
        tail++;
    int repeats = 0, handovers = 0;
    for (int i = head; i < 2 * YIELDS - tail; i++) {
        repeats += y->seq[i] == y->seq[i - 1];
        handovers += y->seq[i] != y->seq[i - 1];
    }
    assert_int_equal(repeats, 0);
    assert_true(handovers >= YIELDS); /* the two loops really overlapped */
    assert_int_equal(gil_destroy(y->gil), 0);
    free(y);
}

static void test_protocol_yield_alone_returns_at_once(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "alone", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    uint64_t before = ts_acquisitions(ts);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(gil_yield(ts), 0);
    assert_true(gil_held(gil));
    assert_int_equal(ts_acquisitions(ts), before); /* never let go */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_yield(ts), GIL_EPERM);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- the interval ------------------------------------------------------ */

static void test_protocol_interval_get_set(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    assert_int_equal(gil_get_switch_interval(gil), 5000);
    assert_int_equal(gil_set_switch_interval(gil, 1234), 0);
    assert_int_equal(gil_get_switch_interval(gil), 1234);
    assert_int_equal(gil_set_switch_interval(gil, 0), GIL_EINVAL);
    assert_int_equal(gil_get_switch_interval(gil), 1234);
    assert_int_equal(gil_set_switch_interval(NULL, 10), GIL_EINVAL);
    assert_int_equal(gil_get_switch_interval(NULL), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* A thread that acquires uncontended is not a switch; a different thread is. */
static void *acquire_once(void *arg)
{
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(arg, "once", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_protocol_switch_counts_holder_changes(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_release(ts), 0);
    uint64_t s0 = stats_of(gil).switches;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gil_acquire(ts), 0);
        assert_int_equal(gil_release(ts), 0);
    }
    assert_int_equal(stats_of(gil).switches, s0);
    join(spawn(acquire_once, gil));
    assert_int_equal(stats_of(gil).switches, s0 + 1);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(stats_of(gil).switches, s0 + 2);
    assert_int_equal(gil_release(ts), 0);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_protocol_drop_request_forces_switch, 60),
        GUARDED_TEST(test_protocol_switch_withholds_request, 120),
        GUARDED_TEST(test_protocol_yielders_alternate, 120),
        GUARDED_TEST(test_protocol_yield_alone_returns_at_once, 30),
        GUARDED_TEST(test_protocol_interval_get_set, 30),
        GUARDED_TEST(test_protocol_switch_counts_holder_changes, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
