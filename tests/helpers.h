/*
 * helpers.h - shared by the cmocka tests.
 *
 * Tests never assert on wall-clock time.  Deadlines exist only as a hang
 * detector: every test is registered with GUARDED_TEST(fn, seconds), whose
 * setup arms an alarm that aborts the process with a message naming the
 * test, so a deadlock fails loudly instead of stalling CI.
 * Assertions inside worker threads use CHECK(), which records the failure;
 * the test's main thread asserts that no CHECK failed (cmocka's assertions
 * may only run in the test's own thread), and the guard's teardown fails a
 * test that returned with a CHECK failure it did not look at.
 */
#ifndef GIL_TEST_HELPERS_H
#define GIL_TEST_HELPERS_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "gil.h"

/* Divide iteration counts by GIL_TEST_SCALE (sanitizer builds set 10). */
long scaled(long n);

/* ---- the hang guard ------------------------------------------------------ */

/* A test's name and deadline, the guard's per-test state. */
typedef struct hang_limit {
    const char *test;
    unsigned seconds; /* multiplied by GIL_TEST_SCALE */
} hang_limit_t;

/* cmocka fixtures: arm the alarm for *state (a hang_limit_t) and clear the
 * CHECK failures; disarm, and fail the test if a CHECK failed. */
int guard_setup(void **state);
int guard_teardown(void **state);

/* A cmocka test entry whose hang guard aborts, naming fn, if fn has not
 * returned within seconds. */
