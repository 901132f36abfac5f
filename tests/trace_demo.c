/*
 * trace_demo.c - trace a convoy and draw it: the pictures of
 * docs/observability.md (`make trace-demo`).
 *
 *   trace_demo [--policy NAME] [--interval US] [--hogs N] [--ms MS]
 *              [--window-ms MS] [--latency-us US] [--stall-ms MS]
 *              [--watchdog K] [--json FILE] [--svg FILE] [--prom FILE]
 *
 * The convoy (bpo-7946): CPU-bound "hog" threads run short work units with
 * a check point between each; an "io" thread does 1-byte round trips with
 * an echo thread that does not use the GIL and answers after --latency-us
 * (default 100: a network round trip; long enough for a woken hog to take
 * the GIL first, as with a real socket), releasing the GIL around each
 * (GIL_BEGIN_ALLOW_THREADS).  Under the CPython policy every return from
 * the blocking call waits for a hog to be asked to drop: a switch interval
 * per round trip.  The whole run is traced; the SVG shows --window-ms from
 * its middle.  On stdout: the round-trip rate and gil_stats_format's line.
 * --stall-ms makes the first hog, 10 ms into that window, run that long
 * without a check point (a C extension that never checks); --watchdog K
 * turns the long-hold watchdog on (factor K): its report goes to stderr.
 */
#include "gil.h"
#include "timeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HOGS 8

typedef struct demo {
    gil_t *gil;
    int to_echo[2], from_echo[2];
    _Atomic int stop;
    _Atomic unsigned long round_trips;
    _Atomic unsigned long units;
    unsigned latency_us;
    uint64_t stall_at_ns, stall_ns; /* hog1's stall: when, how long */
} demo_t;

