/*
 * test_stats.c - histograms against known inputs, counters, timing modes.
 */
#include "helpers.h"
#include "core/core.h" /* the histogram, white-box */

#include <stdlib.h>
#include <string.h>

static gil__hist_t *new_hist(void)
{
    gil__hist_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    return h;
}

/* Within the histogram's resolution: the reported value is the upper bound
 * of the value's bucket, never below it and at most 1/32 above. */
static void assert_close(uint64_t got, uint64_t want)
{
    assert_true(got >= want);
    assert_true(got <= want + want / 32 + 1);
}

static void test_stats_hist_exact_small_values(void **state)
{
    (void)state;
    gil__hist_t *h = new_hist();
    for (uint64_t v = 0; v < 32; v++)
        gil__hist_record(h, v);
    gil_hist_summary_t s;
    gil__hist_summary(h, &s);
    assert_int_equal(s.count, 32);
    assert_int_equal(s.p50_ns, 15);
    assert_int_equal(s.p90_ns, 28);
    assert_int_equal(s.p99_ns, 31);
    assert_int_equal(s.max_ns, 31);
    free(h);
}

static void test_stats_hist_percentiles_uniform(void **state)
{
    (void)state;
    gil__hist_t *h = new_hist();
    for (uint64_t v = 1; v <= 100000; v++)
        gil__hist_record(h, v * 1000); /* 1 us .. 100 ms */
    gil_hist_summary_t s;
    gil__hist_summary(h, &s);
    assert_int_equal(s.count, 100000);
    assert_close(s.p50_ns, 50000000);
    assert_close(s.p90_ns, 90000000);
    assert_close(s.p99_ns, 99000000);
    assert_int_equal(s.max_ns, 100000000);
    gil__hist_reset(h);
    gil__hist_summary(h, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.p99_ns, 0);
    assert_int_equal(s.max_ns, 0);
    free(h);
}

static void test_stats_hist_bimodal_and_huge(void **state)
{
    (void)state;
    gil__hist_t *h = new_hist();
    for (int i = 0; i < 980; i++)
        gil__hist_record(h, 15000); /* 15 us: I/O round trips */
    for (int i = 0; i < 20; i++)
        gil__hist_record(h, 5000000); /* 5 ms: a switch interval */
    gil__hist_record(h, UINT64_C(1) << 50); /* beyond the last bucket */
    gil_hist_summary_t s;
    gil__hist_summary(h, &s);
    assert_close(s.p50_ns, 15000);
    assert_close(s.p90_ns, 15000);
    assert_close(s.p99_ns, 5000000);
    assert_int_equal(s.max_ns, UINT64_C(1) << 50);
    free(h);
}

/* Every value maps to a bucket whose upper bound is >= the value and within
 * 1/32 of it. */
static void test_stats_hist_bucket_bounds(void **state)
{
    (void)state;
    gil__hist_t *h = new_hist();
    uint64_t v = 1;
    for (int i = 0; i < 2000; i++) {
        gil__hist_reset(h);
        gil__hist_record(h, v);
        gil__hist_record(h, v); /* max == v caps the bound; record twice, check quantile */
        atomic_store(&h->max, UINT64_MAX); /* disable the cap: see the raw bound */
        uint64_t q = gil__hist_quantile(h, 0.5);
        assert_close(q, v);
        v = v + v / 7 + 1;
        if (v > (UINT64_C(1) << 40))
            break;
    }
    free(h);
}

/* Default timing: an uncontended acquire/release takes no clock read, so no
 * hold is timed; GIL_TIMING_ALWAYS times every hold. */
static void test_stats_timing_modes(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        gil_config_t cfg;
        test_config_init(&cfg, 5000);
        cfg.timing = mode ? GIL_TIMING_ALWAYS : GIL_TIMING_CONTENDED;
        gil_t *gil = make_gil_cfg(&cfg);
        gil_tstate_t *ts;
        assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
        for (int i = 0; i < 100; i++) {
            assert_int_equal(gil_acquire(ts), 0);
            assert_int_equal(gil_release(ts), 0);
        }
        gil_stats_t st = stats_of(gil);
        /* PRIORITY needs every release's time for its scheduling, so it
         * times every hold whatever the mode (docs/policies.md). */
        int timed = mode || test_policy() == GIL_POLICY_PRIORITY;
        assert_int_equal(st.acquisitions, 100);
        assert_int_equal(st.contended, 0);
        assert_int_equal(st.wait.count, 0);
        assert_int_equal(st.timed_holds, timed ? 100 : 0);
        assert_int_equal(st.hold.count, timed ? 100 : 0);
        gil_tstate_stats_t tst;
        assert_int_equal(gil_tstate_stats_get(ts, &tst), 0);
        assert_int_equal(tst.acquisitions, 100);
        assert_int_equal(tst.hold.count, timed ? 100 : 0);
        assert_int_equal(gil_tstate_delete(ts), 0);
        assert_int_equal(gil_destroy(gil), 0);
    }
}

/* Contention is timed: waits, holds and drop latencies get recorded and the
 * counters agree with one another. */
static void test_stats_contended_counters(void **state)
{
    (void)state;
    hog_t h;
    hog_start(&h, make_gil(200), "hog");
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(h.gil, "main", &ts), 0);
    wait_until(hog_is_holding, &h);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(gil_acquire(ts), 0);
        assert_int_equal(gil_release(ts), 0);
    }
    gil_tstate_stats_t mine;
    assert_int_equal(gil_tstate_stats_get(ts, &mine), 0);
    hog_stop(&h);
    ASSERT_NO_CHECK_FAILURES();
    gil_stats_t st = stats_of(h.gil);
    assert_true(st.contended >= 1);
    assert_true(st.wait.count == st.contended);
    assert_true(st.wait_ns > 0 && st.wait.p50_ns > 0 && st.wait.max_ns >= st.wait.p99_ns);
    if (POLICY_HAS_DROP_REQUESTS()) {
        assert_true(st.drop_requests >= 1);
        assert_true(st.drop_latency.count >= 1);
        assert_true(st.forced_switches >= 1);
    } else {
        assert_int_equal(st.drop_requests, 0); /* LEGACY never asks */
        assert_int_equal(st.forced_switches, 0);
    }
    assert_true(st.timed_holds >= 1 && st.hold.count == st.timed_holds);
    assert_true(st.switches >= 2);
    assert_int_equal(st.waiting_now, 0);
    assert_true(mine.acquisitions == 50 && mine.contended >= 1);
    assert_true(POLICY_HAS_DROP_REQUESTS() ? mine.drop_requests >= 1 : mine.drop_requests == 0);
    assert_true(mine.wait.count == mine.contended);
    assert_int_equal(gil_stats_reset(h.gil), 0);
    st = stats_of(h.gil);
    assert_int_equal(st.wait.count, 0);
    assert_int_equal(st.hold.count, 0);
    assert_true(st.contended >= 1); /* counters are cumulative */
    assert_int_equal(gil_tstate_stats_get(ts, &mine), 0);
    assert_int_equal(mine.wait.count, 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(h.gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_stats_hist_exact_small_values, 30),
        GUARDED_TEST(test_stats_hist_percentiles_uniform, 30),
        GUARDED_TEST(test_stats_hist_bimodal_and_huge, 30),
        GUARDED_TEST(test_stats_hist_bucket_bounds, 30),
        GUARDED_TEST(test_stats_timing_modes, 30),
        GUARDED_TEST(test_stats_contended_counters, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
