/*
 * test_watchdog.c - the long-hold watchdog: one report per episode when a
 * holder ignores drop requests, none when check points are frequent, the
 * default stderr line, off by default.
 *
 * Everything is ordered by counters (drop requests made, waiter wake-ups
 * seen, reports delivered); deadlines are hang detectors only.  The watchdog
 * lives in the waiters' timed waits (the CPython policy's and the handoff
 * engine's), so these GILs use the suite's policy, or CPython's under
 * GIL_TEST_POLICY=legacy (LEGACY makes no drop requests to ignore).
 */
#include "helpers.h"
#include "observe/observe.h" /* obs->wd_polls: waiter wake-ups, white-box */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Watched GILs have the suite's policy, CPython's under LEGACY (no drop
 * requests there to ignore). */
static void watched_config(gil_config_t *cfg, unsigned long interval_us)
{
    test_config_init(cfg, interval_us);
    if (!POLICY_HAS_DROP_REQUESTS())
        cfg->policy = GIL_POLICY_CPYTHON;
}

static gil_t *watched_gil(unsigned long interval_us, unsigned factor, gil_watchdog_fn fn, void *arg)
{
    gil_config_t cfg;
    watched_config(&cfg, interval_us);
    assert_int_equal(cfg.watchdog_factor, 0); /* off by default */
    assert_null(cfg.watchdog_fn);
    cfg.watchdog_factor = factor;
    cfg.watchdog_fn = fn;
    cfg.watchdog_arg = arg;
    return make_gil_cfg(&cfg);
}

static int reports_n(collector_t *rs)
{
    return collector_total(rs);
}

static uint64_t polls(gil_t *gil)
{
    return atomic_load_explicit(&gil__obs(gil)->wd_polls, memory_order_relaxed);
}

static uint64_t drop_requests(gil_t *gil)
{
    return stats_of(gil).drop_requests;
}

/* ---- a waiter that comes for the GIL `rounds` times --------------------- */

typedef struct waiter {
    gil_t *gil;
    int rounds;
    _Atomic int go;   /* rounds the main thread allowed */
    _Atomic int done; /* rounds completed */
} waiter_t;

static int may_go(waiter_t *w, int round) { return atomic_load(&w->go) > round; }

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(w->gil, "W", &ts), 0);
    for (int round = 0; round < w->rounds; round++) {
        while (!may_go(w, round))
            nap_us(100);
        CHECK_EQ(gil_acquire(ts), 0); /* waits: the holder ignores us */
        CHECK_EQ(gil_release(ts), 0);
        atomic_fetch_add(&w->done, 1);
    }
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

/* Hold without a check point until pred(gil, arg) holds. */
static void spin_until(gil_t *gil, int (*pred)(gil_t *, void *), void *arg)
{
    volatile uint64_t x = 1;
    while (!pred(gil, arg))
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005u + 1;
}

typedef struct spin_arg {
    collector_t *rs;
    int want;
    uint64_t polls;
    uint64_t requests;
    uint64_t reports;
} spin_arg_t;

static int got_reports(gil_t *gil, void *arg)
{
    (void)gil;
    spin_arg_t *a = arg;
    return reports_n(a->rs) >= a->want;
}

static int polled_more(gil_t *gil, void *arg)
{
    return polls(gil) >= ((spin_arg_t *)arg)->polls;
}

static int requested(gil_t *gil, void *arg)
{
    return drop_requests(gil) >= ((spin_arg_t *)arg)->requests;
}

/* Watchdog marks are on H's track (id 1), noticed by W (id 2). */
static int count_mark(const gil_trace_mark_t *m, void *arg)
{
    int *marks = arg;
    CHECK(m->holder == 1 && m->waiter == 2);
    marks[m->kind]++;
    return 0;
}

