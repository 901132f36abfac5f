/* helpers.c - see helpers.h */
#include "helpers.h"

#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int check_failures;

long scaled(long n)
{
    const char *s = getenv("GIL_TEST_SCALE");
    long k = s != NULL ? atol(s) : 1;
    if (k < 1)
        k = 1;
    long r = n / k;
    return r > 0 ? r : 1;
}

static const char *guarded_test;

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "HANG: test did not finish before its deadline: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    if (guarded_test != NULL)
        w = write(2, guarded_test, strlen(guarded_test));
    w = write(2, "\n", 1);
    (void)w;
    abort();
}

void hang_guard(const char *test, unsigned seconds)
{
    guarded_test = test;
    signal(SIGALRM, on_alarm);
    const char *s = getenv("GIL_TEST_SCALE");
    unsigned k = s != NULL && atoi(s) > 1 ? (unsigned)atoi(s) : 1;
    alarm(seconds * k);
}

void check_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "CHECK failed at %s:%d: %s\n", file, line, expr);
    atomic_fetch_add(&check_failures, 1);
}

pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        abort();
    }
    return t;
}

void join(pthread_t t)
{
    if (pthread_join(t, NULL) != 0)
        abort();
}

void nap_us(unsigned us)
{
    struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

void wait_until(int (*pred)(void *), void *arg)
{
    for (unsigned i = 0; !pred(arg); i++) {
        if (i < 100)
            sched_yield();
        else
            nap_us(200);
    }
}

static pthread_mutex_t never_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;

static void never_unlock(void *unused)
{
    (void)unused;
    pthread_mutex_unlock(&never_mu);
}

void block_until_cancelled(void)
{
    pthread_mutex_lock(&never_mu);
    pthread_cleanup_push(never_unlock, NULL);
    for (;;)
        pthread_cond_wait(&never_cond, &never_mu);
    pthread_cleanup_pop(0);
}

gil_policy_t test_policy(void)
{
    gil_policy_t p = GIL_POLICY_CPYTHON;
    const char *name = getenv("GIL_TEST_POLICY");
    if (name != NULL && *name != '\0' && gil_policy_from_name(name, &p) != 0) {
        fprintf(stderr, "GIL_TEST_POLICY=%s: unknown policy\n", name);
        abort();
    }
    return p;
}

void only_for_policy(gil_policy_t p, const char *why)
{
    if (test_policy() != p) {
        fprintf(stderr, "(skipped under %s: %s)\n", gil_policy_name(test_policy()), why);
        skip();
    }
}

gil_t *make_gil(unsigned long interval_us)
{
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.switch_interval_us = interval_us;
    cfg.policy = test_policy();
    gil_t *gil = NULL;
    if (gil_create(&gil, &cfg) != 0)
        abort();
    return gil;
}

static void *hog_main(void *arg)
{
    hog_t *h = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(h->gil, h->name, &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    atomic_store(&h->holding, 1);
    while (!atomic_load(&h->stop))
        CHECK_EQ(gil_check(ts), 0);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

void hog_start(hog_t *h, gil_t *gil, const char *name)
{
    h->gil = gil;
    h->name = name;
    atomic_store(&h->holding, 0);
    atomic_store(&h->stop, 0);
    h->thread = spawn(hog_main, h);
}

int hog_is_holding(void *h)
{
    return atomic_load(&((hog_t *)h)->holding);
}

void hog_stop(hog_t *h)
{
    atomic_store(&h->stop, 1);
    join(h->thread);
}

void log_init(event_log_t *log)
{
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mu, NULL);
}

void log_add(event_log_t *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log->mu);
    if (log->n < 256)
        vsnprintf(log->ev[log->n++], sizeof log->ev[0], fmt, ap);
    pthread_mutex_unlock(&log->mu);
    va_end(ap);
}

int log_count(event_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    int n = log->n;
    pthread_mutex_unlock(&log->mu);
    return n;
}

int log_find(event_log_t *log, const char *s)
{
    pthread_mutex_lock(&log->mu);
    int found = -1;
    for (int i = 0; i < log->n && found < 0; i++)
        if (strcmp(log->ev[i], s) == 0)
            found = i;
    pthread_mutex_unlock(&log->mu);
    return found;
}
