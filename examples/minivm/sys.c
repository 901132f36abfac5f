/*
 * sys.c - minivm's blocking instructions.
 *
 * The pattern, the same in every function here:
 *
 *     take what the call needs out of interpreter state (GIL held)
 *     GIL_BEGIN_ALLOW_THREADS
 *         the system call: touches only locals and the thread's own buffers
 *     GIL_END_ALLOW_THREADS
 *     if the GIL did not come back (gil_shutdown happened), unwind
 *     report errno, which GIL_END_ALLOW_THREADS preserved
 *
 * Every wait also polls the VM's stop pipe, so that gil_shutdown never
 * leaves a thread blocked forever in read(2) or a long sleep.
 */
#include "vm.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Results of the GIL-free helpers below (besides 0 = done). */
enum {
    SYS_FAILED = -1,  /* errno says why */
    SYS_STOPPED = -2, /* the stop pipe became readable */
    SYS_EOF = -3,
    SYS_TOO_LONG = -4
};

vm_value_t vm_sys_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (vm_value_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* After GIL_END_ALLOW_THREADS: turn a helper's result into a VM status. */
static vm_status_t after_blocking(vm_thread_t *t, const vm_insn_t *in, int result,
                                  const char *what)
{
    int saved = errno;

    if (!gil_held(t->vm->gil))
        return VM_UNWIND; /* gil_restore saw gil_shutdown: no GIL, unwind */
    switch (result) {
    case 0:
        return VM_OK;
    case SYS_STOPPED:
        /* Woken by vm_stop or by the SIGINT handler; in the second case
         * nobody has called gil_shutdown yet. */
        vm_stop(t->vm);
        return VM_UNWIND;
    case SYS_TOO_LONG:
        return vm_fail(t, in, "%s: line longer than 31 bytes", what);
    default:
        return vm_fail(t, in, "%s: %s", what, strerror(saved));
    }
}

/* Without the GIL: wait until fd is ready for events, or the VM stops, or
 * the deadline (CLOCK_MONOTONIC usec, 0 = none) passes.  Returns 1 when fd
 * is ready, 0 at the deadline, SYS_STOPPED or SYS_FAILED. */
static int wait_fd(const vm_t *vm, int fd, short events, vm_value_t deadline_us)
{
    struct pollfd fds[2] = {{vm->stop_pipe[0], POLLIN, 0}, {fd, events, 0}};
    nfds_t nfds = fd >= 0 ? 2 : 1;

    for (;;) {
        struct timespec timeout, *tp = NULL;
        int n;

        if (deadline_us > 0) {
            vm_value_t left = deadline_us - vm_sys_clock_us();
            if (left <= 0)
                return 0;
            timeout.tv_sec = (time_t)(left / 1000000);
            timeout.tv_nsec = (long)(left % 1000000) * 1000;
            tp = &timeout;
        }
        n = ppoll(fds, nfds, tp, NULL);
        if (n < 0 && errno == EINTR)
            continue; /* a signal: re-test the stop pipe and the deadline */
        if (n < 0)
            return SYS_FAILED;
        if (fds[0].revents != 0)
            return SYS_STOPPED;
        if (n == 0)
            continue; /* timed out: the deadline test above returns */
        if (fds[1].revents & POLLNVAL) {
            errno = EBADF;
            return SYS_FAILED;
        }
        return 1; /* ready, or an error/hangup that read/write will report */
    }
}

static int sleep_until_stopped(const vm_t *vm, vm_value_t usec)
{
    int rc;

    if (usec == 0)
        return 0;
    rc = wait_fd(vm, -1, 0, vm_sys_clock_us() + usec);
    return rc > 0 ? 0 : rc;
}

vm_status_t vm_sys_sleep(vm_thread_t *t, const vm_insn_t *in, vm_value_t usec)
{
    int rc;

    if (usec < 0)
        return vm_fail(t, in, "sleep: negative time %lld", (long long)usec);
    GIL_BEGIN_ALLOW_THREADS
    rc = sleep_until_stopped(t->vm, usec);
    GIL_END_ALLOW_THREADS
    return after_blocking(t, in, rc, "sleep");
}

/* Without the GIL: read one line, a byte at a time so that nothing past the
 * newline is consumed (no buffer shared between threads to protect). */
static int read_line(const vm_t *vm, int fd, char *buf, size_t cap)
{
    size_t len = 0;

    for (;;) {
        char c;
        ssize_t n;
        int rc = wait_fd(vm, fd, POLLIN, 0);

        if (rc < 0)
            return rc;
        n = read(fd, &c, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return SYS_FAILED;
        if (n == 0 && len == 0)
            return SYS_EOF;
        if (n == 0 || c == '\n')
            break;
        if (len + 1 == cap)
            return SYS_TOO_LONG;
        buf[len++] = c;
    }
    buf[len] = '\0';
    return 0;
}

static int valid_fd(vm_value_t fd)
{
    return fd >= 0 && fd <= INT_MAX;
}

vm_status_t vm_sys_read(vm_thread_t *t, const vm_insn_t *in, vm_value_t fd,
                        vm_value_t *value, vm_value_t *ok)
{
    char line[32], *end;
    long long v;
    int rc;
    vm_status_t st;

    if (!valid_fd(fd))
        return vm_fail(t, in, "read: bad file descriptor %lld", (long long)fd);
    GIL_BEGIN_ALLOW_THREADS
    rc = read_line(t->vm, (int)fd, line, sizeof line);
    GIL_END_ALLOW_THREADS
    if (rc == SYS_EOF) {
        if (!gil_held(t->vm->gil))
            return VM_UNWIND;
        *value = 0;
        *ok = 0;
        return VM_OK;
    }
    if ((st = after_blocking(t, in, rc, "read")) != VM_OK)
        return st;
    errno = 0;
    v = strtoll(line, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (end == line || *end != '\0' || errno == ERANGE)
        return vm_fail(t, in, "read: \"%s\" is not an integer", line);
    *value = v;
    *ok = 1;
    return VM_OK;
}

/* Without the GIL: write all of buf, waiting for room. */
static int write_all(const vm_t *vm, int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n;
        int rc = vm ? wait_fd(vm, fd, POLLOUT, 0) : 1;

        if (rc < 0)
            return rc;
        n = write(fd, buf, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return SYS_FAILED;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

vm_status_t vm_sys_write(vm_thread_t *t, const vm_insn_t *in, vm_value_t fd,
                         vm_value_t value)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%lld\n", (long long)value);
    int rc;

    if (!valid_fd(fd))
        return vm_fail(t, in, "write: bad file descriptor %lld", (long long)fd);
    GIL_BEGIN_ALLOW_THREADS
    rc = write_all(t->vm, (int)fd, text, (size_t)len);
    GIL_END_ALLOW_THREADS
    return after_blocking(t, in, rc, "write");
}

vm_status_t vm_sys_join(vm_thread_t *t, const vm_insn_t *in, vm_thread_t *target)
{
    int rc;

    GIL_BEGIN_ALLOW_THREADS
    rc = pthread_join(target->pthread, NULL);
    GIL_END_ALLOW_THREADS
    if (!gil_held(t->vm->gil))
        return VM_UNWIND;
    if (rc != 0)
        return vm_fail(t, in, "join: pthread_join: %s", strerror(rc));
    return VM_OK;
}

/* Output goes to fd 1 a line at a time with one write(2), so that lines of
 * different threads never mix.  The line buffer is the thread's own: no
 * GIL needed to write it out.  Standard output is not polled against the
 * stop pipe: what a program printed should appear even while it stops. */
static vm_status_t flush_output(vm_thread_t *t, const vm_insn_t *in)
{
    int rc;

    GIL_BEGIN_ALLOW_THREADS
    rc = write_all(NULL, STDOUT_FILENO, t->out, t->outlen);
    GIL_END_ALLOW_THREADS
    t->outlen = 0;
    return after_blocking(t, in, rc, "print");
}

vm_status_t vm_sys_output(vm_thread_t *t, const vm_insn_t *in, const char *text,
                          size_t len)
{
    while (len > 0) {
        size_t room = sizeof t->out - t->outlen;
        size_t n = len < room ? len : room;
        int newline = memchr(text, '\n', n) != NULL;
        vm_status_t st;

        memcpy(t->out + t->outlen, text, n);
        t->outlen += n;
        text += n;
        len -= n;
        if ((newline || t->outlen == sizeof t->out) &&
            (st = flush_output(t, in)) != VM_OK)
            return st;
    }
    return VM_OK;
}

void vm_sys_flush_at_exit(vm_thread_t *t)
{
    if (t->outlen > 0 && write_all(NULL, STDOUT_FILENO, t->out, t->outlen) < 0)
        perror("minivm: write(stdout)");
    t->outlen = 0;
}

/* ------------------------------------------------------------------------ */
/* The echo peer                                                            */

/* A native thread that never touches the GIL: it stands for a server at
 * the other end of a socket (the convoy measurements in the reference used
 * an echo process).  delay_us models the network between the two.  It ends
 * when the interpreter closes its end. */
static void *echo_peer_main(void *arg)
{
    const vm_peer_t *peer = arg;
    struct timespec delay = {(time_t)(peer->delay_us / 1000000),
                             (long)(peer->delay_us % 1000000) * 1000};
    char buf[512];

    for (;;) {
        ssize_t n = read(peer->peer_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (peer->delay_us > 0)
            while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
                ;
        if (write_all(NULL, peer->peer_fd, buf, (size_t)n) < 0)
            break;
    }
    close(peer->peer_fd);
    return NULL;
}

vm_status_t vm_sys_openecho(vm_thread_t *t, const vm_insn_t *in, vm_value_t delay_us,
                            vm_value_t *fd)
{
    vm_t *vm = t->vm;
    vm_peer_t *peer;
    int sv[2], rc;

    if (delay_us < 0 || delay_us > 1000000)
        return vm_fail(t, in, "openecho: round-trip time %lld us is not in 0..1000000",
                       (long long)delay_us);
    pthread_mutex_lock(&vm->peers_lock);
    if (vm->npeers == VM_MAX_PEERS) {
        pthread_mutex_unlock(&vm->peers_lock);
        return vm_fail(t, in, "openecho: more than %d echo peers", VM_MAX_PEERS);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        pthread_mutex_unlock(&vm->peers_lock);
        return vm_fail(t, in, "openecho: socketpair: %s", strerror(errno));
    }
    peer = &vm->peers[vm->npeers];
    peer->fd = sv[0];
    peer->peer_fd = sv[1];
    peer->delay_us = delay_us;
    rc = pthread_create(&peer->thread, NULL, echo_peer_main, peer);
    if (rc != 0) {
        pthread_mutex_unlock(&vm->peers_lock);
        close(sv[0]);
        close(sv[1]);
        return vm_fail(t, in, "openecho: pthread_create: %s", strerror(rc));
    }
    vm->npeers++;
    pthread_mutex_unlock(&vm->peers_lock);
    *fd = sv[0];
    return VM_OK;
}

void vm_sys_close_peers(vm_t *vm)
{
    pthread_mutex_lock(&vm->peers_lock);
    for (int i = 0; i < vm->npeers; i++) {
        close(vm->peers[i].fd); /* the peer reads EOF and ends */
        pthread_join(vm->peers[i].thread, NULL);
    }
    vm->npeers = 0;
    pthread_mutex_unlock(&vm->peers_lock);
}
