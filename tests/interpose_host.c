/*
 * interpose_host.c - a host process that replaces the printf family, as the
 * statically linked interpreter of issue 14 did, and links libgil
 * statically (build/libgil.a).
 *
 * Its snprintf, vsnprintf, sprintf, vsprintf, fprintf, vfprintf, printf and
 * vprintf know %s, %d and %% only and abort on anything else (that
 * interpreter's lacked %llu, and libgil crashed in strlen).  They also count
 * their calls: while libgil works the count must stay 0, because the
 * library formats everything itself (platform/format.c).
 *
 *   interpose_host DIR
 *
 * runs a GIL with real traffic (two CPU-bound threads and one that blocks
 * in allow-threads sections) while tracing, then writes into DIR:
 * summary.txt (gil_stats_format's line, and a truncated copy),
 * metrics.prom and metrics.om (the Prometheus and OpenMetrics writers),
 * trace.json (gil_trace_write_json), watchdog.txt (gil_watchdog_print's
 * line on stderr), strerror.txt (gil_strerror of every code).
 * tests/check_interpose.sh checks their contents.  Exit status 0 on
 * success; any failure is one line on stderr and exit status 1.
 */
#include "gil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The host's printf family                                                 */

static _Atomic long printf_calls;

static void host_die(const char *why, const char *fmt)
{
    static const char head[] = "interpose_host: the host's printf family was asked for ";
    (void)!write(2, head, sizeof head - 1);
    (void)!write(2, why, strlen(why));
    (void)!write(2, " in \"", 5);
    (void)!write(2, fmt, strlen(fmt));
    (void)!write(2, "\"\n", 2);
    abort();
}

static size_t host_put(char *buf, size_t cap, size_t len, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, len++)
        if (len + 1 < cap)
            buf[len] = s[i];
    return len;
}

/* %s, %d and %% only, like a minimal interpreter's own. */
static int host_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    atomic_fetch_add(&printf_calls, 1);
    size_t len = 0;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%') {
            len = host_put(buf, cap, len, p, 1);
            continue;
        }
        p++;
        if (*p == 's') {
            const char *s = va_arg(ap, const char *);
            len = host_put(buf, cap, len, s, strlen(s));
        } else if (*p == 'd') {
            char digits[16];
            int v = va_arg(ap, int), n = 0;
            unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
            do
                digits[sizeof digits - ++n] = (char)('0' + u % 10);
            while ((u /= 10) != 0);
            if (v < 0)
                digits[sizeof digits - ++n] = '-';
            len = host_put(buf, cap, len, digits + sizeof digits - n, (size_t)n);
        } else if (*p == '%') {
            len = host_put(buf, cap, len, "%", 1);
        } else {
            host_die("an unsupported conversion", fmt);
        }
    }
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return (int)len;
}

int vsnprintf(char *restrict buf, size_t cap, const char *restrict fmt, va_list ap)
{
    return host_vformat(buf, cap, fmt, ap);
}

int snprintf(char *restrict buf, size_t cap, const char *restrict fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = host_vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

int vsprintf(char *restrict buf, const char *restrict fmt, va_list ap)
{
    return host_vformat(buf, 4096, fmt, ap);
}

int sprintf(char *restrict buf, const char *restrict fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = host_vformat(buf, 4096, fmt, ap);
    va_end(ap);
    return n;
}

int vfprintf(FILE *restrict f, const char *restrict fmt, va_list ap)
{
    char buf[4096];
    int n = host_vformat(buf, sizeof buf, fmt, ap);
    fputs(buf, f);
    return n;
}

int fprintf(FILE *restrict f, const char *restrict fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *restrict fmt, va_list ap)
{
    return vfprintf(stdout, fmt, ap);
}

int printf(const char *restrict fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stdout, fmt, ap);
    va_end(ap);
    return n;
}

/* ------------------------------------------------------------------------ */
/* The traffic                                                              */

static void fail(const char *what)
{
    static const char head[] = "interpose_host: FAIL: ";
    (void)!write(2, head, sizeof head - 1);
    (void)!write(2, what, strlen(what));
    (void)!write(2, "\n", 1);
    exit(1);
}

#define CHECK(e) ((e) ? (void)0 : fail(#e))

