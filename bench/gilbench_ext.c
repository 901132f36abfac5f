/* Layer: measurement: a convoy step run by a real interpreter (CPython,
 * Ruby) in a child process.  Called by the scenarios through
 * gb_measure_step; calls only the base layer. */

/*
 * gilbench_ext.c - the convoy workload in real interpreters.
 *
 * bench/cpython/convoy.py and bench/ruby/convoy.rb reproduce the model's
 * convoy step (an echo process forked before any thread, an I/O thread doing
 * 1-byte round trips, CPU threads in a tight loop) and print one JSON line.
 * gilbench runs one interpreter process per step and reads that line.
 */
#include "gilbench_measure.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GILBENCH_SCRIPT_DIR
#define GILBENCH_SCRIPT_DIR "bench"
#endif

typedef struct external {
    const char *interpreter; /* looked up on PATH */
    const char *script;      /* under GILBENCH_SCRIPT_DIR */
} external_t;

static const external_t externals[GB_RT_COUNT] = {
    [GB_RT_CPYTHON] = {"python3", "cpython/convoy.py"},
    [GB_RT_RUBY] = {"ruby", "ruby/convoy.rb"},
};

static void script_path(gb_runtime_t rt, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", GILBENCH_SCRIPT_DIR, externals[rt].script);
}

int gb_external_available(gb_runtime_t rt, char *why, size_t size)
{
    char script[1024];
    struct stat sb;
    if (!gb_on_path(externals[rt].interpreter)) {
        snprintf(why, size, "%s not found on PATH", externals[rt].interpreter);
        return -1;
    }
    script_path(rt, script, sizeof script);
    if (stat(script, &sb) != 0) {
        snprintf(why, size, "%s: %s", script, strerror(errno));
        return -1;
    }
    return 0;
}

/* Run argv, collect its stdout into buf (NUL-terminated), let its stderr
 * through.  Kills it after timeout_ms.  Returns the exit status (0 = ok) or
 * -1. */
static int run_capture(char *const argv[], char *buf, size_t size, int timeout_ms)
{
    int fds[2];
    size_t len = 0;
    int status = -1;

    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "gilbench: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);

    uint64_t deadline = gb_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = gb_now_ns();
        if (now >= deadline) {
            fprintf(stderr, "gilbench: %s timed out, killed\n", argv[0]);
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char tmp[512];
        ssize_t n = read(fds[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
        memcpy(buf + len, tmp, take);
        len += take;
    }
    buf[len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The value of "key": NUMBER in a flat JSON object we produced ourselves;
 * null (no sample) reads as -1, "unknown". */
static int json_number(const char *json, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (strncmp(p, "null", 4) == 0) {
        *out = -1;
        return 0;
    }
    char *end;
    double v = strtod(p, &end);
    if (end == p)
        return -1;
    *out = v;
    return 0;
}

static int json_string(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p++ != '"')
        return -1;
    size_t len = strcspn(p, "\"");
    snprintf(out, size, "%.*s", (int)len, p);
    return 0;
}

static int parse_result(gb_step_t *st, const char *line)
{
    static const char *const keys[] = {"seconds", "io_count", "io_rate", "io_p50_us",
                                       "io_p99_us", "io_max_us", "cpu_rate"};
    double v[7];
    for (size_t i = 0; i < 7; i++)
        if (json_number(line, keys[i], &v[i]) != 0) {
            fprintf(stderr, "gilbench: %s: no \"%s\" in: %s\n", gb_runtime_name(st->runtime),
                    keys[i], line);
            return -1;
        }
    st->seconds = v[0];
    st->io_count = (uint64_t)v[1];
    st->io_rate = v[2];
    st->io_lat.count = st->io_count;
    st->io_lat.p50_us = v[3];
    st->io_lat.p99_us = v[4];
    st->io_lat.max_us = v[5];
    st->cpu_rate = v[6];
    if (json_string(line, "version", st->version, sizeof st->version) != 0)
        snprintf(st->version, sizeof st->version, "?");
    double interval;
    if (json_number(line, "interval_us", &interval) == 0)
        st->interval_us = (unsigned long)interval;
    return 0;
}

int gb_measure_external(const gb_rig_t *rig, gb_step_t *st)
{
    const double seconds = rig->seconds;
    char script[1024], a_seconds[32], a_warmup[32], a_threads[16], a_interval[32];
    char out[4096];
    unsigned ncpu = st->kind == GB_K_IO_ALONE ? 0 : st->threads;
    const char *io = st->kind == GB_K_CPU_ALONE ? "0" : "1";

    script_path(st->runtime, script, sizeof script);
    snprintf(a_seconds, sizeof a_seconds, "%g", seconds);
    snprintf(a_warmup, sizeof a_warmup, "%g", gb_warmup_seconds(seconds));
    snprintf(a_threads, sizeof a_threads, "%u", ncpu);
    snprintf(a_interval, sizeof a_interval, "%lu", st->interval_us);
    char *argv[] = {(char *)externals[st->runtime].interpreter, script,
                    "--seconds", a_seconds, "--warmup", a_warmup,
                    "--cpu-threads", a_threads, "--io", (char *)io,
                    "--interval-us", a_interval, NULL};

    /* An interpreter needs its window, its warm-up, start-up time, and the
     * last round trip, which can take a whole quantum or more per thread. */
    int timeout_ms = (int)(seconds * 4000) + 20000;
    int rc = run_capture(argv, out, sizeof out, timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "gilbench: %s %s failed (exit status %d)\n", argv[0], script, rc);
        return -1;
    }
    /* The result is the last non-empty line. */
    size_t len = strlen(out);
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    const char *line = strrchr(out, '\n');
    line = line ? line + 1 : out;
    return parse_result(st, line);
}
