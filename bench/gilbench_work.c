/* Layer: measurement: the rig (echo process, calibrated unit) and the
 * convoy and countdown steps.  Called by the scenarios; calls only the base
 * layer, libgil and timeline.c. */

/*
 * gilbench_work.c - the workload model: work units, the echo process, the
 * CPU-bound and I/O-bound threads, and the convoy and countdown steps.
 *
 * The model of an interpreter thread:
 *   CPU-bound  a loop of ~50 ns work units with gil_check between them, the
 *              way an interpreter checks on back edges and calls;
 *   I/O-bound  1-byte request/response round trips with an echo process,
 *              each send and each recv inside GIL_BEGIN/END_ALLOW_THREADS
 *              (the way a socket call releases the GIL), ~1 us of work
 *              under the GIL between round trips.
 */
#include "gilbench_measure.h"
#include "timeline.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

unsigned gb_unit_iters = 32;

/* Phases of a measured step.  Threads read the phase before each unit (or
 * round trip) and count only what they do while it is GB_MEASURE. */
enum { GB_WARMUP, GB_MEASURE, GB_STOP };

/* ---- the window ------------------------------------------------------------ */

/* The warm-up before each measured window: long enough for the threads to
 * reach their steady state (several switch intervals), short enough not to
 * dominate a run. */
double gb_warmup_seconds(double seconds)
{
    double w = seconds / 10;
    return w > 0.1 ? 0.1 : w;
}

/* ---- work units ----------------------------------------------------------- */

static double time_units(unsigned iters, unsigned units)
{
    uint64_t x = 1;
    uint64_t t0 = gb_now_ns();
    for (unsigned i = 0; i < units; i++)
        x = gb_unit(x, iters);
    uint64_t t1 = gb_now_ns();
    /* Make x observable so the loop is not removed. */
    __asm__ volatile("" : : "r"(x));
    return (double)(t1 - t0) / units;
}

/* Choose gb_unit_iters so that one unit takes ~50 ns on this machine.  The
 * best of several short runs: the machine is shared, and a run that was
 * preempted only ever looks slower. */
static double calibrate(void)
{
    const unsigned probe_iters = 64, units = 200000;
    double best = 1e30;
    for (int i = 0; i < 7; i++) {
        double ns = time_units(probe_iters, units);
        if (ns < best)
            best = ns;
    }
    double per_iter = best / probe_iters;
    unsigned iters = (unsigned)(50.0 / per_iter + 0.5);
    gb_unit_iters = iters ? iters : 1;

    best = 1e30;
    for (int i = 0; i < 5; i++) {
        double ns = time_units(gb_unit_iters, units);
        if (ns < best)
            best = ns;
    }
    return best;
}

/* ---- GIL helpers: every failure here is a bug, so it ends the run --------- */

gil_t *gb_gil_new(gil_policy_t policy, unsigned long interval_us, const char *name)
{
    gil_config_t cfg;
    gil_t *gil;
    gil_config_init(&cfg);
    cfg.policy = policy;
    cfg.switch_interval_us = interval_us;
    cfg.name = name;
    int rc = gil_create(&gil, &cfg);
    if (rc != 0)
        gb_die("gil_create: %s", gil_strerror(rc));
    return gil;
}

gil_tstate_t *gb_tstate_new(gil_t *gil, const char *name)
{
    gil_tstate_t *ts;
    int rc = gil_tstate_new(gil, name, &ts);
    if (rc != 0)
        gb_die("gil_tstate_new: %s", gil_strerror(rc));
    return ts;
}

/* Release (if held) and delete the calling thread's state. */
void gb_tstate_done(gil_tstate_t *ts)
{
    int rc;
    if (gil_held(gil_tstate_gil(ts)) && (rc = gil_release(ts)) != 0)
        gb_die("gil_release: %s", gil_strerror(rc));
    if ((rc = gil_tstate_delete(ts)) != 0)
        gb_die("gil_tstate_delete: %s", gil_strerror(rc));
}

void gb_acquire(gil_tstate_t *ts)
{
    int rc = gil_acquire(ts);
    if (rc != 0)
        gb_die("gil_acquire: %s", gil_strerror(rc));
}

/* The check point.  gilbench never interrupts, queues calls or shuts down,
 * so a non-zero result is a library bug. */
void gb_check(gil_tstate_t *ts)
{
    int rc = gil_check(ts);
    if (rc != 0)
        gb_die("gil_check returned %d (%s)", rc, gil_strerror(rc));
}

