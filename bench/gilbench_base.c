/* Layer: base (the bottom): names, gb_die/gb_note, the clock, PATH look-up.
 * Calls libc and libgil only; every other gilbench file may call it.
 * The layers are described in gilbench_base.h. */
#include "gilbench_base.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const scenario_names[GB_SC_COUNT] = {
    [GB_SC_CONVOY] = "convoy",     [GB_SC_COUNTDOWN] = "countdown",
    [GB_SC_INTERVAL] = "interval", [GB_SC_WORKERS] = "workers",
    [GB_SC_CPYTHON] = "cpython",   [GB_SC_MATRIX] = "convoy-matrix",
};

const gb_shape_t gb_shapes[] = {
    {"0us-1rel", 0, 1, 0, 0},      {"0us-2rel", 0, 2, 0, 0},
    {"1us-1rel", 1000, 1, 0, 0},   {"1us-2rel", 1000, 2, 0, 0},
    {"10us-1rel", 10000, 1, 0, 0}, {"10us-2rel", 10000, 2, 0, 0},
    {"interp", 1500, 2, 1, 1},
};
const unsigned gb_nshapes = sizeof gb_shapes / sizeof gb_shapes[0];

static const char *const runtime_names[GB_RT_COUNT] = {
    [GB_RT_LIBGIL] = "libgil", [GB_RT_CPYTHON] = "cpython", [GB_RT_RUBY] = "ruby"};

static const char *const kind_names[GB_K_COUNT] = {
    [GB_K_IO_ALONE] = "io_alone",   [GB_K_CPU_ALONE] = "cpu_alone",
    [GB_K_CONVOY] = "convoy",       [GB_K_COUNTDOWN] = "countdown",
    [GB_K_WORKERS_PLAIN] = "plain", [GB_K_WORKERS_SHARDED] = "sharded",
};

const char *gb_scenario_name(gb_scenario_t sc) { return scenario_names[sc]; }
const char *gb_runtime_name(gb_runtime_t rt) { return runtime_names[rt]; }
const char *gb_kind_name(gb_kind_t kind) { return kind_names[kind]; }

void gb_step_label(const gb_step_t *st, char *buf, size_t size)
{
    switch (st->runtime) {
    case GB_RT_LIBGIL:
        snprintf(buf, size, "%s", gil_policy_name(st->policy));
        break;
    case GB_RT_CPYTHON:
        snprintf(buf, size, "CPython %s", st->version);
        break;
    default:
        snprintf(buf, size, "Ruby %s", st->version);
        break;
    }
}

int gb_kind_has_io(gb_kind_t k) { return k == GB_K_IO_ALONE || k == GB_K_CONVOY; }
int gb_kind_has_cpu(gb_kind_t k) { return k == GB_K_CPU_ALONE || k == GB_K_CONVOY; }
int gb_kind_is_workers(gb_kind_t k)
{
    return k == GB_K_WORKERS_PLAIN || k == GB_K_WORKERS_SHARDED;
}

void gb_check_label(const gb_step_t *st, char *buf, size_t size)
{
    double ns = st->check_units * GB_NOMINAL_UNIT_NS;
    if (ns >= 1000)
        snprintf(buf, size, "%gus", ns / 1000);
    else
        snprintf(buf, size, "%gns", ns);
}

void gb_cell_label(const gb_step_t *st, char *buf, size_t size)
{
    char check[16];
    gb_check_label(st, check, sizeof check);
    if (st->kind == GB_K_IO_ALONE)
        snprintf(buf, size, "%s/io-alone", st->shape >= 0 ? gb_shapes[st->shape].name : "-");
    else if (st->kind == GB_K_CPU_ALONE)
        snprintf(buf, size, "%ucpu-alone/%s", st->threads, check);
    else
        snprintf(buf, size, "%s/%ucpu/%s", st->shape >= 0 ? gb_shapes[st->shape].name : "-",
                 st->threads, check);
}

const gb_step_t *gb_find_sibling(const gb_results_t *res, const gb_step_t *st, gb_kind_t kind,
                                 unsigned threads)
{
    for (size_t i = 0; i < res->nsteps; i++) {
        const gb_step_t *s = &res->steps[i];
        if (s->scenario == st->scenario && s->runtime == st->runtime &&
            s->policy == st->policy && s->kind == kind && s->threads == threads &&
            s->interval_us == st->interval_us)
            return s;
    }
    return NULL;
}

void gb_range_add(gb_range_t *r, double v)
{
    if (!isfinite(v))
        return;
    if (r->n == 0 || v < r->lo)
        r->lo = v;
    if (r->n == 0 || v > r->hi)
        r->hi = v;
    r->n++;
}

/* ---- messages ---------------------------------------------------------------- */

static int notes_on = 1;

void gb_notes_enable(int on) { notes_on = on; }

static void vmessage(const char *fmt, va_list ap)
{
    fputs("gilbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void gb_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    exit(1);
}

void gb_note(const char *fmt, ...)
{
    va_list ap;
    if (!notes_on)
        return;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

/* ---- the clock and the system --------------------------------------------------- */

uint64_t gb_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

double gb_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        gb_die("getrusage: %s", strerror(errno));
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void gb_sleep_until(uint64_t deadline_ns)
{
    struct timespec t;
    t.tv_sec = (time_t)(deadline_ns / 1000000000u);
    t.tv_nsec = (long)(deadline_ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

int gb_on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];
    if (path == NULL)
        return 0;
    while (*path) {
        size_t len = strcspn(path, ":");
        int n = snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? path : ".", name);
        if (n > 0 && (size_t)n < sizeof buf && access(buf, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}
