/*
 * test_format.c - the library's own formatter (platform/format.c) against
 * the C library's printf, which it replaces inside libgil: doubles over
 * random bit patterns (every exponent, subnormals, huge values), figure-like
 * values, ties at .5, zeros, NaN and infinities; integers at their extremes;
 * snprintf's truncation and length semantics; the stream mode.
 */
#include "helpers.h"
#include "platform/platform.h" /* gil__fmt_*, white-box */

#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: reproducible values without libc's rand state. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static long mismatches;

/* Our %.<prec>f / %.<prec>g of v must be printf's, byte for byte. */
static void check_double(double v, unsigned prec, int sig)
{
    char want[2048], got[2048];
    snprintf(want, sizeof want, sig ? "%.*g" : "%.*f", (int)prec, v);
    gil__fmt_t f;
    gil__fmt_init(&f, got, sizeof got);
    if (sig)
        gil__fmt_sig(&f, v, prec);
    else
        gil__fmt_fixed(&f, v, prec);
    if (strcmp(want, got) != 0 || f.len != strlen(want)) {
        if (mismatches++ < 10)
            print_error("%%.%u%c of %a: printf \"%s\", ours \"%s\"\n", prec, sig ? 'g' : 'f', v, want, got);
    }
}

static void check_both(double v)
{
    check_double(v, (unsigned)(rng() % 18), 1);
    check_double(v, (unsigned)(rng() % 10), 0);
}