uint64_t gb_work(gil_tstate_t *ts, uint64_t x, uint64_t units)
{
    for (uint64_t i = 0; i < units; i++) {
        x = gb_unit(x, gb_unit_iters);
        gb_check(ts);
    }
    return x;
}

/* ---- latency samples ------------------------------------------------------ */

typedef struct samples {
    uint64_t *ns;
    size_t n, cap;
} samples_t;

static void samples_push(samples_t *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *p = realloc(s->ns, cap * sizeof *p);
        if (p == NULL)
            gb_die("out of memory for %zu latency samples", cap);
        s->ns = p;
        s->cap = cap;
    }
    s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples: the smallest value with at
 * least q of the samples at or below it. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank == 0)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* Sorts ns in place. */
void gb_lat_from_samples(gb_lat_t *out, uint64_t *ns, size_t n)
{
    memset(out, 0, sizeof *out);
    out->count = n;
    if (n == 0)
        return;
    qsort(ns, n, sizeof *ns, cmp_u64);
    out->p50_us = (double)percentile(ns, n, 0.50) / 1e3;
    out->p99_us = (double)percentile(ns, n, 0.99) / 1e3;
    out->max_us = (double)ns[n - 1] / 1e3;
}

/* ---- the echo process ------------------------------------------------------ */

static void echo_loop(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return;
            off += w;
        }
    }
}

/* Fork an echo process serving fd; ours[] are gilbench's ends of every
 * connection, which the child must close: an end it kept open would hide
 * our close from its echo process, which would then never see EOF.  Called
 * before any thread exists, so the child is a clean single-threaded copy
 * that never touches a GIL: it stands for the server on the other end of a
 * socket.  Returns its pid, or -1. */
static pid_t echo_fork(const int *ours, int nours, int fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < nours; i++)
            if (ours[i] >= 0)
                close(ours[i]);
        /* Do not outlive gilbench if it is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        echo_loop(fd);
        _exit(0);
    }
    close(fd);
    return pid;
}

/* A connected TCP pair over loopback (127.0.0.1), Nagle off: fds[0] ours,
 * fds[1] the echo process's.  0, or -1 (the interp shape is then skipped). */
static int tcp_pair(int fds[2])
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    fds[0] = fds[1] = -1;
    if (lfd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(lfd, 1) == 0 &&
        getsockname(lfd, (struct sockaddr *)&addr, &len) == 0 &&
        (fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(fds[0], (struct sockaddr *)&addr, sizeof addr) == 0)
        fds[1] = accept(lfd, NULL, NULL);
    close(lfd);
    if (fds[1] < 0 || setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        fds[0] = fds[1] = -1;
        return -1;
    }
    return 0;
}

/* The echo processes: one on an AF_UNIX socketpair (every step), one on a
 * TCP loopback connection (the matrix's interp shape). */
static int echo_start(gb_rig_t *rig)
{
    int sv[2], tcp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    if ((rig->echo_pid = echo_fork(&sv[0], 1, sv[1])) < 0) {
        close(sv[0]);
        return -1;
    }
    rig->echo_fd = sv[0];
    if (tcp_pair(tcp) == 0) {
        const int ours[2] = {sv[0], tcp[0]};
        if ((rig->echo_tcp_pid = echo_fork(ours, 2, tcp[1])) < 0)
            close(tcp[0]);
        else
            rig->echo_tcp_fd = tcp[0];
    }
    return 0;
}

int gb_rig_start(gb_rig_t *rig, double seconds)
{
    rig->echo_fd = rig->echo_tcp_fd = -1;
    rig->echo_pid = rig->echo_tcp_pid = 0;
    rig->seconds = seconds;
    if (echo_start(rig) != 0)
        return -1;
    rig->unit_ns = calibrate();
    return 0;
}

static void echo_stop(int *fd, pid_t *pid)
{
    if (*pid <= 0)
        return;
    close(*fd); /* EOF ends the echo loop */
    while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *pid = 0;
    *fd = -1;
}

void gb_rig_stop(gb_rig_t *rig)
{
    echo_stop(&rig->echo_fd, &rig->echo_pid);
    echo_stop(&rig->echo_tcp_fd, &rig->echo_tcp_pid);
}

/* The CPU time (user + sys) a process has used: /proc/PID/stat fields 14
 * and 15, in clock ticks.  < 0 if unreadable. */
static double process_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command name, which is in parentheses and may hold spaces:
     * field 3 (state) ... field 14 (utime), 15 (stime). */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the threads of a convoy step ------------------------------------------- */

typedef struct crew {
    gil_t *gil;
    atomic_int phase;
    pthread_barrier_t start; /* every thread + the main thread */
} crew_t;