typedef struct worker {
    gil_t *gil;
    const char *name;
    int blocking; /* allow-threads sections instead of pure CPU work */
    _Atomic int *stop;
    pthread_t thread;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    gil_tstate_t *ts;
    CHECK(gil_tstate_new(w->gil, w->name, &ts) == 0);
    CHECK(gil_acquire(ts) == 0);
    while (!atomic_load(w->stop)) {
        if (w->blocking) {
            GIL_BEGIN_ALLOW_THREADS
            usleep(200);
            GIL_END_ALLOW_THREADS
        }
        for (int i = 0; i < 1000; i++)
            CHECK(gil_check(ts) == 0);
    }
    CHECK(gil_release(ts) == 0);
    CHECK(gil_tstate_delete(ts) == 0);
    return NULL;
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[4096];
    size_t d = strlen(dir), n = strlen(name);
    CHECK(d + n + 2 < sizeof path);
    memcpy(path, dir, d);
    path[d] = '/';
    memcpy(path + d + 1, name, n + 1);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    return f;
}

/* Runs the traffic: returns when the holder changed often enough (a loop
 * bound, with a generous deadline as a hang detector). */
static void run_traffic(gil_t *gil)
{
    _Atomic int stop = 0;
    worker_t w[3] = {
        {gil, "hog", 0, &stop, 0}, {gil, "hog", 0, &stop, 0}, {gil, "io", 1, &stop, 0},
    };
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&w[i].thread, NULL, work, &w[i]) == 0);
    gil_stats_t st;
    for (int waited_ms = 0;; waited_ms++) {
        CHECK(gil_stats_get(gil, &st) == 0);
        if (st.switches >= 50 && st.contended >= 10 && st.drop_requests >= 2)
            break;
        CHECK(waited_ms < 120000);
        usleep(1000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(w[i].thread, NULL) == 0);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        fail("usage: interpose_host DIR");
    const char *dir = argv[1];
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.name = "host";
    cfg.switch_interval_us = 500;
    gil_t *gil;
    CHECK(gil_create(&gil, &cfg) == 0);
    gil_tstate_t *main_ts;
    CHECK(gil_tstate_new(gil, "main", &main_ts) == 0);
    CHECK(gil_trace_start(gil, 0) == 0);
    run_traffic(gil);
    CHECK(gil_trace_stop(gil) == 0);

    /* Everything libgil prints, with the host's printf family in place. */
    char line[512], small[16];
    int n = gil_stats_format(gil, line, sizeof line);
    CHECK(n > 0 && (size_t)n == strlen(line));
    CHECK(gil_stats_format(gil, small, sizeof small) == n && strlen(small) == sizeof small - 1);
    CHECK(gil_stats_format(gil, NULL, 0) == n);
    FILE *f = open_in(dir, "summary.txt");
    fputs(line, f);
    fputc('\n', f);
    fputs(small, f);
    fputc('\n', f);
    CHECK(fclose(f) == 0);

    f = open_in(dir, "metrics.prom");
    CHECK(gil_stats_write_prometheus(gil, f) == 0);
    CHECK(fclose(f) == 0);
    const gil_t *one[1] = {gil};
    f = open_in(dir, "metrics.om");
    CHECK(gil_stats_write_openmetrics(one, 1, f) == 0);
    CHECK(fclose(f) == 0);
    f = open_in(dir, "trace.json");
    CHECK(gil_trace_write_json(gil, f) == 0);
    CHECK(fclose(f) == 0);

    gil_watchdog_report_t r;
    memset(&r, 0, sizeof r);
    r.gil = gil;
    memcpy(r.holder, "hog", 4);
    r.holder_id = 2;
    memcpy(r.waiter, "io", 3);
    r.waiter_id = 4;
    r.waiting = 2;
    r.ignored_ns = 20512345;
    r.held_ns = 25912345678ull;
    r.limit_ns = 2000000;
    fflush(stderr);
    f = open_in(dir, "watchdog.txt");
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fileno(f), 2) == 2);
    gil_watchdog_print(&r, NULL);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    CHECK(fclose(f) == 0);

    f = open_in(dir, "strerror.txt");
    static const int codes[] = {0, GIL_EINVAL, GIL_ENOMEM, GIL_EPERM, GIL_EDEADLK, GIL_EBUSY, GIL_EAGAIN,
                                GIL_ESHUTDOWN, GIL_EIO, -12345};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        fputs(gil_err_name(codes[i]), f);
        fputs(": ", f);
        fputs(gil_strerror(codes[i]), f);
        fputc('\n', f);
    }
    CHECK(fclose(f) == 0);

    CHECK(gil_tstate_delete(main_ts) == 0);
    CHECK(gil_destroy(gil) == 0);
    long calls = atomic_load(&printf_calls);
    /* Now the host's own printf, with what it supports. */
    printf("interpose_host: libgil made %d calls to the host's printf family\n", (int)calls);
    if (calls != 0)
        fail("libgil called the host's printf family");
    return 0;
}