static void die(const char *what, int rc)
{
    fprintf(stderr, "trace_demo: %s: %s\n", what, rc < 0 ? gil_strerror(rc) : strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ~50 ns of dependent arithmetic. */
static uint64_t unit(uint64_t x)
{
    for (int i = 0; i < 40; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static gil_tstate_t *state(demo_t *d, const char *name)
{
    gil_tstate_t *ts;
    int rc = gil_tstate_new(d->gil, name, &ts);
    if (rc != 0)
        die("gil_tstate_new", rc);
    if ((rc = gil_acquire(ts)) != 0)
        die("gil_acquire", rc);
    return ts;
}

static void done(gil_tstate_t *ts)
{
    gil_release(ts);
    gil_tstate_delete(ts);
}

static void *hog_main(void *arg)
{
    demo_t *d = arg;
    char name[16];
    static _Atomic int next = 1;
    snprintf(name, sizeof name, "hog%d", atomic_fetch_add(&next, 1));
    gil_tstate_t *ts = state(d, name);
    uint64_t x = 1;
    unsigned long n = 0;
    bool stall = strcmp(name, "hog1") == 0 && d->stall_ns != 0;
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        x = unit(x);
        n++;
        if (stall && now_ns() >= d->stall_at_ns) {
            stall = false; /* once: a long call that never reaches a check point */
            for (uint64_t end = now_ns() + d->stall_ns; now_ns() < end;)
                x = unit(x);
        }
        gil_check(ts);
    }
    atomic_fetch_add(&d->units, n + (x & 0)); /* x & 0: keep the work */
    done(ts);
    return NULL;
}

static void *echo_main(void *arg)
{
    demo_t *d = arg;
    char c;
    struct timespec lat = {0, (long)d->latency_us * 1000L};
    while (read(d->to_echo[0], &c, 1) == 1) {
        if (d->latency_us != 0)
            nanosleep(&lat, NULL);
        if (write(d->from_echo[1], &c, 1) != 1)
            break;
    }
    return NULL;
}

static void *io_main(void *arg)
{
    demo_t *d = arg;
    gil_tstate_t *ts = state(d, "io");
    uint64_t x = 7;
    char c = 'x';
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        int ok;
        GIL_BEGIN_ALLOW_THREADS
        ok = write(d->to_echo[1], &c, 1) == 1 && read(d->from_echo[0], &c, 1) == 1;
        GIL_END_ALLOW_THREADS
        if (!ok)
            break;
        atomic_fetch_add_explicit(&d->round_trips, 1, memory_order_relaxed);
        for (int i = 0; i < 20; i++) /* a little work with the answer */
            x = unit(x);
        gil_check(ts);
    }
    done(ts);
    return NULL;
}

static void usage(void)
{
    fputs("usage: trace_demo [--policy NAME] [--interval US] [--hogs N] [--ms MS] [--window-ms MS]\n"
          "                  [--latency-us US] [--stall-ms MS] [--watchdog K] [--json FILE] [--svg FILE]\n"
          "                  [--prom FILE]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.name = "demo";
    unsigned hogs = 1, ms = 200, window_ms = 40, latency_us = 100, stall_ms = 0;
    const char *json = NULL, *svg = NULL, *prom = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(argv[i], "--policy") == 0) {
            if (gil_policy_from_name(v, &cfg.policy) != 0)
                usage();
        } else if (strcmp(argv[i], "--interval") == 0) {
            cfg.switch_interval_us = strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--hogs") == 0) {
            hogs = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--ms") == 0) {
            ms = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--window-ms") == 0) {
            window_ms = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--stall-ms") == 0) {
            stall_ms = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--watchdog") == 0) {
            cfg.watchdog_factor = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--latency-us") == 0) {
            latency_us = (unsigned)atoi(v);
        } else if (strcmp(argv[i], "--json") == 0) {
            json = v;
        } else if (strcmp(argv[i], "--svg") == 0) {
            svg = v;
        } else if (strcmp(argv[i], "--prom") == 0) {
            prom = v;
        } else {
            usage();
        }
        i++;
    }
    if (hogs < 1 || hogs > MAX_HOGS || ms == 0)
        usage();

    demo_t d;
    memset(&d, 0, sizeof d);
    d.latency_us = latency_us;
    int rc = gil_create(&d.gil, &cfg);
    if (rc != 0)
        die("gil_create", rc);
    if (pipe(d.to_echo) != 0 || pipe(d.from_echo) != 0)
        die("pipe", 0);
    if ((rc = gil_trace_start(d.gil, 1u << 18)) != 0)
        die("gil_trace_start", rc);

    pthread_t echo, io, hog[MAX_HOGS];
    uint64_t start = now_ns();
    d.stall_ns = (uint64_t)stall_ms * 1000000u;
    d.stall_at_ns = start + (uint64_t)ms * 500000u + 10000000u;
    pthread_create(&echo, NULL, echo_main, &d);
    for (unsigned i = 0; i < hogs; i++)
        pthread_create(&hog[i], NULL, hog_main, &d);
    pthread_create(&io, NULL, io_main, &d);
    uint64_t t0 = now_ns();
    sleep_ms(ms);
    if (prom != NULL) { /* while the threads run: their series too */
        FILE *f = fopen(prom, "w");
        if (f == NULL)
            die(prom, 0);
        if ((rc = gil_stats_write_prometheus(d.gil, f)) != 0)
            die(prom, rc);
        fclose(f);
    }
    atomic_store(&d.stop, 1);
    uint64_t t1 = now_ns();
    pthread_join(io, NULL);
    for (unsigned i = 0; i < hogs; i++)
        pthread_join(hog[i], NULL);
    close(d.to_echo[1]);
    pthread_join(echo, NULL);

    char line[512];
    gil_stats_format(d.gil, line, sizeof line);
    printf("policy %s, interval %lu us, %u hog(s), echo latency %u us, %.0f ms: io %.0f round trips/s\n%s\n",
           gil_policy_name(cfg.policy), cfg.switch_interval_us, hogs, latency_us, (double)(t1 - t0) / 1e6,
           (double)atomic_load(&d.round_trips) * 1e9 / (double)(t1 - t0), line);
    timeline_opts_t o;
    timeline_opts_init(&o);
    /* A window from the middle of the run: steady state, no start-up. */
    o.from_ns = start + (uint64_t)ms * 500000u;
    o.to_ns = o.from_ns + (uint64_t)window_ms * 1000000u;
    if ((rc = timeline_save(d.gil, json, svg, &o)) != 0)
        die("timeline_save", rc);
    gil_destroy(d.gil);
    return 0;
}
