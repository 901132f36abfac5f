/*
 * platform/platform.h - the bottom layer of the library (it includes nothing
 * of libgil): mutex, condition variable, clock, thread identity, CPU relax,
 * fatal errors.  Every wrapper aborts with a message naming the
 * pthread call when the OS primitive fails: a GIL whose mutex is broken
 * cannot be reasoned about, so we never limp on (mimalloc does the same).
 */
#ifndef GIL_PLATFORM_H
#define GIL_PLATFORM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define GIL__LIKELY(x) __builtin_expect(!!(x), 1)
#define GIL__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GIL__NOINLINE __attribute__((noinline))
#define GIL__COLD __attribute__((cold, noinline))
#define GIL__NORETURN __attribute__((noreturn))
#define GIL__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GIL__LIKELY(x) (x)
#define GIL__UNLIKELY(x) (x)
#define GIL__NOINLINE
#define GIL__COLD
#define GIL__NORETURN
#define GIL__PRINTF(a, b)
#endif

#define GIL__CACHELINE 64

/* Print "libgil: <message>" and abort. */
GIL__NORETURN GIL__COLD GIL__PRINTF(1, 2) void gil__fatal(const char *fmt, ...);

void gil__mutex_init(pthread_mutex_t *m);
void gil__mutex_destroy(pthread_mutex_t *m);
void gil__mutex_lock(pthread_mutex_t *m);
void gil__mutex_unlock(pthread_mutex_t *m);

/* Condition variables wait on CLOCK_MONOTONIC, so a wall-clock jump neither
 * stretches nor shortens a switch interval. */
void gil__cond_init(pthread_cond_t *c);
void gil__cond_destroy(pthread_cond_t *c);
void gil__cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
/* Wait at most timeout_ns.  Returns 1 if the wait timed out, 0 if woken
 * (possibly spuriously). */
int gil__cond_timedwait_ns(pthread_cond_t *c, pthread_mutex_t *m, uint64_t timeout_ns);
void gil__cond_signal(pthread_cond_t *c);
void gil__cond_broadcast(pthread_cond_t *c);

/* In a forked child: a mutex or condvar that threads which do not exist
 * there may have held or waited on is re-created from scratch (never
 * destroyed: glibc would wait for the phantom waiters). */
void gil__mutex_reinit(pthread_mutex_t *m);
void gil__cond_reinit(pthread_cond_t *c);

/* Cancellation off / back on, around code run from inside a wait that may
 * reach a cancellation point while the wait's mutex is not held (hooks,
 * callbacks): see policy/waiter.c.  No system call. */
int gil__cancel_disable(void);
void gil__cancel_restore(int old_state);

/* Sleep about ns nanoseconds (a cancellation point). */
void gil__sleep_ns(uint64_t ns);
/* Block the calling thread forever (a condvar wait nobody signals).  A
 * cancellation point: a parked thread that is cancelled ends there. */
GIL__NORETURN void gil__park_forever(void);

/* Copy the string src into dst (size bytes, size > 0), truncated and always
 * NUL-terminated.  Not snprintf: a host process may interpose its own
 * printf family (see platform/format.c). */
void gil__copy_str(char *dst, size_t size, const char *src);

/* write(2) n bytes to stderr (retrying short writes): messages that must
 * not depend on stdio or a host's printf (format them with gil__fmt_*). */
void gil__write_stderr(const char *buf, size_t n);

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC).  Never 0, so 0 can mean
 * "no timestamp". */
uint64_t gil__now_ns(void);

/* A number that identifies the calling thread among live threads: the
 * address of a thread-local variable (initial-exec TLS, so reading it is a
 * single instruction, no __tls_get_addr call).  Never 0. */
extern __thread char gil__tls_anchor __attribute__((tls_model("initial-exec")));
static inline uintptr_t gil__thread_id(void)
{
    return (uintptr_t)&gil__tls_anchor;
}

/* A hint to the CPU inside a spin loop (x86 PAUSE, Arm YIELD): it saves
 * power and gives the sibling hyperthread the core. */
static inline void gil__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Give the CPU to another runnable thread of this CPU, if any (a waiter
 * that must let time pass without sleeping, and must not keep a thread it
 * depends on, such as the far end of its I/O, off the CPU). */
void gil__thread_yield(void);

