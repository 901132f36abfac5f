/*
 * platform/platform.c - pthread and clock wrappers that abort on OS failure.
 *
 * Layer: platform (the bottom; includes nothing of libgil).
 */
#include "platform/platform.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

__thread char gil__tls_anchor __attribute__((tls_model("initial-exec")));

/* Formatted into a stack buffer by our own formatter and written with
 * write(2): no printf family (a host may replace it, see format.c), no
 * stdio lock, no allocation; a message too long for the buffer is cut. */
void gil__fatal(const char *fmt, ...)
{
    char buf[512];
    gil__fmt_t f;
    gil__fmt_init(&f, buf, sizeof buf);
    gil__fmt_str(&f, "libgil: ");
    va_list ap;
    va_start(ap, fmt);
    gil__fmt_vformat(&f, fmt, ap);
    va_end(ap);
    gil__fmt_char(&f, '\n');
    if (f.len > f.used)
        memcpy(buf + f.used - 4, "...\n", 4);
    gil__write_stderr(buf, f.used);
    abort();
}

static void check(int rc, const char *what)
{
    if (rc != 0)
        gil__fatal("%s failed: %s", what, strerror(rc));
}

void gil__mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    check(pthread_mutexattr_init(&a), "pthread_mutexattr_init");
#ifdef GIL_DEBUG
    /* The checker build lets the OS catch our own mistakes too. */
    check(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK), "pthread_mutexattr_settype");
#endif
    check(pthread_mutex_init(m, &a), "pthread_mutex_init");
    pthread_mutexattr_destroy(&a);
}

void gil__mutex_destroy(pthread_mutex_t *m) { check(pthread_mutex_destroy(m), "pthread_mutex_destroy"); }
void gil__mutex_lock(pthread_mutex_t *m) { check(pthread_mutex_lock(m), "pthread_mutex_lock"); }
void gil__mutex_unlock(pthread_mutex_t *m) { check(pthread_mutex_unlock(m), "pthread_mutex_unlock"); }

void gil__cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    check(pthread_condattr_init(&a), "pthread_condattr_init");
    check(pthread_condattr_setclock(&a, CLOCK_MONOTONIC), "pthread_condattr_setclock");
    check(pthread_cond_init(c, &a), "pthread_cond_init");
    pthread_condattr_destroy(&a);
}

void gil__cond_destroy(pthread_cond_t *c) { check(pthread_cond_destroy(c), "pthread_cond_destroy"); }
void gil__cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { check(pthread_cond_wait(c, m), "pthread_cond_wait"); }
void gil__cond_signal(pthread_cond_t *c) { check(pthread_cond_signal(c), "pthread_cond_signal"); }
void gil__cond_broadcast(pthread_cond_t *c) { check(pthread_cond_broadcast(c), "pthread_cond_broadcast"); }

void gil__mutex_reinit(pthread_mutex_t *m)
{
    memset(m, 0, sizeof *m);
    gil__mutex_init(m);
}

void gil__cond_reinit(pthread_cond_t *c)
{
    memset(c, 0, sizeof *c);
    gil__cond_init(c);
}

int gil__cancel_disable(void)
{
    int old;
    check(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old), "pthread_setcancelstate");
    return old;
}

void gil__cancel_restore(int old_state)
{
    int ignored;
    check(pthread_setcancelstate(old_state, &ignored), "pthread_setcancelstate");
}

int gil__cond_timedwait_ns(pthread_cond_t *c, pthread_mutex_t *m, uint64_t timeout_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns % 1000000000u;
    ts.tv_sec += (time_t)(timeout_ns / 1000000000u + ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    int rc = pthread_cond_timedwait(c, m, &ts);
    if (rc == ETIMEDOUT)
        return 1;
    check(rc, "pthread_cond_timedwait");
    return 0;
}

void gil__sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A condvar nobody signals, rather than pause(): a cancelled condvar wait
 * is what every threading tool (ThreadSanitizer among them) models. */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

static void unpark_cancelled(void *unused)
{
    (void)unused;
    pthread_mutex_unlock(&park_mu);
}

void gil__park_forever(void)
{
    pthread_mutex_lock(&park_mu);
    pthread_cleanup_push(unpark_cancelled, NULL);
    for (;;)
        pthread_cond_wait(&park_cond, &park_mu);
    pthread_cleanup_pop(0);
}

void gil__copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void gil__write_stderr(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

void gil__thread_yield(void)
{
    (void)sched_yield(); /* cannot fail on Linux */
}

uint64_t gil__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}
