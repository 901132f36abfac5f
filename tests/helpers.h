/*
 * helpers.h - shared by the cmocka tests.
 *
 * Tests never assert on wall-clock time.  Deadlines exist only as a hang
 * detector: hang_guard() arms an alarm that aborts the process with a message
 * naming the test, so a deadlock fails loudly instead of stalling CI.
 * Assertions inside worker threads use CHECK(), which records the failure;
 * the test's main thread asserts that no CHECK failed (cmocka's assertions
 * may only run in the test's own thread).
 */
#ifndef GIL_TEST_HELPERS_H
#define GIL_TEST_HELPERS_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gil.h"

/* Divide iteration counts by GIL_TEST_SCALE (sanitizer builds set 10). */
long scaled(long n);

/* Abort with a message if the calling test has not disarmed within seconds
 * (multiplied by GIL_TEST_SCALE).  hang_guard(0) disarms. */
void hang_guard(const char *test, unsigned seconds);

/* Failures recorded from any thread. */
extern _Atomic int check_failures;
void check_fail(const char *file, int line, const char *expr);
#define CHECK(e) ((e) ? (void)0 : check_fail(__FILE__, __LINE__, #e))
#define CHECK_EQ(a, b) CHECK((a) == (b))
/* In the test thread: fail the test if any CHECK failed. */
#define ASSERT_NO_CHECK_FAILURES() assert_int_equal(atomic_load(&check_failures), 0)

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

/* A GIL with the given interval and default policy (GIL_TEST_POLICY env
 * selects another policy by name, so the whole suite runs per policy). */
gil_t *make_gil(unsigned long interval_us);
/* The policy chosen by GIL_TEST_POLICY (default cpython). */
gil_policy_t test_policy(void);
/* GIL_POLICY_LEGACY makes no drop requests (its holder releases every N
 * check points instead); tests of the request handshake skip it. */
#define POLICY_HAS_DROP_REQUESTS() (test_policy() != GIL_POLICY_LEGACY)
/* Skip the calling cmocka test unless the policy is p (with a reason). */
void only_for_policy(gil_policy_t p, const char *why);

/* A CPU-bound thread: its own state, the GIL, check points (each must
 * return 0) until hog_stop.  hog_start spawns it;
 * wait_until(hog_is_holding, h) waits until it has held the GIL once;
 * hog_stop stops it and joins it (it releases and deletes its state). */
typedef struct hog {
    gil_t *gil;
    const char *name;
    _Atomic int holding, stop;
    pthread_t thread;
} hog_t;
void hog_start(hog_t *h, gil_t *gil, const char *name);
int hog_is_holding(void *h);
void hog_stop(hog_t *h);

/* An ordered event log shared by threads (its own mutex). */
typedef struct event_log {
    pthread_mutex_t mu;
    int n;
    char ev[256][24];
} event_log_t;
void log_init(event_log_t *log);
void log_add(event_log_t *log, const char *fmt, ...);
/* Index of the first event equal to s, or -1. */
int log_find(event_log_t *log, const char *s);
/* Number of events so far. */
int log_count(event_log_t *log);

#endif