/* One thread's own view of the measured window, taken by the thread itself
 * when it first sees GB_MEASURE and when it sees GB_STOP: the GIL time it
 * held (gil_tstate_stats_t.hold_ns: its holds are contended, so timed) and
 * the CPU time it used (CLOCK_THREAD_CPUTIME_ID). */
typedef struct window {
    int open;
    uint64_t hold0, hold1; /* ns */
    double cpu0, cpu1;     /* s */
} window_t;

static double thread_cpu_seconds(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        gb_die("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %s", strerror(errno));
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t held_ns(const gil_tstate_t *ts)
{
    gil_tstate_stats_t s;
    if (gil_tstate_stats_get(ts, &s) != 0)
        gb_die("gil_tstate_stats_get failed");
    return s.hold_ns;
}

/* Call at every phase seen; cheap except at the two transitions. */
static void window_mark(window_t *w, const gil_tstate_t *ts, int phase)
{
    if (phase == GB_MEASURE && !w->open) {
        w->open = 1;
        w->hold0 = held_ns(ts);
        w->cpu0 = thread_cpu_seconds();
    } else if (phase == GB_STOP && w->open == 1) {
        w->open = 2;
        w->hold1 = held_ns(ts);
        w->cpu1 = thread_cpu_seconds();
    }
}

/* The window's figures into *held (fraction of seconds) and *cpu_s; -1 if
 * the thread never saw both ends. */
static void window_figures(const window_t *w, double seconds, double *held, double *cpu_s)
{
    int whole = w->open == 2 && seconds > 0;
    *held = whole ? (double)(w->hold1 - w->hold0) / 1e9 / seconds : -1;
    *cpu_s = whole ? w->cpu1 - w->cpu0 : -1;
}

typedef struct cpu_thread {
    crew_t *crew;
    pthread_t thread;
    uint64_t seed;
    uint64_t quota;    /* countdown: units to do; 0 = until GB_STOP */
    unsigned check_units; /* units between check points */
    uint64_t units;    /* units done inside the window (or all, countdown) */
    uint64_t done_ns;  /* countdown: when the quota was reached */
    window_t window;
    uint64_t sink;
} cpu_thread_t;

typedef struct io_thread {
    crew_t *crew;
    pthread_t thread;
    int fd;
    unsigned io_work_units;
    unsigned sections;  /* 1: send and recv in one allow-threads section */
    unsigned long slice_us; /* --io-slice, 0: the kernel's default */
    samples_t lat;
    int error;         /* errno of a failed send/recv */
    window_t window;
    uint64_t sink;
} io_thread_t;

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0)
        gb_die("pthread_create: %s", strerror(rc));
}

static void *cpu_thread_main(void *arg)
{
    cpu_thread_t *c = arg;
    gil_tstate_t *ts = gb_tstate_new(c->crew->gil, "cpu");
    uint64_t x = c->seed, units = 0;

    pthread_barrier_wait(&c->crew->start);
    gb_acquire(ts);
    for (;;) {
        int phase = atomic_load_explicit(&c->crew->phase, memory_order_relaxed);
        window_mark(&c->window, ts, phase);
        if (phase == GB_STOP)
            break;
        for (unsigned i = 0; i < c->check_units; i++)
            x = gb_unit(x, gb_unit_iters);
        units += phase == GB_MEASURE ? c->check_units : 0;
        gb_check(ts);
    }
    gb_tstate_done(ts);
    c->units = units;
    c->sink = x;
    return NULL;
}

static void *countdown_thread_main(void *arg)
{
    cpu_thread_t *c = arg;
    gil_tstate_t *ts = gb_tstate_new(c->crew->gil, "countdown");
    uint64_t x = c->seed;

    pthread_barrier_wait(&c->crew->start);
    gb_acquire(ts);
    x = gb_work(ts, x, c->quota);
    c->done_ns = gb_now_ns();
    gb_tstate_done(ts);
    c->units = c->quota;
    c->sink = x;
    return NULL;
}

/* send or recv one byte, the GIL held or not by the caller.  Returns 0, or
 * -1 with errno set. */
static int one_byte(int fd, int sending)
{
    char byte = 'x';
    ssize_t n;
    do
        n = sending ? send(fd, &byte, 1, MSG_NOSIGNAL) : recv(fd, &byte, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n == 1)
        return 0;
    if (n == 0)
        errno = ECONNRESET;
    return -1;
}

/* One round trip.  Two sections: the send and the recv each with the GIL
 * released, as each socket call of an interpreter does; one section: both
 * inside one release (a C extension doing its whole exchange unlocked). */
