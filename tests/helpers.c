/* helpers.c - see helpers.h */
#include "helpers.h"

#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int check_failures;

static long test_scale(void)
{
    const char *s = getenv("GIL_TEST_SCALE");
    long k = s != NULL ? atol(s) : 1;
    return k < 1 ? 1 : k;
}

long scaled(long n)
{
    long r = n / test_scale();
    return r > 0 ? r : 1;
}

/* ---- the hang guard ------------------------------------------------------ */

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
    alarm(seconds * (unsigned)test_scale());
}

int guard_setup(void **state)
{
    const hang_limit_t *limit = *state;
    atomic_store(&check_failures, 0); /* a failed test does not fail the next */
    hang_guard(limit->test, limit->seconds);
    return 0;
}

int guard_teardown(void **state)
{
    const hang_limit_t *limit = *state;
    hang_guard(NULL, 0);
    int failures = atomic_load(&check_failures);
    if (failures != 0) {
        fprintf(stderr, "%s: %d CHECK failure(s) in its threads\n", limit->test, failures);
        return -1;
    }
    return 0;
}

void check_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "CHECK failed at %s:%d: %s\n", file, line, expr);
    atomic_fetch_add(&check_failures, 1);
}

/* ---- threads -------------------------------------------------------------- */

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

/* ---- making GILs ---------------------------------------------------------- */

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

void test_config_init(gil_config_t *cfg, unsigned long interval_us)
{
    gil_config_init(cfg);
    cfg->switch_interval_us = interval_us;
    cfg->policy = test_policy();
}

gil_t *make_gil_cfg(const gil_config_t *cfg)
{
    gil_t *gil = NULL;
    int rc = gil_create(&gil, cfg);
    if (rc != 0)
        fail_msg("gil_create: %s", gil_strerror(rc));
    assert_int_equal(gil_get_policy(gil), cfg->policy);
    return gil;
}

gil_t *make_gil(unsigned long interval_us)
{
    gil_config_t cfg;
    test_config_init(&cfg, interval_us);
    return make_gil_cfg(&cfg);
}

/* ---- reading a GIL -------------------------------------------------------- */

gil_stats_t stats_of(const gil_t *gil)
{
    gil_stats_t st;
    memset(&st, 0, sizeof st);
    CHECK_EQ(gil_stats_get(gil, &st), 0);
    return st;
}

gil_tstate_stats_t tstate_stats_of(const gil_tstate_t *ts)
{
    gil_tstate_stats_t st;
    memset(&st, 0, sizeof st);
    CHECK_EQ(gil_tstate_stats_get(ts, &st), 0);
    return st;
}

static int count_one(const gil_tstate_t *ts, void *arg)
{
    (void)ts;
    (*(int *)arg)++;
    return 0;
}

int count_tstates(gil_t *gil)
{
    int n = 0;
    CHECK_EQ(gil_foreach_tstate(gil, count_one, &n), 0);
    return n;
}

void wait_for_acquisitions(gil_t *gil, uint64_t n)
{
    for (unsigned i = 0; stats_of(gil).acquisitions < n; i++) {
        if (i < 100)
            sched_yield();
        else
            nap_us(50);
    }
}

/* ---- a CPU-bound thread --------------------------------------------------- */

