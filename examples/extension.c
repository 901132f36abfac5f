/*
 * extension.c - two "C extension" functions and what they do to an I/O
 * thread running beside them.
 *
 * An interpreter thread calls the same computation (a blur over a byte
 * image) through two extension functions:
 *
 *   blur_releasing   copies what it needs out of interpreter state, releases
 *                    the GIL around the computation and takes it back to
 *                    publish the result, as Pillow does around its filters;
 *   blur_holding     runs with the GIL held from start to end, as the json
 *                    module's C accelerator does: it works on interpreter
 *                    objects, so it cannot let go.  It has no check point,
 *                    so no drop request can reach it either.
 *
 * Beside it, an I/O thread makes 1-byte round trips with an echo peer (a
 * native thread outside the interpreter).  Each variant runs with its own
 * GIL; the program prints, per variant, the I/O thread's round trips, how
 * many of them completed while an extension call was running, and their
 * latency from write(2) to having the GIL back.
 *
 *   extension [CALLS]        (default 20 calls)
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gil.h"

#define IMAGE_SIDE 256
#define BLUR_PASSES 64
#define MAX_SAMPLES 65536

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A failing libgil call here is a bug in this program: stop loudly. */
static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "extension: %s: %s\n", what, gil_strerror(rc));
        exit(1);
    }
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);

    if (rc != 0) {
        fprintf(stderr, "extension: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* The interpreter's state: everything here is guarded by the GIL.          */

typedef struct image {
    uint8_t px[IMAGE_SIDE * IMAGE_SIDE];
} image_t;

typedef struct interp {
    gil_t *gil;
    image_t image;             /* an "object" the extension works on */
    uint64_t checksum;         /* the last result published */
    int stop_io;               /* tells the I/O thread to finish */
    uint64_t io_roundtrips;    /* completed round trips */
    uint64_t io_samples[MAX_SAMPLES]; /* round-trip latencies, ns */
    size_t io_nsamples;
    int io_fd;                 /* the interpreter's end of the echo socket */
} interp_t;

/* ------------------------------------------------------------------------ */
/* The computation shared by both extension functions.                      */

/* BLUR_PASSES of a 4-neighbour box blur; returns a checksum of the result.
 * Pure computation on buffers the caller owns: safe without the GIL. */
static uint64_t blur(const uint8_t *src, uint8_t *a, uint8_t *b)
{
    uint64_t sum = 0;

    memcpy(a, src, IMAGE_SIDE * IMAGE_SIDE);
    for (int pass = 0; pass < BLUR_PASSES; pass++) {
        for (int y = 1; y < IMAGE_SIDE - 1; y++)
            for (int x = 1; x < IMAGE_SIDE - 1; x++) {
                int i = y * IMAGE_SIDE + x;
                b[i] = (uint8_t)((a[i - 1] + a[i + 1] + a[i - IMAGE_SIDE] +
                                  a[i + IMAGE_SIDE]) >> 2);
            }
        memcpy(a, b, IMAGE_SIDE * IMAGE_SIDE);
    }
    for (int i = 0; i < IMAGE_SIDE * IMAGE_SIDE; i++)
        sum = sum * 31 + a[i];
    return sum;
}

/* Like Pillow: take a private copy of the input while holding the GIL, let
 * go during the work, take the GIL back to publish the result.  Returns 0,
 * or -1 if the GIL could not be taken back (only after gil_shutdown). */
static int blur_releasing(interp_t *in)
{
    static image_t copy, tmp_a, tmp_b; /* one caller at a time: the main thread */
    uint64_t sum;

    copy = in->image; /* under the GIL: the image may change once we let go */
    GIL_BEGIN_ALLOW_THREADS
    sum = blur(copy.px, tmp_a.px, tmp_b.px);
    GIL_END_ALLOW_THREADS
    if (!gil_held(in->gil))
        return -1;
    in->checksum = sum;
    return 0;
}

/* Like json's C accelerator: the GIL is held throughout, and nothing in
 * here is a check point, so the I/O thread cannot run until it returns. */
static int blur_holding(interp_t *in)
{
    static image_t tmp_a, tmp_b;

    in->checksum = blur(in->image.px, tmp_a.px, tmp_b.px);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The I/O thread and its echo peer.                                        */

/* The peer: a native thread that never touches the GIL. */
static void *echo_peer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;

    while (read(fd, &c, 1) == 1)
        if (write(fd, &c, 1) != 1)
            break;
    close(fd);
    return NULL;
}

/* One round trip without the GIL.  Returns 0 or -1 (errno set). */
static int roundtrip(int fd)
{
    char c = 'x';

    if (write(fd, &c, 1) != 1)
        return -1;
    return read(fd, &c, 1) == 1 ? 0 : -1;
}

static void record_roundtrip(interp_t *in, uint64_t t0)
{
    if (in->io_nsamples < MAX_SAMPLES)
        in->io_samples[in->io_nsamples++] = now_ns() - t0;
    in->io_roundtrips++;
}

static void *io_thread(void *arg)
{
    interp_t *in = arg;
    gil_tstate_t *ts;
    int rc, err = 0;

    check(gil_tstate_new(in->gil, "io", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");
    while (!in->stop_io) {
        uint64_t t0 = now_ns();
        int fd = in->io_fd;

        GIL_BEGIN_ALLOW_THREADS
        rc = roundtrip(fd);
        err = errno;
        GIL_END_ALLOW_THREADS
        if (rc < 0) {
            fprintf(stderr, "extension: round trip: %s\n", strerror(err));
            exit(1);
        }
        record_roundtrip(in, t0);
        /* The interpreter loop's back edge. */
        check(gil_check(ts), "gil_check");
    }
    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Running one variant and reporting it.                                    */

typedef struct result {
    uint64_t checksum;
    uint64_t calls_ns;          /* total time inside the extension calls */
    uint64_t wall_ns;           /* the whole run of calls */
    uint64_t roundtrips;
    uint64_t during_calls;      /* round trips completed inside calls */
    uint64_t p50_ns, p99_ns, max_ns;
    gil_stats_t stats;
} result_t;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *sorted, size_t n, double q)
{
    return n ? sorted[(size_t)(q * (double)(n - 1))] : 0;
}

static void fill_image(image_t *img)
{
    uint32_t x = 12345;

    for (size_t i = 0; i < sizeof img->px; i++) {
        x = x * 1103515245u + 12345u;
        img->px[i] = (uint8_t)(x >> 24);
    }
}

/* The interpreter's main thread: `calls` calls of fn, with a check point
 * before each, as the bytecode loop around a call would have. */
static void call_extension(interp_t *in, gil_tstate_t *ts, int (*fn)(interp_t *),
                           int calls, result_t *r)
{
    for (int i = 0; i < calls; i++) {
        uint64_t before, t0;

        check(gil_check(ts), "gil_check");
        before = in->io_roundtrips;
        t0 = now_ns();
        if (fn(in) != 0) {
            fprintf(stderr, "extension: lost the GIL in a call\n");
            exit(1);
        }
        r->calls_ns += now_ns() - t0;
        r->during_calls += in->io_roundtrips - before;
    }
}

static void run_variant(int (*fn)(interp_t *), int calls, result_t *r)
{
    static interp_t in; /* large: keep it off the stack */
    gil_tstate_t *ts;
    pthread_t io, peer;
    int sv[2];

    memset(&in, 0, sizeof in);
    memset(r, 0, sizeof *r);
    fill_image(&in.image);
    check(gil_create(&in.gil, NULL), "gil_create");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("extension: socketpair");
        exit(1);
    }
    in.io_fd = sv[0];
    start_thread(&peer, echo_peer, (void *)(intptr_t)sv[1]);

    check(gil_tstate_new(in.gil, "main", &ts), "gil_tstate_new");
    check(gil_acquire(ts), "gil_acquire");
    start_thread(&io, io_thread, &in);

    r->wall_ns = now_ns();
    call_extension(&in, ts, fn, calls, r);
    r->wall_ns = now_ns() - r->wall_ns;

    in.stop_io = 1;
    GIL_BEGIN_ALLOW_THREADS
    pthread_join(io, NULL); /* never join a thread that needs the GIL while holding it */
    GIL_END_ALLOW_THREADS
    if (!gil_held(in.gil)) {
        fprintf(stderr, "extension: lost the GIL while joining\n");
        exit(1);
    }

    r->checksum = in.checksum;
    r->roundtrips = in.io_roundtrips;
    qsort(in.io_samples, in.io_nsamples, sizeof in.io_samples[0], cmp_u64);
    r->p50_ns = percentile(in.io_samples, in.io_nsamples, 0.50);
    r->p99_ns = percentile(in.io_samples, in.io_nsamples, 0.99);
    r->max_ns = in.io_nsamples ? in.io_samples[in.io_nsamples - 1] : 0;
    check(gil_stats_get(in.gil, &r->stats), "gil_stats_get");

    check(gil_release(ts), "gil_release");
    check(gil_tstate_delete(ts), "gil_tstate_delete");
    check(gil_destroy(in.gil), "gil_destroy");
    close(sv[0]);
    pthread_join(peer, NULL);
}

static void print_row(const char *name, const result_t *r, int calls)
{
    printf("%-26s %8.2f ms %10.0f %10llu %10.1f us %10.1f us %10.1f us %8llu\n", name,
           (double)r->calls_ns / calls / 1e6, (double)r->roundtrips * 1e9 / (double)r->wall_ns,
           (unsigned long long)r->during_calls, (double)r->p50_ns / 1e3,
           (double)r->p99_ns / 1e3, (double)r->max_ns / 1e3,
           (unsigned long long)r->stats.forced_switches);
}

int main(int argc, char **argv)
{
    int calls = 20;
    char extra;
    result_t rel, hold;

    /* -h/--help: the usage on stdout, exit 0; bad usage: on stderr, exit 2. */
    int help = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help || argc > 2 ||
        (argc == 2 && (sscanf(argv[1], "%d%c", &calls, &extra) != 1 || calls <= 0))) {
        fprintf(help ? stdout : stderr, "usage: extension [CALLS > 0]\n");
        return help ? 0 : 2;
    }
    run_variant(blur_releasing, calls, &rel);
    run_variant(blur_holding, calls, &hold);

    printf("extension: %d calls of a %dx%d blur (%d passes) beside an I/O thread\n",
           calls, IMAGE_SIDE, IMAGE_SIDE, BLUR_PASSES);
    printf("%-26s %11s %11s %10s %13s %13s %13s %8s\n", "variant", "per call",
           "I/O trips/s", "in calls", "I/O p50", "I/O p99", "I/O max", "forced");
    print_row("releases the GIL (Pillow)", &rel, calls);
    print_row("holds the GIL (json)", &hold, calls);
    printf("checksums: %016llx %016llx (%s)\n", (unsigned long long)rel.checksum,
           (unsigned long long)hold.checksum,
           rel.checksum == hold.checksum ? "same result" : "MISMATCH");
    printf("round trips completed during calls: releasing %llu, holding %llu\n",
           (unsigned long long)rel.during_calls, (unsigned long long)hold.during_calls);
    if (hold.roundtrips > 0)
        printf("the I/O thread ran %.1fx faster while the extension released the GIL\n",
               ((double)rel.roundtrips / (double)rel.wall_ns) /
                   ((double)hold.roundtrips / (double)hold.wall_ns));
    return rel.checksum == hold.checksum && hold.during_calls == 0 ? 0 : 1;
}