static int round_trip(int fd, unsigned sections)
{
    int rc;
    if (sections == 1) {
        GIL_BEGIN_ALLOW_THREADS
        rc = one_byte(fd, 1) != 0 || one_byte(fd, 0) != 0 ? -1 : 0;
        GIL_END_ALLOW_THREADS
        return rc;
    }
    GIL_BEGIN_ALLOW_THREADS
    rc = one_byte(fd, 1);
    GIL_END_ALLOW_THREADS
    if (rc != 0)
        return rc;
    GIL_BEGIN_ALLOW_THREADS
    rc = one_byte(fd, 0);
    GIL_END_ALLOW_THREADS
    return rc;
}

/* The attributes sched_setattr(2) takes (glibc has no wrapper before 2.41). */
struct gb_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

/* --io-slice: a normal (SCHED_OTHER) thread's custom slice.  EEVDF lets a
 * running thread finish its slice before a woken one runs unless the woken
 * one's slice is shorter (Linux 6.12's PREEMPT_SHORT); older kernels accept
 * and ignore sched_runtime for normal threads. */
static void set_io_slice(unsigned long us)
{
    struct gb_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.sched_policy = 0; /* SCHED_OTHER */
    a.sched_nice = getpriority(PRIO_PROCESS, 0);
    a.sched_runtime = (uint64_t)us * 1000u;
    if (syscall(SYS_sched_setattr, 0, &a, 0u) != 0)
        gb_die("--io-slice: sched_setattr: %s", strerror(errno));
}

static void *io_thread_main(void *arg)
{
    io_thread_t *io = arg;
    if (io->slice_us)
        set_io_slice(io->slice_us);
    gil_tstate_t *ts = gb_tstate_new(io->crew->gil, "io");
    uint64_t x = 7;

    pthread_barrier_wait(&io->crew->start);
    gb_acquire(ts);
    for (;;) {
        int phase = atomic_load_explicit(&io->crew->phase, memory_order_relaxed);
        window_mark(&io->window, ts, phase);
        if (phase == GB_STOP)
            break;
        uint64_t t0 = gb_now_ns();
        if (round_trip(io->fd, io->sections) != 0) {
            io->error = errno;
            break;
        }
        uint64_t t1 = gb_now_ns();
        if (phase == GB_MEASURE)
            samples_push(&io->lat, t1 - t0);
        x = gb_work(ts, x, io->io_work_units);
    }
    gb_tstate_done(ts);
    io->sink = x;
    return NULL;
}

static void crew_init(crew_t *crew, gil_t *gil, unsigned nthreads)
{
    crew->gil = gil;
    atomic_init(&crew->phase, GB_WARMUP);
    pthread_barrier_init(&crew->start, NULL, nthreads + 1);
}

static void step_gil_stats(gb_step_t *st, gil_t *gil)
{
    int rc = gil_stats_get(gil, &st->gil);
    if (rc != 0)
        gb_die("gil_stats_get: %s", gil_strerror(rc));
}