static void *hog_main(void *arg)
{
    hog_t *h = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(h->gil, h->name, &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    atomic_store(&h->holding, 1);
    while (!atomic_load(&h->stop)) {
        for (volatile unsigned i = 0; i < h->work; i++)
            ;
        CHECK_EQ(gil_check(ts), 0);
        atomic_fetch_add_explicit(&h->checks, 1, memory_order_relaxed);
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

void hog_start(hog_t *h, gil_t *gil, const char *name)
{
    hog_start_working(h, gil, name, 0);
}

void hog_start_working(hog_t *h, gil_t *gil, const char *name, unsigned work)
{
    h->work = work;
    h->gil = gil;
    h->name = name;
    atomic_store(&h->holding, 0);
    atomic_store(&h->stop, 0);
    atomic_store(&h->checks, 0);
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

/* ---- one event collector -------------------------------------------------- */

collector_t *collector_new(int capacity)
{
    collector_t *c = calloc(1, sizeof *c);
    if (c == NULL || (capacity > 0 && (c->ev = calloc((size_t)capacity, sizeof *c->ev)) == NULL)) {
        perror("collector_new");
        abort();
    }
    pthread_mutex_init(&c->mu, NULL);
    c->capacity = capacity;
    return c;
}

void collector_free(collector_t *c)
{
    pthread_mutex_destroy(&c->mu);
    free(c->ev);
    free(c);
}

static void put_name(char *dst, size_t len, const gil_tstate_t *ts)
{
    snprintf(dst, len, "%s", ts != NULL ? gil_tstate_name(ts) : "-");
}

/* Store r (already filled) if there is room; count it anyway. */
static void collector_add(collector_t *c, const ev_rec_t *r)
{
    pthread_mutex_lock(&c->mu);
    if (c->stored < c->capacity)
        c->ev[c->stored++] = *r;
    atomic_fetch_add(&c->total, 1);
    pthread_mutex_unlock(&c->mu);
}

void collector_hook(const gil_event_t *ev, void *collector)
{
    ev_rec_t r;
    memset(&r, 0, sizeof r);
    r.type = ev->type;
    r.reason = ev->reason;
    put_name(r.who, sizeof r.who, ev->tstate);
    put_name(r.other, sizeof r.other, ev->other);
    r.time_ns = ev->time_ns;
    r.duration_ns = ev->duration_ns;
    r.caller_held = gil_held(ev->gil);
    r.caller = pthread_self();
    collector_add(collector, &r);
}

void collector_watchdog(const gil_watchdog_report_t *report, void *collector)
{
    ev_rec_t r;
    memset(&r, 0, sizeof r);
    r.type = EV_WATCHDOG;
    snprintf(r.who, sizeof r.who, "%s", report->holder);
    snprintf(r.other, sizeof r.other, "%s", report->waiter);
    r.caller_held = gil_held(report->gil);
    r.caller = pthread_self();
    r.report = *report;
    collector_add(collector, &r);
}

void collector_note(collector_t *c, const char *fmt, ...)
{
    ev_rec_t r;
    memset(&r, 0, sizeof r);
    r.type = EV_NOTE;
    snprintf(r.who, sizeof r.who, "-");
    snprintf(r.other, sizeof r.other, "-");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.text, sizeof r.text, fmt, ap);
    va_end(ap);
    collector_add(c, &r);
}

int collector_total(collector_t *c)
{
    return atomic_load(&c->total);
}

ev_rec_t collector_get(collector_t *c, int i)
{
    pthread_mutex_lock(&c->mu);
    if (i < 0 || i >= c->stored) {
        pthread_mutex_unlock(&c->mu);
        fail_msg("collector_get(%d): %d records stored", i, c->stored);
    }
    ev_rec_t r = c->ev[i];
    pthread_mutex_unlock(&c->mu);
    return r;
}

static int same(const char *want, const char *got)
{
    return want == NULL || strcmp(want, got) == 0;
}

static int matches(const ev_rec_t *r, const ev_match_t *m)
{
    return (m->types == 0 || (r->type & m->types) != 0) && same(m->who, r->who) && same(m->other, r->other) &&
           (m->reason == NULL || (r->type == GIL_EVENT_RELEASED && strcmp(m->reason, gil_reason_name(r->reason)) == 0)) &&
           same(m->text, r->text);
}

int collector_find(collector_t *c, int from, const ev_match_t *m)
{
    pthread_mutex_lock(&c->mu);
    int found = -1;
    for (int i = from < 0 ? 0 : from; i < c->stored && found < 0; i++)
        if (matches(&c->ev[i], m))
            found = i;
    pthread_mutex_unlock(&c->mu);
    return found;
}

int collector_expect(collector_t *c, int *from, const ev_match_t *m)
{
    int i = collector_find(c, *from, m);
    if (i >= 0) {
        *from = i + 1;
        return i;
    }
    fprintf(stderr, "no record after #%d: types %#x who %s other %s reason %s text %s\n", *from, m->types,
            m->who ? m->who : "*", m->other ? m->other : "*", m->reason ? m->reason : "*", m->text ? m->text : "*");
    collector_dump(c, stderr);
    return -1;
}

int collector_count(collector_t *c, const ev_match_t *m)
{
    if (collector_total(c) > c->capacity)
        fail_msg("collector_count: %d records delivered, room for %d: the count would be short",
                 collector_total(c), c->capacity);
    pthread_mutex_lock(&c->mu);
    int n = 0;
    for (int i = 0; i < c->stored; i++)
        n += matches(&c->ev[i], m);
    pthread_mutex_unlock(&c->mu);
    return n;
}

void collector_dump(collector_t *c, FILE *out)
{
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->stored; i++) {
        const ev_rec_t *r = &c->ev[i];
        fprintf(out, "  #%d type %#x who %s other %s reason %s text %s t %llu\n", i, r->type, r->who, r->other,
                r->type == GIL_EVENT_RELEASED ? gil_reason_name(r->reason) : "-", r->text,
                (unsigned long long)r->time_ns);
    }
    pthread_mutex_unlock(&c->mu);
}