static void test_format_doubles_special(void **state)
{
    (void)state;
    mismatches = 0;
    const double special[] = {
        0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY, 1.0, -1.0, 0.1, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375,
        2.675, 1.005, 999.5, 999.4999, 9.995, 99.95, 0.0001, 0.00001, 123456789.0, 1e15, 1e16, 1e17,
        1e21, 1e22, 1e23, 1e300, 1.7976931348623157e308, 2.2250738585072014e-308, 4.9406564584124654e-324,
        1e-300, 5e-5, 0.00049999, 0.0005, 0.00015, 1e-4, 9.9999999e-5, 3.14159265358979, 5.07e-3, 1e9,
        4294967296.0, 18446744073709551616.0, 0.95, 0.945, 0.9449999, 12.345, 1234.5, 0.05, 0.15, 0.25,
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        for (unsigned p = 0; p <= 20; p++) {
            check_double(special[i], p, 1);
            check_double(special[i], p, 0);
            check_double(-special[i], p, 1);
        }
    /* Exact ties at every scale: k + 1/2, k/2^n. */
    for (int k = 0; k < 2000; k++) {
        check_double(k + 0.5, 0, 0);
        check_double(k + 0.5, (unsigned)(1 + k % 4), 1);
        check_double(k / 8.0, 2, 0);
        check_double(k / 16.0, 3, 0);
        check_double(k / 1024.0, (unsigned)(k % 6), 0);
        check_double(k / 1024.0, (unsigned)(1 + k % 6), 1);
    }
    assert_int_equal(mismatches, 0);
}

static void test_format_doubles_random(void **state)
{
    (void)state;
    mismatches = 0;
    long n = scaled(60000);
    for (long i = 0; i < n; i++) {
        check_both(from_bits(rng()));                          /* any bit pattern */
        check_both((double)(rng() % 100000000u) / 1000.0);     /* figures: 0.001 steps */
        check_both((double)(rng() % 1000000u) / 1e9);          /* seconds of ns durations */
        check_both(ldexp((double)(rng() >> 11), -(int)(rng() % 80))); /* ratios, tiny values */
    }
    assert_int_equal(mismatches, 0);
}

static void test_format_integers(void **state)
{
    (void)state;
    char buf[64];
    gil__fmt_t f;
    gil__fmt_init(&f, buf, sizeof buf);
    gil__fmt_u64(&f, 0);
    gil__fmt_char(&f, ' ');
    gil__fmt_u64(&f, UINT64_MAX);
    gil__fmt_char(&f, ' ');
    gil__fmt_i64(&f, INT64_MIN);
    gil__fmt_char(&f, ' ');
    gil__fmt_i64(&f, -42);
    gil__fmt_char(&f, ' ');
    gil__fmt_hex(&f, 0x1f, 4);
    gil__fmt_char(&f, ' ');
    gil__fmt_hex(&f, 0xdeadbeef, 1);
    assert_string_equal(buf, "0 18446744073709551615 -9223372036854775808 -42 001f deadbeef");
    assert_int_equal(f.len, strlen(buf));

    static const struct { uint64_t v; unsigned scale; bool trim; const char *want; } scaled_cases[] = {
        {1500, 3, false, "1.500"}, {1500, 3, true, "1.5"}, {2000, 3, true, "2"},  {0, 9, true, "0"},
        {0, 3, false, "0.000"},    {5, 9, true, "0.000000005"}, {1234567890123, 9, true, "1234.567890123"},
        {UINT64_MAX, 9, false, "18446744073.709551615"}, {7, 0, false, "7"}, {5000, 6, true, "0.005"},
    };
    for (size_t i = 0; i < sizeof scaled_cases / sizeof scaled_cases[0]; i++) {
        gil__fmt_init(&f, buf, sizeof buf);
        gil__fmt_scaled(&f, scaled_cases[i].v, scaled_cases[i].scale, scaled_cases[i].trim);
        assert_string_equal(buf, scaled_cases[i].want);
    }
}

static void test_format_durations(void **state)
{
    (void)state;
    static const struct { uint64_t ns; const char *want; } cases[] = {
        {0, "0ns"},           {850, "850ns"},       {999, "999ns"},     {1000, "1us"},
        {12345, "12.3us"},    {999499, "999us"},    {999500, "1ms"},    {5070000, "5.07ms"},
        {1000000, "1ms"},     {1200000000, "1.2s"}, {250000000000, "250s"}, {5000000000000, "5e+03s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        gil__fmt_t f;
        gil__fmt_init(&f, buf, sizeof buf);
        gil__fmt_duration(&f, cases[i].ns);
        assert_string_equal(buf, cases[i].want);
    }
}

/* snprintf semantics: the whole length counted, the buffer keeps what fits,
 * always terminated; no buffer at all is fine with cap 0. */
static void test_format_truncation(void **state)
{
    (void)state;
    const char *text = "held 0.95 waiting 3";
    for (size_t cap = 0; cap < 24; cap++) {
        char buf[32];
        memset(buf, 'x', sizeof buf);
        gil__fmt_t f;
        gil__fmt_init(&f, cap == 0 ? NULL : buf, cap);
        gil__fmt_str(&f, "held ");
        gil__fmt_fixed(&f, 0.951, 2);
        gil__fmt_str(&f, " waiting ");
        gil__fmt_u64(&f, 3);
        assert_int_equal(f.len, strlen(text));
        if (cap == 0)
            continue;
        size_t kept = cap - 1 < strlen(text) ? cap - 1 : strlen(text);
        assert_int_equal(strlen(buf), kept);
        assert_memory_equal(buf, text, kept);
        assert_true(buf[cap] == 'x' || cap > strlen(text)); /* nothing written past cap */
    }
}

static void test_format_stream(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    char small[7]; /* forces many flushes */
    gil__fmt_t f;
    gil__fmt_init_stream(&f, small, sizeof small, out);
    char want[4096] = "";
    size_t wl = 0;
    for (int i = 0; i < 300; i++) {
        gil__fmt_u64(&f, (uint64_t)i * 7919u);
        gil__fmt_str(&f, i % 3 ? ", " : "\n");
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%d%s", i * 7919, i % 3 ? ", " : "\n");
    }
    assert_true(gil__fmt_flush(&f));
    fclose(out);
    assert_int_equal(f.len, wl);
    assert_int_equal(len, wl);
    assert_string_equal(text, want);
    free(text);

    FILE *full = fopen("/dev/full", "w");
    if (full != NULL) {
        setvbuf(full, NULL, _IONBF, 0);
        gil__fmt_init_stream(&f, small, sizeof small, full);
        gil__fmt_str(&f, "does not fit anywhere");
        assert_false(gil__fmt_flush(&f));
        fclose(full);
    }
}

static void check_vformat(const char *want, const char *fmt, ...) GIL__PRINTF(2, 3);
static void check_vformat(const char *want, const char *fmt, ...)
{
    char got[256];
    gil__fmt_t f;
    gil__fmt_init(&f, got, sizeof got);
    va_list ap;
    va_start(ap, fmt);
    gil__fmt_vformat(&f, fmt, ap);
    va_end(ap);
    assert_string_equal(got, want);
}

static void test_format_messages(void **state)
{
    (void)state;
    char want[256];
    void *p = (void *)(uintptr_t)0xabc123;
    snprintf(want, sizeof want, "%s failed: %s at %p, %d %u %lu %llu %zu %x %c %%", "pthread_mutex_lock",
             "Invalid argument", p, -7, 7u, 123456789012ul, 18446744073709551615ull, (size_t)99, 0xbeefu, 'z');
    check_vformat(want, "%s failed: %s at %p, %d %u %lu %llu %zu %x %c %%", "pthread_mutex_lock",
                  "Invalid argument", p, -7, 7u, 123456789012ul, 18446744073709551615ull, (size_t)99, 0xbeefu,
                  'z');
    check_vformat("thread 42 \"main\"", "thread %lu \"%s\"", 42ul, "main");
    check_vformat("no conversions", "no conversions");
}

/* gil__fatal: one line on fd 2, "libgil: " + the message, then abort. */
static void test_format_fatal_message(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        signal(SIGABRT, SIG_DFL);
        gil__fatal("%s failed: %s (%d, tstate %llu)", "pthread_mutex_lock", "Invalid argument", 22,
                   18446744073709551615ull);
    }
    close(fds[1]);
    char text[600] = "";
    size_t n = 0;
    ssize_t k;
    while ((k = read(fds[0], text + n, sizeof text - 1 - n)) > 0)
        n += (size_t)k;
    close(fds[0]);
    text[n] = '\0';
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_string_equal(text, "libgil: pthread_mutex_lock failed: Invalid argument (22, tstate 18446744073709551615)\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_format_doubles_special, 120),
        GUARDED_TEST(test_format_doubles_random, 120),
        GUARDED_TEST(test_format_integers, 120),
        GUARDED_TEST(test_format_durations, 120),
        GUARDED_TEST(test_format_truncation, 120),
        GUARDED_TEST(test_format_stream, 120),
        GUARDED_TEST(test_format_messages, 120),
        GUARDED_TEST(test_format_fatal_message, 120),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