/* IO_ALONE, CPU_ALONE and CONVOY: the same threads, a different mix. */
void gb_measure_threads(const gb_rig_t *rig, gb_step_t *st, const gb_trace_req_t *trace)
{
    const double seconds = rig->seconds;
    const unsigned ncpu = st->kind == GB_K_IO_ALONE ? 0 : st->threads;
    const int with_io = st->kind != GB_K_CPU_ALONE;
    gil_t *gil = gb_gil_new(st->policy, st->interval_us, "gilbench");
    cpu_thread_t *cpu = calloc(ncpu ? ncpu : 1, sizeof *cpu);
    io_thread_t io;
    crew_t crew;

    if (cpu == NULL)
        gb_die("out of memory");
    memset(&io, 0, sizeof io);
    crew_init(&crew, gil, ncpu + (unsigned)with_io);
    if (ncpu > GB_MAX_THREADS)
        gb_die("%u CPU threads: at most %d", ncpu, GB_MAX_THREADS);
    for (unsigned i = 0; i < ncpu; i++) {
        cpu[i].crew = &crew;
        cpu[i].seed = i + 1;
        cpu[i].check_units = st->check_units ? st->check_units : 1;
        start_thread(&cpu[i].thread, cpu_thread_main, &cpu[i]);
    }
    if (with_io) {
        io.crew = &crew;
        io.fd = st->io_tcp ? rig->echo_tcp_fd : rig->echo_fd;
        io.io_work_units = (unsigned)(st->io_work_ns / rig->unit_ns + 0.5);
        io.sections = st->io_sections == 1 ? 1 : 2;
        io.slice_us = rig->io_slice_us;
        if (io.fd < 0)
            gb_die("no TCP loopback connection to an echo process");
        start_thread(&io.thread, io_thread_main, &io);
    }
    pid_t echo = st->io_tcp ? rig->echo_tcp_pid : rig->echo_pid;

    pthread_barrier_wait(&crew.start);
    gb_sleep_until(gb_now_ns() + (uint64_t)(gb_warmup_seconds(seconds) * 1e9));
    atomic_store_explicit(&crew.phase, GB_MEASURE, memory_order_relaxed);
    if (trace && gil_trace_start(gil, 1u << 18) != 0)
        gb_die("gil_trace_start failed");
    uint64_t t0 = gb_now_ns();
    double cpu0 = gb_cpu_seconds(), echo0 = with_io ? process_cpu_seconds(echo) : -1;
    gb_sleep_until(t0 + (uint64_t)(seconds * 1e9));
    atomic_store_explicit(&crew.phase, GB_STOP, memory_order_relaxed);
    uint64_t t1 = gb_now_ns();
    st->cpu_s = gb_cpu_seconds() - cpu0;
    double echo1 = with_io ? process_cpu_seconds(echo) : -1;
    st->echo_cpu_s = echo0 >= 0 && echo1 >= 0 ? echo1 - echo0 : -1;
    if (trace) {
        timeline_opts_t o;
        timeline_opts_init(&o);
        o.last_ns = 50000000; /* the last 50 ms */
        int rc = timeline_save(gil, trace->trace_path, trace->timeline_path, &o);
        if (rc != 0)
            gb_die("--trace/--timeline: %s", gil_strerror(rc));
    }

    uint64_t units = 0;
    st->seconds = (double)(t1 - t0) / 1e9;
    for (unsigned i = 0; i < ncpu; i++) {
        pthread_join(cpu[i].thread, NULL);
        units += cpu[i].units;
        st->thread_rate[i] = (double)cpu[i].units / st->seconds;
        window_figures(&cpu[i].window, st->seconds, &st->thread_held[i], &st->thread_cpu_s[i]);
    }
    if (with_io) {
        pthread_join(io.thread, NULL);
        window_figures(&io.window, st->seconds, &st->io_held, &st->io_cpu_s);
    }
    if (io.error)
        gb_die("I/O thread: round trip with the echo process failed: %s",
               strerror(io.error));

    st->cpu_rate = (double)units / st->seconds;
    st->io_count = io.lat.n;
    st->io_rate = (double)io.lat.n / st->seconds;
    gb_lat_from_samples(&st->io_lat, io.lat.ns, io.lat.n);
    step_gil_stats(st, gil);

    free(io.lat.ns);
    free(cpu);
    pthread_barrier_destroy(&crew.start);
    if (gil_destroy(gil) != 0)
        gb_die("gil_destroy failed");
}

/* Beazley's countdown: the same total work whatever the thread count, so the
 * elapsed times compare directly.  The total is what one thread does in
 * --seconds. */
void gb_measure_countdown(const gb_rig_t *rig, gb_step_t *st)
{
    const unsigned n = st->threads;
    const uint64_t total = (uint64_t)(rig->seconds * 1e9 / rig->unit_ns);
    gil_t *gil = gb_gil_new(st->policy, st->interval_us, "gilbench");
    cpu_thread_t *cpu = calloc(n, sizeof *cpu);
    crew_t crew;

    if (cpu == NULL)
        gb_die("out of memory");
    crew_init(&crew, gil, n);
    for (unsigned i = 0; i < n; i++) {
        cpu[i].crew = &crew;
        cpu[i].seed = i + 1;
        cpu[i].quota = total / n + (i == 0 ? total % n : 0);
        start_thread(&cpu[i].thread, countdown_thread_main, &cpu[i]);
    }
    pthread_barrier_wait(&crew.start);
    uint64_t t0 = gb_now_ns(), t1 = t0;
    double cpu0 = gb_cpu_seconds();
    for (unsigned i = 0; i < n; i++) {
        pthread_join(cpu[i].thread, NULL);
        if (cpu[i].done_ns > t1)
            t1 = cpu[i].done_ns;
    }
    st->cpu_s = gb_cpu_seconds() - cpu0;
    st->elapsed_s = (double)(t1 - t0) / 1e9;
    st->seconds = st->elapsed_s;
    st->cpu_rate = (double)total / st->elapsed_s;
    step_gil_stats(st, gil);

    free(cpu);
    pthread_barrier_destroy(&crew.start);
    if (gil_destroy(gil) != 0)
        gb_die("gil_destroy failed");
}