/* ThreadSanitizer cannot see the happens-before edge that an RCU grace
 * period provides (liburcu is not instrumented).  These annotations state
 * it: readers release when they leave a read-side section, the reclaimer
 * acquires after synchronize_rcu().  No-ops outside `make tsan`. */
#ifdef GIL_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define GIL__TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define GIL__TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define GIL__TSAN_ACQUIRE(p) ((void)0)
#define GIL__TSAN_RELEASE(p) ((void)0)
#endif

/* ------------------------------------------------------------------------ */
/* Formatting without the printf family (format.c)                          */
/*
 * libgil is embedded in other people's processes, and a host may define its
 * own snprintf/fprintf (a statically linked interpreter did, without %llu).
 * So the library never calls the printf family: every message and figure is
 * formatted by these functions, whose symbols are hidden even in a build
 * without -fvisibility=hidden.  A gil__fmt_t writes into a bounded buffer
 * with snprintf's semantics (len counts the whole output, the buffer keeps
 * what fits and is always NUL-terminated), or through a buffer into a FILE
 * (gil__fmt_init_stream: the formatted bytes are written with fwrite).
 */
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define GIL__HIDDEN __attribute__((visibility("hidden")))
#else
#define GIL__HIDDEN
#endif

typedef struct gil__fmt {
    char *buf;
    size_t cap;  /* bytes of buf */
    size_t used; /* bytes of buf in use (a string: without its NUL) */
    size_t len;  /* bytes of the whole output so far: what snprintf returns */
    FILE *out;   /* stream mode: buf is flushed to out when full; else NULL */
    bool error;  /* stream mode: a write to out came up short */
} gil__fmt_t;

/* A string in buf (cap bytes; buf may be NULL when cap is 0). */
GIL__HIDDEN void gil__fmt_init(gil__fmt_t *f, char *buf, size_t cap);
/* A stream: buf (cap > 0 bytes) buffers the writes to out. */
GIL__HIDDEN void gil__fmt_init_stream(gil__fmt_t *f, char *buf, size_t cap, FILE *out);
/* Stream mode: write out what is buffered.  Returns false if any write to
 * the stream came up short (so far). */
GIL__HIDDEN bool gil__fmt_flush(gil__fmt_t *f);

GIL__HIDDEN void gil__fmt_mem(gil__fmt_t *f, const char *s, size_t n);
GIL__HIDDEN void gil__fmt_str(gil__fmt_t *f, const char *s);
GIL__HIDDEN void gil__fmt_char(gil__fmt_t *f, char c);
/* Decimal integers; hexadecimal (lowercase) with at least min_digits. */
GIL__HIDDEN void gil__fmt_u64(gil__fmt_t *f, uint64_t v);
GIL__HIDDEN void gil__fmt_i64(gil__fmt_t *f, int64_t v);
GIL__HIDDEN void gil__fmt_hex(gil__fmt_t *f, uint64_t v, unsigned min_digits);
/* v / 10^scale exactly (scale <= 18), with scale decimals; trim: without
 * trailing zeros (and without the point when nothing is left after it).
 * E.g. (1500, 3, false) "1.500", (1500, 3, true) "1.5", (2000, 3, true) "2". */
GIL__HIDDEN void gil__fmt_scaled(gil__fmt_t *f, uint64_t v, unsigned scale, bool trim);
/* Doubles, as printf's %.<decimals>f and %.<digits>g print them (exact
 * decimal expansion, ties to even; nan, inf, -0 as glibc prints them).
 * decimals and digits are capped at 40. */
GIL__HIDDEN void gil__fmt_fixed(gil__fmt_t *f, double v, unsigned decimals);
GIL__HIDDEN void gil__fmt_sig(gil__fmt_t *f, double v, unsigned digits);
/* A duration with 3 significant digits and the unit that keeps the number
 * below 1000: 850ns, 12.3us, 5.07ms, 1.2s, 250s. */
GIL__HIDDEN void gil__fmt_duration(gil__fmt_t *f, uint64_t ns);
/* A small printf for messages (gil__fatal): %s %c %d %i %u %x %p %% with
 * the l, ll and z modifiers; anything else is copied as it is. */
GIL__HIDDEN void gil__fmt_vformat(gil__fmt_t *f, const char *fmt, va_list ap);

#endif /* GIL_PLATFORM_H */