static void test_watchdog_fires_once_per_episode(void **state)
{
    (void)state;
    collector_t *rs = collector_new(8);
    const unsigned long interval = 500;
    const unsigned factor = 4;
    gil_t *gil = watched_gil(interval, factor, collector_watchdog, rs);
    waiter_t w = {.gil = gil, .rounds = 2};
    gil_tstate_t *h;
    assert_int_equal(gil_tstate_new(gil, "H", &h), 0);
    assert_int_equal(gil_trace_start(gil, 0), 0); /* reports are marked in traces */
    assert_int_equal(gil_acquire(h), 0);
    pthread_t t = spawn(waiter_main, &w);

    for (int episode = 1; episode <= 2; episode++) {
        atomic_store(&w.go, episode);
        /* W asks us to drop; we ignore it until the watchdog reports. */
        spin_arg_t a = {.rs = rs, .want = episode, .requests = (uint64_t)episode};
        spin_until(gil, requested, &a);
        spin_until(gil, got_reports, &a);
        /* Keep ignoring it while W wakes up ten more times: no new report. */
        a.polls = polls(gil) + 10;
        spin_until(gil, polled_more, &a);
        assert_int_equal(reports_n(rs), episode);
        /* The episode ends with the release the check point makes. */
        assert_int_equal(gil_check(h), 0);
        while (atomic_load(&w.done) < episode)
            assert_int_equal(gil_check(h), 0);
    }
    join(t);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(reports_n(rs), 2);
    for (int i = 0; i < 2; i++) {
        ev_rec_t rec = collector_get(rs, i);
        assert_false(rec.caller_held); /* runs in the waiter's thread */
        gil_watchdog_report_t *r = &rec.report;
        assert_ptr_equal(r->gil, gil);
        assert_string_equal(r->holder, "H");
        assert_string_equal(r->waiter, "W");
        assert_int_equal(r->holder_id, gil_tstate_id(h));
        assert_int_equal(r->waiter_id, 2);
        assert_int_equal(r->waiting, 1);
        assert_int_equal(r->limit_ns, factor * interval * 1000);
        assert_true(r->ignored_ns > r->limit_ns);
        assert_true(r->held_ns >= r->ignored_ns); /* timed since W arrived, before it asked */
    }
    gil_stats_t st;
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.watchdog_reports, 2);
    assert_int_equal(gil_release(h), 0);
    assert_int_equal(gil_trace_stop(gil), 0);
    int marks[2] = {0, 0};
    gil_trace_visitor_t v = {.mark = count_mark};
    assert_int_equal(gil_trace_visit(gil, &v, marks), 0);
    assert_int_equal(marks[GIL_TRACE_MARK_WATCHDOG], 2);
    assert_true(marks[GIL_TRACE_MARK_DROP_REQUEST] >= 2);
    collector_free(rs);
    assert_int_equal(gil_tstate_delete(h), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- frequent check points: never a report ------------------------------ */

static void test_watchdog_silent_with_frequent_checks(void **state)
{
    (void)state;
    collector_t *rs = collector_new(8);
    /* Limit 2 s: a holder checking every few nanoseconds honours each
     * request at once, so only a holder kept off the CPU that long (a
     * deadline of the hang-guard kind, not a stopwatch) could be reported. */
    gil_t *gil = watched_gil(1000, 2000, collector_watchdog, rs);
    hog_t t[2];
    hog_start(&t[0], gil, "checker");
    hog_start(&t[1], gil, "checker");
    gil_stats_t st;
    do {
        nap_us(2000);
        assert_int_equal(gil_stats_get(gil, &st), 0);
    } while (st.forced_switches < (uint64_t)scaled(100));
    hog_stop(&t[0]);
    hog_stop(&t[1]);
    ASSERT_NO_CHECK_FAILURES();
    assert_true(polls(gil) >= (uint64_t)scaled(100)); /* the waiters did look */
    assert_int_equal(reports_n(rs), 0);
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.watchdog_reports, 0);
    collector_free(rs);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- the default report and the default setting ------------------------- */

static uint64_t reports_made(gil_t *gil)
{
    return stats_of(gil).watchdog_reports;
}

static int reported(gil_t *gil, void *arg)
{
    return reports_made(gil) >= ((spin_arg_t *)arg)->reports;
}

/* One ignored episode with the given GIL: hold without a check point until
 * W has asked, the watchdog has made `reports` reports and W has woken up
 * extra_polls more times; returns once W got the GIL. */
static void ignore_once(gil_t *gil, gil_tstate_t *h, uint64_t reports, uint64_t extra_polls)
{
    waiter_t w = {.gil = gil, .rounds = 1, .go = 1};
    pthread_t t = spawn(waiter_main, &w);
    spin_arg_t a = {.requests = 1, .reports = reports};
    spin_until(gil, requested, &a);
    spin_until(gil, reported, &a);
    a.polls = polls(gil) + extra_polls;
    spin_until(gil, polled_more, &a);
    while (atomic_load(&w.done) < 1)
        assert_int_equal(gil_check(h), 0);
    join(t);
    ASSERT_NO_CHECK_FAILURES();
}

static void test_watchdog_default_prints_one_line(void **state)
{
    (void)state;
    gil_t *gil = watched_gil(500, 2, NULL, NULL);
    gil_tstate_t *h;
    assert_int_equal(gil_tstate_new(gil, "H", &h), 0);
    assert_int_equal(gil_acquire(h), 0);

    /* Capture stderr in a file for the episode. */
    fflush(stderr);
    char path[] = "/tmp/gil_watchdog_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    assert_true(dup2(fd, 2) == 2);
    /* Until the report, and 10 more wake-ups in the same episode (which
     * must not make another). */
    ignore_once(gil, h, 1, 10);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    char text[1024] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    text[n] = '\0';
    static const char head[] = "libgil: watchdog: gil \"gil\": \"H\" (tstate 1) has held the GIL for ";
    if (strncmp(text, head, sizeof head - 1) != 0)
        fail_msg("unexpected report: %s", text);
    assert_non_null(strstr(text, " and ignored a drop request for "));
    assert_non_null(strstr(text, "(limit 1ms); 1 waiting, \"W\" (tstate 2) noticed\n"));
    assert_ptr_equal(strchr(text, '\n'), text + n - 1); /* one line */

    gil_stats_t st;
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.watchdog_reports, 1);
    assert_int_equal(gil_release(h), 0);
    assert_int_equal(gil_tstate_delete(h), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_watchdog_off_by_default(void **state)
{
    (void)state;
    gil_config_t cfg;
    watched_config(&cfg, 500); /* gil_config_init: factor 0 */
    gil_t *gil = make_gil_cfg(&cfg);
    gil_tstate_t *h;
    assert_int_equal(gil_tstate_new(gil, "H", &h), 0);
    assert_int_equal(gil_acquire(h), 0);
    ignore_once(gil, h, 0, 20); /* 20 wake-ups with the request ignored: past any limit */
    gil_stats_t st;
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.watchdog_reports, 0);
    assert_int_equal(gil_release(h), 0);
    assert_int_equal(gil_tstate_delete(h), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_watchdog_fires_once_per_episode, 120),
        GUARDED_TEST(test_watchdog_silent_with_frequent_checks, 120),
        GUARDED_TEST(test_watchdog_default_prints_one_line, 60),
        GUARDED_TEST(test_watchdog_off_by_default, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