#define GUARDED_TEST(fn, seconds)                                                  \
    {                                                                              \
        .name = #fn, .test_func = fn, .setup_func = guard_setup,                   \
        .teardown_func = guard_teardown, .initial_state = &(hang_limit_t){#fn, (seconds)} \
    }

/* The alarm itself (guard_setup/teardown's): hang_guard(name, seconds)
 * arms, hang_guard(NULL, 0) disarms.  Tests use GUARDED_TEST. */
void hang_guard(const char *test, unsigned seconds);

/* ---- failures from any thread -------------------------------------------- */

extern _Atomic int check_failures;
void check_fail(const char *file, int line, const char *expr);
#define CHECK(e) ((e) ? (void)0 : check_fail(__FILE__, __LINE__, #e))
#define CHECK_EQ(a, b) CHECK((a) == (b))
/* In the test thread: fail the test if any CHECK failed. */
#define ASSERT_NO_CHECK_FAILURES() assert_int_equal(atomic_load(&check_failures), 0)

/* ---- threads -------------------------------------------------------------- */

pthread_t spawn(void *(*fn)(void *), void *arg);
void join(pthread_t t);

/* Poll pred(arg) until it is true (yielding the CPU); the hang guard bounds
 * the wait. */
void wait_until(int (*pred)(void *), void *arg);
/* Sleep a little (lets other threads run; never used to order events). */
void nap_us(unsigned us);

/* Block in a cancellation point until pthread_cancel ends the thread (a
 * condvar wait: the cancellation point ThreadSanitizer models). */
void block_until_cancelled(void) __attribute__((noreturn));

/* ---- making GILs ---------------------------------------------------------- */

/* The policy chosen by GIL_TEST_POLICY (default cpython). */
gil_policy_t test_policy(void);
/* gil_config_init, the given interval, and the suite's policy
 * (GIL_TEST_POLICY, so that the whole suite runs once per policy). */
void test_config_init(gil_config_t *cfg, unsigned long interval_us);
/* gil_create(cfg) in the test thread; fails the test if it fails or if the
 * GIL does not have cfg's policy. */
gil_t *make_gil_cfg(const gil_config_t *cfg);
/* make_gil_cfg of test_config_init(interval_us). */
gil_t *make_gil(unsigned long interval_us);

/* GIL_POLICY_LEGACY makes no drop requests (its holder releases every N
 * check points instead); tests of the request handshake skip it. */
#define POLICY_HAS_DROP_REQUESTS() (test_policy() != GIL_POLICY_LEGACY)
/* Skip the calling cmocka test unless the policy is p (with a reason). */
void only_for_policy(gil_policy_t p, const char *why);

/* ---- reading a GIL -------------------------------------------------------- */

/* gil_stats_get / gil_tstate_stats_get that CHECK success (any thread). */
gil_stats_t stats_of(const gil_t *gil);
gil_tstate_stats_t tstate_stats_of(const gil_tstate_t *ts);
/* Live thread states of gil (gil_foreach_tstate). */
int count_tstates(gil_t *gil);
/* Wait until gil has counted at least n acquisitions in all (another thread
 * took it: an ordering, not a delay). */
void wait_for_acquisitions(gil_t *gil, uint64_t n);

/* ---- a CPU-bound thread --------------------------------------------------- */

/* Its own state, the GIL, check points (each must return 0, each counted in
 * checks) until hog_stop.  hog_start spawns it;
 * wait_until(hog_is_holding, h) waits until it has held the GIL once;
 * hog_stop stops it and joins it (it releases and deletes its state). */
typedef struct hog {
    gil_t *gil;
    const char *name;
    _Atomic int holding, stop;
    _Atomic long checks;
    unsigned work;   /* empty iterations between check points */
    pthread_t thread;
} hog_t;
void hog_start(hog_t *h, gil_t *gil, const char *name);
/* The same with `work` iterations of a volatile loop between check points
 * (a CPU thread that checks less often). */
void hog_start_working(hog_t *h, gil_t *gil, const char *name, unsigned work);
int hog_is_holding(void *h);
void hog_stop(hog_t *h);

/* ---- one event collector -------------------------------------------------- */

/* Records, in delivery order, hook events (collector_hook as a gil_hook_fn),
 * watchdog reports (collector_watchdog as a gil_watchdog_fn) and notes the
 * test's own threads make (collector_note).  Thread-safe.  Beyond its
 * capacity it only counts. */
enum {
    EV_NOTE = 1u << 16,    /* collector_note; the text is in .text */
    EV_WATCHDOG = 1u << 17 /* collector_watchdog; the report is in .report */
};

typedef struct ev_rec {
    unsigned type;            /* a gil_event_type_t, EV_NOTE or EV_WATCHDOG */
    gil_reason_t reason;      /* GIL_EVENT_RELEASED */
    char who[32], other[32];  /* state names; "-" for none */
    char text[32];            /* EV_NOTE */
    uint64_t time_ns, duration_ns;
    int caller_held;          /* the delivering thread held the event's GIL */
    pthread_t caller;         /* the delivering thread */
    gil_watchdog_report_t report; /* EV_WATCHDOG */
} ev_rec_t;

typedef struct collector {
    pthread_mutex_t mu;
    int capacity, stored;
    _Atomic int total; /* delivered, stored or not */
    ev_rec_t *ev;
} collector_t;

/* What to look for; NULL / 0 fields match anything. */
typedef struct ev_match {
    unsigned types;     /* mask of types */
    const char *who, *other;
    const char *reason; /* gil_reason_name: "drop_request", "policy", ... */
    const char *text;
} ev_match_t;

collector_t *collector_new(int capacity);
void collector_free(collector_t *c);
void collector_hook(const gil_event_t *ev, void *collector);
void collector_watchdog(const gil_watchdog_report_t *r, void *collector);
void collector_note(collector_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records delivered so far (stored or not). */
int collector_total(collector_t *c);
/* A copy of stored record i (0 <= i < stored). */
ev_rec_t collector_get(collector_t *c, int i);
/* Index of the first stored record at or after from matching m, or -1. */
int collector_find(collector_t *c, int from, const ev_match_t *m);
/* collector_find from *from; on a hit *from moves past it, on a miss the
 * records are printed (for the failing test's log). */
int collector_expect(collector_t *c, int *from, const ev_match_t *m);
/* Stored records matching m. */
int collector_count(collector_t *c, const ev_match_t *m);
void collector_dump(collector_t *c, FILE *out);

#endif
