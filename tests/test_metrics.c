/*
 * test_metrics.c - load figures, the one-line summary, the Prometheus and
 * OpenMetrics expositions (checked against the 0.0.4 grammar by a small
 * validating parser here, and by python3-prometheus-client's reference
 * parsers of both formats through tests/check_metrics.py), the histogram
 * buckets, bounded per-thread series, thread-state ids.
 *
 * No assertion depends on how fast the machine is: every figure is checked
 * against counts, orderings, or bounds that hold by construction (a ratio
 * is in [0, 1]; a hold the test saw last from t0 to t1 on the same
 * monotonic clock is at least t1 - t0 long; an average is between its
 * inputs).
 */
#include "helpers.h"
#include "observe/observe.h" /* gil__ema_step, white-box */

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static gil_t *gil_with(const char *name, gil_policy_t policy, gil_timing_t timing, unsigned long interval_us)
{
    gil_config_t cfg;
    gil_config_init(&cfg);
    cfg.name = name;
    cfg.policy = policy;
    cfg.timing = timing;
    cfg.switch_interval_us = interval_us;
    gil_t *gil = NULL;
    assert_int_equal(gil_create(&gil, &cfg), 0);
    return gil;
}

static void assert_ratio(double x)
{
    assert_true(x >= 0.0);
    assert_true(x <= 1.0);
}

/* ---- moving averages ---------------------------------------------------- */

static void test_metrics_ema_step_math(void **state)
{
    (void)state;
    const uint64_t tau = 1000000000u;
    /* One time constant at rate 1 from 0: 1 - 1/e. */
    assert_true(fabs(gil__ema_step(0.0, 1.0, tau, tau) - (1.0 - exp(-1.0))) < 1e-9);
    /* Exact for any step size: 1000 small steps == one big step. */
    double a = 0.25;
    for (int i = 0; i < 1000; i++)
        a = gil__ema_step(a, 0.75, tau / 1000, 5 * tau);
    assert_true(fabs(a - gil__ema_step(0.25, 0.75, tau, 5 * tau)) < 1e-9);
    /* No time: unchanged; a very long time: the rate itself. */
    assert_true(gil__ema_step(0.4, 1.0, 0, tau) == 0.4);
    assert_true(fabs(gil__ema_step(0.4, 0.9, 1000 * tau, tau) - 0.9) < 1e-12);
    /* Always between the old average and the rate. */
    for (uint64_t dt = 1; dt < 100 * tau; dt *= 7) {
        double v = gil__ema_step(0.2, 0.8, dt, 15 * tau);
        assert_true(v >= 0.2 && v <= 0.8);
    }
}

/* ---- load figures ------------------------------------------------------- */

/* GIL_TIMING_ALWAYS, one thread holding throughout: held_ratio is at least
 * the fraction of the GIL's life the test saw it held, and the averages are
 * ordered (a rate that steps up is followed faster by shorter windows). */
static void test_metrics_held_ratio_of_a_hog(void **state)
{
    (void)state;
    uint64_t t_before = now_ns();
    gil_t *gil = gil_with("hog", GIL_POLICY_CPYTHON, GIL_TIMING_ALWAYS, 5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "hog", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    uint64_t t_acq = now_ns();
    /* Run until the hold is long against the set-up (a loop bound, not an
     * assertion), with a stats read along the way to advance the averages. */
    gil_stats_t st;
    for (int i = 0; now_ns() - t_acq < 20 * (t_acq - t_before) + 2000000; i++) {
        assert_int_equal(gil_check(ts), 0);
        if (i % 100000 == 0)
            assert_int_equal(gil_stats_get(gil, &st), 0);
    }
    uint64_t t_read0 = now_ns();
    assert_int_equal(gil_stats_get(gil, &st), 0);
    uint64_t t_read1 = now_ns();
    /* The hold began before t_acq and lasts past t_read0; the GIL was
     * created after t_before and read before t_read1 (the library reads
     * the same CLOCK_MONOTONIC): held / uptime is at least this. */
    double lower = (double)(t_read0 - t_acq) / (double)(t_read1 - t_before);
    assert_true(st.held_ratio >= lower - 1e-6);
    assert_true(st.held_ratio > 0.0);
    assert_ratio(st.held_ratio);
    assert_true(st.uptime_ns > 0 && st.uptime_ns <= t_read1 - t_before);
    assert_true(st.held_ratio_1s > 0.0);
    assert_true(st.held_ratio_1s >= st.held_ratio_5s);
    assert_true(st.held_ratio_5s >= st.held_ratio_15s);
    assert_ratio(st.held_ratio_1s);
    assert_true(st.wait_ratio == 0.0 && st.wait_ratio_1s == 0.0); /* nobody waited */
    assert_int_equal(st.waiting_now, 0);

    gil_tstate_stats_t ts_st;
    uint64_t t_ts0 = now_ns();
    assert_int_equal(gil_tstate_stats_get(ts, &ts_st), 0);
    uint64_t t_ts1 = now_ns();
    /* The same bound for the state, created after t_before too. */
    assert_true(ts_st.held_ratio >= (double)(t_ts0 - t_acq) / (double)(t_ts1 - t_before) - 1e-6);
    assert_true(ts_st.held_ratio > 0.0);
    assert_ratio(ts_st.held_ratio);
    assert_true(ts_st.wait_ratio == 0.0);
    assert_int_equal(ts_st.id, gil_tstate_id(ts));

    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* The default mode does not time an uncontended hold, and says so: a thread
 * alone shows held_ratio 0, never a guess. */
static void test_metrics_uncontended_holds_are_not_timed(void **state)
{
    (void)state;
    gil_t *gil = gil_with("alone", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "alone", &ts), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(gil_acquire(ts), 0);
        assert_int_equal(gil_check(ts), 0);
        assert_int_equal(gil_release(ts), 0);
    }
    gil_stats_t st;
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.timed_holds, 0);
    assert_true(st.held_ratio == 0.0 && st.held_ratio_1s == 0.0 && st.held_ratio_15s == 0.0);
    assert_true(st.wait_ratio == 0.0);
    assert_true(st.switches_per_sec >= 0.0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* Two CPU-bound threads share the GIL through drop requests: the figures
 * stay in range, contention shows up, and the waiters keep the averages
 * moving without anybody reading them. */
static void test_metrics_contended_ratios(void **state)
{
    (void)state;
    gil_t *gil = gil_with("duel", test_policy(), GIL_TIMING_CONTENDED, 500);
    hog_t t[2];
    hog_start(&t[0], gil, "duelist");
    hog_start(&t[1], gil, "duelist");
    gil_stats_t st;
    do {
        nap_us(2000);
        assert_int_equal(gil_stats_get(gil, &st), 0);
    } while (st.switches < (uint64_t)scaled(60) || !hog_is_holding(&t[0]) || !hog_is_holding(&t[1]));
    hog_stop(&t[0]);
    hog_stop(&t[1]);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_ratio(st.held_ratio);
    assert_ratio(st.held_ratio_1s);
    assert_ratio(st.held_ratio_5s);
    assert_ratio(st.held_ratio_15s);
    assert_true(st.held_ratio > 0.0);   /* contended holds were timed */
    assert_true(st.wait_ratio > 0.0);   /* and waits counted */
    assert_true(st.wait_ratio <= 2.0);  /* at most two threads ever waited */
    assert_true(st.wait_ratio_1s >= 0.0 && st.wait_ratio_15s >= 0.0);
    assert_true(st.switches_per_sec > 0.0);
    assert_int_equal(st.waiting_now, 0);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_metrics_tstate_ids(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *a, *b, *c;
    assert_int_equal(gil_tstate_new(gil, "a", &a), 0);
    assert_int_equal(gil_tstate_new(gil, "b", &b), 0);
    assert_int_equal(gil_tstate_id(a), 1);
    assert_int_equal(gil_tstate_id(b), 2);
    assert_int_equal(gil_tstate_delete(a), 0);
    assert_int_equal(gil_tstate_new(gil, "c", &c), 0); /* may reuse a's memory, never its id */
    assert_int_equal(gil_tstate_id(c), 3);
    assert_int_equal(gil_tstate_id(NULL), 0);
    gil_tstate_stats_t st;
    assert_int_equal(gil_tstate_stats_get(c, &st), 0);
    assert_int_equal(st.id, 3);
    assert_ratio(st.held_ratio);
    assert_int_equal(gil_tstate_delete(b), 0);
    assert_int_equal(gil_tstate_delete(c), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- one line ----------------------------------------------------------- */

static void test_metrics_format_line(void **state)
{
    (void)state;
    gil_t *gil = gil_with("fmt", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);
    char buf[512];
    int n = gil_stats_format(gil, buf, sizeof buf);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_int_equal(strlen(buf), (size_t)n);
    assert_non_null(strstr(buf, "gil \"fmt\" held 0.00 (1s 0.00, 5s 0.00, 15s 0.00) wait 0.00 ("));
    assert_non_null(strstr(buf, " waiting 0 switches/s "));
    assert_non_null(strstr(buf, " wait p50 "));
    assert_non_null(strstr(buf, " drop p99 "));
    assert_null(strchr(buf, '\n'));

    /* snprintf semantics: the full length is returned, the output is cut
     * and terminated. */
    char small[10];
    memset(small, 'x', sizeof small);
    int m = gil_stats_format(gil, small, sizeof small);
    assert_int_equal(m, n);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, buf, sizeof small - 1);
    assert_int_equal(gil_stats_format(gil, NULL, 0), n);
    assert_int_equal(gil_stats_format(NULL, buf, sizeof buf), GIL_EINVAL);
    assert_int_equal(gil_stats_format(gil, NULL, 5), GIL_EINVAL);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- Prometheus text format: a validating parser ------------------------ */

typedef struct prom_family {
    char name[128];
    char type[16];
    int has_help, has_type, closed;
} prom_family_t;

typedef struct prom {
    prom_family_t fam[256];
    int nfam;
    int cur;            /* index of the family whose samples may follow */
    char **series;      /* every "name{labels}" seen, to catch duplicates */
    int nseries, capseries;
    int samples;
    char err[256];
} prom_t;

static int prom_fail(prom_t *p, int line, const char *what)
{
    snprintf(p->err, sizeof p->err, "line %d: %s", line, what);
    return -1;
}

static int valid_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t n = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : (*u & 0xf8) == 0xf0 ? 4 : 0;
        if (n == 0)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((u[i] & 0xc0) != 0x80)
                return 0;
        u += n;
    }
    return 1;
}

static int metric_name_char(int c, int first)
{
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

static int label_name_char(int c, int first)
{
    return isalpha(c) || c == '_' || (!first && isdigit(c));
}

/* Parse a metric name at *s into out; advance *s. */
static int parse_name(const char **s, char *out, size_t len, int (*ok)(int, int))
{
    size_t n = 0;
    while (ok((unsigned char)(*s)[n], n == 0)) {
        if (n + 1 >= len)
            return -1;
        out[n] = (*s)[n];
        n++;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    *s += n;
    return 0;
}

static int family_of(prom_t *p, const char *name)
{
    for (int i = 0; i < p->nfam; i++)
        if (strcmp(p->fam[i].name, name) == 0)
            return i;
    if (p->nfam == 256)
        return -1;
    memset(&p->fam[p->nfam], 0, sizeof p->fam[0]);
    snprintf(p->fam[p->nfam].name, sizeof p->fam[0].name, "%s", name);
    return p->nfam++;
}

/* Switch to family i: the previous one is closed for good. */
static int enter_family(prom_t *p, int i, int line)
{
    if (p->cur != i) {
        if (p->fam[i].closed)
            return prom_fail(p, line, "family appears twice (its lines must be contiguous)");
        if (p->cur >= 0)
            p->fam[p->cur].closed = 1;
        p->cur = i;
    }
    return 0;
}

static int parse_comment(prom_t *p, const char *s, int line)
{
    /* "# HELP name text" / "# TYPE name type"; other comments are allowed. */
    int help = strncmp(s, "# HELP ", 7) == 0, type = strncmp(s, "# TYPE ", 7) == 0;
    if (!help && !type)
        return 0;
    s += 7;
    char name[128];
    if (parse_name(&s, name, sizeof name, metric_name_char) != 0 || *s != ' ')
        return prom_fail(p, line, "bad metric name in a HELP/TYPE line");
    s++;
    int i = family_of(p, name);
    if (i < 0 || enter_family(p, i, line) != 0)
        return -1;
    if (help) {
        if (p->fam[i].has_help)
            return prom_fail(p, line, "second HELP for a family");
        for (const char *c = s; *c; c++)
            if (*c == '\\' && c[1] != '\\' && c[1] != 'n')
                return prom_fail(p, line, "bad escape in HELP");
        p->fam[i].has_help = 1;
    } else {
        if (p->fam[i].has_type)
            return prom_fail(p, line, "second TYPE for a family");
        static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
        int known = 0;
        for (size_t k = 0; k < 5; k++)
            known |= strcmp(s, types[k]) == 0;
        if (!known)
            return prom_fail(p, line, "unknown TYPE");
        snprintf(p->fam[i].type, sizeof p->fam[i].type, "%s", s);
        p->fam[i].has_type = 1;
    }
    return 0;
}

/* A label value between quotes: only \\ \" \n escapes; unescaped into out. */
static int parse_label_value(const char **s, char *out, size_t len)
{
    const char *c = *s;
    size_t n = 0;
    if (*c++ != '"')
        return -1;
    while (*c != '"') {
        char ch = *c++;
        if (ch == '\0' || ch == '\n')
            return -1;
        if (ch == '\\') {
            ch = *c++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return -1;
        }
        if (n + 1 < len)
            out[n++] = ch;
    }
    out[n] = '\0';
    *s = c + 1;
    return 0;
}

static int parse_value(const char *s)
{
    if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0)
        return 0;
    char *end;
    strtod(s, &end);
    return end != s && *end == '\0' ? 0 : -1;
}

/* Checks a sample line; on success copies the gil label into gil_label. */
static int parse_sample(prom_t *p, const char *line_text, int line, char *gil_label, size_t gl_len)
{
    const char *s = line_text;
    char name[128];
    if (parse_name(&s, name, sizeof name, metric_name_char) != 0)
        return prom_fail(p, line, "bad metric name");
    if (p->cur < 0)
        return prom_fail(p, line, "sample before any TYPE");
    prom_family_t *f = &p->fam[p->cur];
    if (!f->has_type)
        return prom_fail(p, line, "sample of a family without TYPE");
    size_t fl = strlen(f->name);
    int is_summary = strcmp(f->type, "summary") == 0, is_histogram = strcmp(f->type, "histogram") == 0;
    const char *suffix = strncmp(name, f->name, fl) == 0 ? name + fl : NULL;
    int aggregate = suffix != NULL && (strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0);
    int is_bucket = is_histogram && suffix != NULL && strcmp(suffix, "_bucket") == 0;
    int ok_name = (!is_histogram && strcmp(name, f->name) == 0) || ((is_summary || is_histogram) && aggregate) ||
                  is_bucket;
    if (!ok_name)
        return prom_fail(p, line, "sample does not belong to the current family");
    if (strcmp(f->type, "counter") == 0 && (fl < 6 || strcmp(f->name + fl - 6, "_total") != 0))
        return prom_fail(p, line, "counter not named *_total");

    char labels[64][64];
    int nlabels = 0, has_quantile = 0, has_gil = 0, has_le = 0;
    char series[1024];
    snprintf(series, sizeof series, "%s", name);
    if (*s == '{') {
        s++;
        while (*s != '}') {
            char lname[64], lvalue[256];
            if (parse_name(&s, lname, sizeof lname, label_name_char) != 0 || *s++ != '=')
                return prom_fail(p, line, "bad label name");
            if (parse_label_value(&s, lvalue, sizeof lvalue) != 0)
                return prom_fail(p, line, "bad label value");
            for (int i = 0; i < nlabels; i++)
                if (strcmp(labels[i], lname) == 0)
                    return prom_fail(p, line, "duplicate label");
            if (nlabels == 64)
                return prom_fail(p, line, "too many labels");
            snprintf(labels[nlabels++], sizeof labels[0], "%s", lname);
            if (strcmp(lname, "quantile") == 0) {
                char *end;
                double q = strtod(lvalue, &end);
                if (*end != '\0' || q < 0 || q > 1)
                    return prom_fail(p, line, "quantile not in [0, 1]");
                has_quantile = 1;
            }
            if (strcmp(lname, "le") == 0) {
                if (strcmp(lvalue, "+Inf") != 0) {
                    char *end;
                    strtod(lvalue, &end);
                    if (end == lvalue || *end != '\0')
                        return prom_fail(p, line, "le not a number");
                }
                has_le = 1;
            }
            if (strcmp(lname, "gil") == 0) {
                has_gil = 1;
                snprintf(gil_label, gl_len, "%s", lvalue);
            }
            size_t sl = strlen(series);
            snprintf(series + sl, sizeof series - sl, "|%s=%s", lname, lvalue);
            if (*s == ',')
                s++;
            else if (*s != '}')
                return prom_fail(p, line, "expected , or }");
        }
        s++;
    }
    if (!has_gil)
        return prom_fail(p, line, "sample without the gil label");
    if (is_summary && strcmp(name, f->name) == 0 && !has_quantile)
        return prom_fail(p, line, "summary sample without quantile");
    if (is_bucket != has_le)
        return prom_fail(p, line, is_bucket ? "histogram bucket without le" : "le on a sample that is no bucket");
    if (*s++ != ' ')
        return prom_fail(p, line, "expected a space before the value");
    if (parse_value(s) != 0)
        return prom_fail(p, line, "bad value");
    for (int i = 0; i < p->nseries; i++)
        if (strcmp(p->series[i], series) == 0)
            return prom_fail(p, line, "duplicate series");
    if (p->nseries == p->capseries) {
        p->capseries = p->capseries ? 2 * p->capseries : 64;
        p->series = realloc(p->series, (size_t)p->capseries * sizeof *p->series);
    }
    p->series[p->nseries++] = strdup(series);
    p->samples++;
    return 0;
}

/* Validate a whole exposition; collect the distinct gil label values. */
static int prom_validate(prom_t *p, const char *text, char gils[][256], int *ngils)
{
    memset(p, 0, sizeof *p);
    p->cur = -1;
    *ngils = 0;
    if (!valid_utf8(text))
        return prom_fail(p, 0, "not UTF-8");
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n')
        return prom_fail(p, 0, "must end with a newline");
    char *copy = strdup(text);
    int line = 0, rc = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l != NULL && rc == 0;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (l[0] == '#') {
            rc = parse_comment(p, l, line);
        } else {
            char gl[256] = "";
            rc = parse_sample(p, l, line, gl, sizeof gl);
            int seen = 0;
            for (int i = 0; i < *ngils; i++)
                seen |= strcmp(gils[i], gl) == 0;
            if (rc == 0 && !seen && *ngils < 8)
                snprintf(gils[(*ngils)++], 256, "%s", gl);
        }
    }
    /* strtok_r skips empty lines: the format allows none in our output. */
    if (rc == 0 && strstr(text, "\n\n") != NULL)
        rc = prom_fail(p, 0, "empty line");
    for (int i = 0; rc == 0 && i < p->nfam; i++)
        if (!p->fam[i].has_help || !p->fam[i].has_type)
            rc = prom_fail(p, 0, "family without HELP or TYPE");
    free(copy);
    return rc;
}

static void prom_free(prom_t *p)
{
    for (int i = 0; i < p->nseries; i++)
        free(p->series[i]);
    free(p->series);
}

typedef enum { PROMETHEUS, OPENMETRICS } format_t;

static char *write_metrics(const gil_t *const *gils, size_t n, format_t format)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    int rc = format == OPENMETRICS ? gil_stats_write_openmetrics(gils, n, f)
             : n == 1              ? gil_stats_write_prometheus(gils[0], f)
                                   : gil_stats_write_prometheus_many(gils, n, f);
    assert_int_equal(rc, 0);
    fclose(f);
    return text;
}

static char *write_prom(const gil_t *const *gils, size_t n)
{
    return write_metrics(gils, n, PROMETHEUS);
}

static const char *find_sample(const char *text, const char *prefix)
{
    for (const char *l = text; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, prefix, strlen(prefix)) == 0)
            return l + strlen(prefix);
    return NULL;
}

/* The value of the sample whose line starts with prefix (which must exist). */
static uint64_t sample_u64(const char *text, const char *prefix)
{
    const char *v = find_sample(text, prefix);
    if (v == NULL)
        fail_msg("no sample %s", prefix);
    return strtoull(v, NULL, 10);
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *l = text; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        n += strncmp(l, prefix, strlen(prefix)) == 0;
    return n;
}

static double realtime_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *temp_file_with(const char *text)
{
    static const char tmpl[] = "/tmp/gil_metrics_XXXXXX";
    char *path = malloc(sizeof tmpl);
    memcpy(path, tmpl, sizeof tmpl);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_true(write(fd, text, len) == (ssize_t)len);
    close(fd);
    return path;
}

/* The reference parsers: tests/check_metrics.py (beside this file) parses
 * both expositions with python3-prometheus-client and checks families,
 * types, histograms, ratios and thread series (see the script); args are
 * passed on.  The test fails with the script's message unless it passes. */
static void check_with_reference_parsers(const char *text, const char *om, const char *args)
{
    static const char python[] = "/usr/bin/python3";
    char script[512];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(script, sizeof script, "%.*scheck_metrics.py", slash != NULL ? (int)(slash - __FILE__ + 1) : 0,
             __FILE__);
    if (access(python, X_OK) != 0 || access(script, R_OK) != 0)
        fail_msg("%s or %s missing (run from the source tree; make deps-test installs "
                 "python3-prometheus-client)", python, script);
    char *text_path = temp_file_with(text), *om_path = temp_file_with(om);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s --text %s --openmetrics %s %s 2>&1", python, script, text_path, om_path, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(text_path);
    unlink(om_path);
    free(text_path);
    free(om_path);
    if (status != 0)
        fail_msg("%s\n%s", cmd, out);
    print_message("%s", out);
}

static void check_metrics_of(const gil_t *gil, const char *args)
{
    const gil_t *one[1] = {gil};
    char *text = write_metrics(one, 1, PROMETHEUS);
    char *om = write_metrics(one, 1, OPENMETRICS);
    check_with_reference_parsers(text, om, args);
    free(text);
    free(om);
}

/* The validator itself rejects what it must (so a pass means something). */
static void test_metrics_prometheus_validator_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x_total{gil=\"a\"} 1\n",                                            /* no TYPE */
        "# HELP x_total h\n# TYPE x_total counter\nx_total{gil=\"a\"} 1",      /* no final newline */
        "# HELP x_total h\n# TYPE x_total counter\nx_total{gil=\"a\\q\"} 1\n", /* bad escape */
        "# HELP x h\n# TYPE x counter\nx{gil=\"a\"} 1\n",                     /* counter name */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"a\"} 1\nx{gil=\"a\"} 2\n",       /* duplicate series */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"a\"} one\n",                     /* value */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"a\"} 1\n# HELP y h\n# TYPE y gauge\ny{gil=\"a\"} 1\n"
        "x{gil=\"b\"} 1\n",                                                  /* not contiguous */
        "# HELP s h\n# TYPE s summary\ns{gil=\"a\"} 1\n",                     /* no quantile */
        "# HELP s h\n# TYPE s summary\ns{gil=\"a\",quantile=\"2\"} 1\n",      /* quantile range */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"a\",gil=\"b\"} 1\n",             /* duplicate label */
        "# HELP x h\n# TYPE x gauge\nx{9=\"a\"} 1\n",                         /* label name */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"\xff\"} 1\n",                    /* UTF-8 */
        "# HELP h h\n# TYPE h histogram\nh_bucket{gil=\"a\"} 1\n",             /* bucket without le */
        "# HELP h h\n# TYPE h histogram\nh{gil=\"a\"} 1\n",                    /* bare histogram name */
        "# HELP h h\n# TYPE h histogram\nh_bucket{gil=\"a\",le=\"x\"} 1\n",    /* le value */
        "# HELP x h\n# TYPE x gauge\nx{gil=\"a\",le=\"1\"} 1\n",              /* le off a bucket */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prom_t *p = calloc(1, sizeof *p);
        char gils[8][256];
        int n;
        if (prom_validate(p, bad[i], gils, &n) == 0)
            fail_msg("accepted bad input #%zu", i);
        prom_free(p);
        free(p);
    }
}

static void test_metrics_prometheus_grammar(void **state)
{
    (void)state;
    /* Names that need escaping, and a byte that is not UTF-8. */
    const char *name = "we\"ird\\gil\nname";
    double t_create = realtime_s();
    gil_t *gil = gil_with(name, GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 500);
    hog_t t[2];
    hog_start(&t[0], gil, "duelist");
    wait_until(hog_is_holding, &t[0]);
    hog_start(&t[1], gil, "duelist");
    wait_until(hog_is_holding, &t[1]);
    gil_tstate_t *odd;
    assert_int_equal(gil_tstate_new(gil, "odd \"name\" \xff\\", &odd), 0);
    gil_stats_t st;
    do {
        nap_us(1000);
        assert_int_equal(gil_stats_get(gil, &st), 0);
    } while (st.switches < 10);

    const gil_t *one[1] = {gil};
    char *text = write_prom(one, 1); /* while the threads run */
    prom_t *p = calloc(1, sizeof *p);
    char gils[8][256];
    int ngils;
    if (prom_validate(p, text, gils, &ngils) != 0)
        fail_msg("invalid exposition: %s\n%s", p->err, text);
    assert_int_equal(ngils, 1);
    assert_string_equal(gils[0], name); /* escaped and unescaped back */
    assert_true(p->samples > 60);
    prom_free(p);
    free(p);
    /* Per-thread series are named after the states, never numbered: the two
     * duelists share one; the bad byte became U+FFFD. */
    assert_non_null(strstr(text, "thread=\"odd \\\"name\\\" \xef\xbf\xbd\\\\\"} "));
    assert_non_null(strstr(text, "gil_thread_states{gil=\"we\\\"ird\\\\gil\\nname\",thread=\"duelist\"} 2\n"));
    assert_non_null(strstr(text, "# TYPE gil_wait_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "_bucket{gil=\"we\\\"ird\\\\gil\\nname\",le=\"+Inf\"} "));
    assert_non_null(strstr(text, "gil_info{gil=\"we\\\"ird\\\\gil\\nname\",policy=\"cpython\",version=\""));
    /* What issue 12 took out: windows, rates, uptime, state ids. */
    assert_null(strstr(text, "window="));
    assert_null(strstr(text, "tstate="));
    assert_null(strstr(text, "per_second"));
    assert_null(strstr(text, "uptime"));
    assert_null(strstr(text, "gil_wait_ratio"));
    free(text);
    /* Both formats through the reference parsers, while the threads run. */
    char args[128];
    snprintf(args, sizeof args, "--start-time %.3f %.3f", t_create - 1.0, realtime_s() + 1.0);
    check_metrics_of(gil, args);

    hog_stop(&t[0]);
    hog_stop(&t[1]);
    ASSERT_NO_CHECK_FAILURES();

    /* Quiet now: counters in the output equal the statistics, and the two
     * formats agree value for value. */
    text = write_prom(one, 1);
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(sample_u64(text, "gil_acquisitions_total{gil=\"we\\\"ird\\\\gil\\nname\"} "), st.acquisitions);
    assert_int_equal(sample_u64(text, "gil_wait_duration_seconds_count{gil=\"we\\\"ird\\\\gil\\nname\"} "),
                     st.wait.count);
    assert_int_equal(sample_u64(text, "gil_threads{gil=\"we\\\"ird\\\\gil\\nname\"} "), 1);
    free(text);
    check_metrics_of(gil, "--same-values");
    assert_int_equal(gil_tstate_delete(odd), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

static uint64_t bucket_count(const char *text, const char *family, const char *labels, const char *le)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s_bucket{%s,le=\"%s\"} ", family, labels, le);
    return sample_u64(text, prefix);
}

/* From the core's log-linear histograms to `le` buckets, white-box: values
 * recorded straight into the histograms of a GIL nobody else uses (the
 * test thread is their single writer). */
static void test_metrics_histogram_buckets(void **state)
{
    (void)state;
    gil_t *gil = gil_with("buckets", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);

    /* Hand-computed: 999..1008 share the log-linear bucket [992, 1007] or
     * the next, [1008, 1023]; the first straddles 1 us, so all four count
     * under 2.5 us (a bound is never over-stated).  2500 is in [2496, 2559]
     * and 4999999, 5000000 in [4980736, 5111807]: the next bound again. */
    static const uint64_t values[] = {1, 999, 1000, 1007, 1008, 2500, 4999999, 5000000, 20000000000u};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        gil__hist_record(&gil->wait_hist, values[i]);
    static const struct { const char *le; uint64_t cumulative; } want[] = {
        {"1e-06", 1}, {"2.5e-06", 5}, {"5e-06", 6}, {"0.005", 6}, {"0.01", 8}, {"10.0", 8}, {"+Inf", 9},
    };

    /* Random values, log-uniform from 1 ns to ~100 s, checked against the
     * documented guarantee: the count at le is at most the number of
     * values <= le and at least the number <= le x 32/33. */
    uint64_t *random_values = malloc(5000 * sizeof *random_values);
    uint64_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        random_values[i] = (uint64_t)1 << ((x >> 33) % 37);
        random_values[i] += (x >> 7) % random_values[i];
        gil__hist_record(&gil->drop_hist, random_values[i]);
    }

    /* Two states with one name: one series, their histograms summed. */
    gil_tstate_t *s1, *s2;
    assert_int_equal(gil_tstate_new(gil, "same", &s1), 0);
    assert_int_equal(gil_tstate_new(gil, "same", &s2), 0);
    gil__hist_record(&s1->wait_hist, 3000);
    gil__hist_record(&s2->wait_hist, 3000);
    gil__hist_record(&s2->wait_hist, 7000000);

    const gil_t *one[1] = {gil};
    char *text = write_prom(one, 1);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(bucket_count(text, "gil_wait_duration_seconds", "gil=\"buckets\"", want[i].le),
                         want[i].cumulative);
    assert_int_equal(sample_u64(text, "gil_wait_duration_seconds_count{gil=\"buckets\"} "), 9);
    assert_non_null(strstr(text, "gil_wait_duration_seconds_sum{gil=\"buckets\"} 20.010006514\n"));

    /* Every finite bound as the exposition states it (check_metrics.py
     * holds the list to the documented one). */
    static const char bucket_prefix[] = "gil_drop_latency_seconds_bucket{gil=\"buckets\",le=\"";
    int finite = 0;
    for (const char *l = strstr(text, bucket_prefix); l != NULL; l = strstr(l + 1, bucket_prefix)) {
        const char *le = l + sizeof bucket_prefix - 1;
        if (strncmp(le, "+Inf", 4) == 0)
            continue;
        uint64_t le_ns = (uint64_t)llround(strtod(le, NULL) * 1e9), at_most = 0, at_least = 0;
        for (int i = 0; i < 5000; i++) {
            at_most += random_values[i] <= le_ns;
            at_least += (double)random_values[i] <= (double)le_ns * 32.0 / 33.0;
        }
        uint64_t c = strtoull(strstr(le, "} ") + 2, NULL, 10);
        if (c > at_most || c < at_least)
            fail_msg("le=%.12s: %llu counted, %llu values <= le, %llu <= le x 32/33", le, (unsigned long long)c,
                     (unsigned long long)at_most, (unsigned long long)at_least);
        finite++;
    }
    assert_int_equal(finite, 22);
    assert_int_equal(bucket_count(text, "gil_drop_latency_seconds", "gil=\"buckets\"", "+Inf"), 5000);

    const char *same = "gil=\"buckets\",thread=\"same\"";
    assert_int_equal(bucket_count(text, "gil_thread_wait_duration_seconds", same, "2.5e-06"), 0);
    assert_int_equal(bucket_count(text, "gil_thread_wait_duration_seconds", same, "5e-06"), 2);
    assert_int_equal(bucket_count(text, "gil_thread_wait_duration_seconds", same, "0.01"), 3);
    assert_non_null(strstr(text, "gil_thread_wait_duration_seconds_sum{gil=\"buckets\",thread=\"same\"} 0.007006\n"));
    assert_non_null(strstr(text, "gil_thread_states{gil=\"buckets\",thread=\"same\"} 2\n"));
    free(text);
    check_metrics_of(gil, "--same-values --threads buckets=1");

    /* gil_stats_reset empties them: a counter reset, documented. */
    assert_int_equal(gil_stats_reset(gil), 0);
    text = write_prom(one, 1);
    assert_int_equal(sample_u64(text, "gil_wait_duration_seconds_count{gil=\"buckets\"} "), 0);
    assert_non_null(strstr(text, "gil_wait_duration_seconds_sum{gil=\"buckets\"} 0\n"));
    free(text);
    free(random_values);
    assert_int_equal(gil_tstate_delete(s1), 0);
    assert_int_equal(gil_tstate_delete(s2), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* 1000 live states with 1000 names: 64 series named after the oldest
 * states, the rest summed into thread="other"; after they are gone, and
 * after 1000 more came and went, no per-thread series at all. */
static void test_metrics_thread_series_bounded(void **state)
{
    (void)state;
    enum { N = 1000 };
    gil_t *gil = gil_with("churn", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);
    gil_tstate_t **ts = calloc(N, sizeof *ts);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "churn-%d", i);
        assert_int_equal(gil_tstate_new(gil, name, &ts[i]), 0);
        assert_int_equal(gil_acquire(ts[i]), 0);
        assert_int_equal(gil_release(ts[i]), 0);
    }
    const gil_t *one[1] = {gil};
    char *text = write_prom(one, 1);
    assert_int_equal(count_lines(text, "gil_thread_states{"), 65);
    assert_int_equal(count_lines(text, "gil_thread_acquisitions_total{"), 65);
    assert_non_null(strstr(text, "gil_thread_states{gil=\"churn\",thread=\"churn-0\"} 1\n"));
    assert_non_null(strstr(text, "gil_thread_states{gil=\"churn\",thread=\"churn-63\"} 1\n"));
    assert_null(strstr(text, "thread=\"churn-64\""));
    assert_non_null(strstr(text, "gil_thread_states{gil=\"churn\",thread=\"other\"} 936\n"));
    assert_non_null(strstr(text, "gil_thread_acquisitions_total{gil=\"churn\",thread=\"other\"} 936\n"));
    assert_int_equal(sample_u64(text, "gil_threads{gil=\"churn\"} "), N);
    free(text);
    check_metrics_of(gil, "--same-values --threads churn=65");

    for (int i = 0; i < N; i++)
        assert_int_equal(gil_tstate_delete(ts[i]), 0);
    for (int i = 0; i < N; i++) { /* churn: each state lives briefly */
        gil_tstate_t *t;
        snprintf(name, sizeof name, "brief-%d", i);
        assert_int_equal(gil_tstate_new(gil, name, &t), 0);
        assert_int_equal(gil_tstate_delete(t), 0);
    }
    text = write_prom(one, 1);
    assert_int_equal(count_lines(text, "gil_thread_"), 0);
    assert_int_equal(sample_u64(text, "gil_threads{gil=\"churn\"} "), 0);
    free(text);
    check_metrics_of(gil, "--same-values --threads churn=0");
    free(ts);
    assert_int_equal(gil_destroy(gil), 0);
}

/* The OpenMetrics form: counter families without _total, an info family,
 * units, # EOF; the same argument checks as the Prometheus writer. */
static void test_metrics_openmetrics_form(void **state)
{
    (void)state;
    gil_t *a = gil_with("om-a", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);
    gil_t *b = gil_with("om-b", GIL_POLICY_CPYTHON, GIL_TIMING_ALWAYS, 5000);
    gil_tstate_t *tb;
    assert_int_equal(gil_tstate_new(b, "tb", &tb), 0);
    assert_int_equal(gil_acquire(tb), 0);
    assert_int_equal(gil_release(tb), 0);
    const gil_t *both[2] = {a, b};
    char *om = write_metrics(both, 2, OPENMETRICS);
    assert_non_null(strstr(om, "# TYPE gil_acquisitions counter\n"));
    assert_non_null(strstr(om, "\ngil_acquisitions_total{gil=\"om-a\"} 0\ngil_acquisitions_total{gil=\"om-b\"} 1\n"));
    assert_null(strstr(om, "_total counter"));
    assert_non_null(strstr(om, "# TYPE gil info\ngil_info{gil=\"om-a\",policy=\"cpython\",version=\""));
    assert_non_null(strstr(om, "# UNIT gil_wait_duration_seconds seconds\n"));
    size_t len = strlen(om);
    assert_true(len > 6 && strcmp(om + len - 6, "# EOF\n") == 0);
    assert_int_equal(count_lines(om, "# EOF"), 1);
    char *text = write_metrics(both, 2, PROMETHEUS);
    assert_null(strstr(text, "# EOF"));
    assert_non_null(strstr(text, "# TYPE gil_acquisitions_total counter\n"));
    check_with_reference_parsers(text, om, "--same-values --threads om-a=0 --threads om-b=1");
    free(text);
    free(om);

    const gil_t *with_null[2] = {a, NULL};
    assert_int_equal(gil_stats_write_openmetrics(with_null, 2, stdout), GIL_EINVAL);
    assert_int_equal(gil_stats_write_openmetrics(NULL, 1, stdout), GIL_EINVAL);
    assert_int_equal(gil_stats_write_openmetrics(both, 2, NULL), GIL_EINVAL);
    assert_int_equal(gil_tstate_delete(tb), 0);
    assert_int_equal(gil_destroy(a), 0);
    assert_int_equal(gil_destroy(b), 0);
}

/* Several GILs in one exposition: every family once, a series per GIL. */
static void test_metrics_prometheus_many(void **state)
{
    (void)state;
    gil_t *a = gil_with("alpha", GIL_POLICY_CPYTHON, GIL_TIMING_CONTENDED, 5000);
    gil_t *b = gil_with("beta", GIL_POLICY_CPYTHON, GIL_TIMING_ALWAYS, 5000);
    gil_tstate_t *ta, *tb;
    assert_int_equal(gil_tstate_new(a, "ta", &ta), 0);
    assert_int_equal(gil_tstate_new(b, "tb", &tb), 0);
    assert_int_equal(gil_acquire(tb), 0);
    const gil_t *both[2] = {a, b};
    char *text = write_prom(both, 2);
    prom_t *p = calloc(1, sizeof *p);
    char gils[8][256];
    int ngils;
    if (prom_validate(p, text, gils, &ngils) != 0)
        fail_msg("invalid exposition: %s\n%s", p->err, text);
    assert_int_equal(ngils, 2);
    prom_free(p);
    free(p);
    /* An empty histogram: zero everywhere, no NaN. */
    assert_non_null(strstr(text, "gil_wait_duration_seconds_bucket{gil=\"alpha\",le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(text, "gil_wait_duration_seconds_count{gil=\"alpha\"} 0\n"));
    assert_null(strstr(text, "NaN"));
    assert_non_null(strstr(text, "gil_threads{gil=\"beta\"} 1\n"));
    free(text);
    assert_int_equal(gil_stats_write_prometheus(NULL, stdout), GIL_EINVAL);
    assert_int_equal(gil_stats_write_prometheus(a, NULL), GIL_EINVAL);
    assert_int_equal(gil_release(tb), 0);
    assert_int_equal(gil_tstate_delete(ta), 0);
    assert_int_equal(gil_tstate_delete(tb), 0);
    assert_int_equal(gil_destroy(a), 0);
    assert_int_equal(gil_destroy(b), 0);
}

/* A write error is reported, not swallowed, in both formats. */
static void test_metrics_prometheus_write_error(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    const gil_t *one[1] = {gil};
    for (int om = 0; om < 2; om++) {
        FILE *f = fopen("/dev/full", "w");
        if (f == NULL)
            skip();
        assert_int_equal(om ? gil_stats_write_openmetrics(one, 1, f) : gil_stats_write_prometheus(gil, f), GIL_EIO);
        fclose(f);
    }
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_metrics_ema_step_math, 60),
        GUARDED_TEST(test_metrics_held_ratio_of_a_hog, 60),
        GUARDED_TEST(test_metrics_uncontended_holds_are_not_timed, 60),
        GUARDED_TEST(test_metrics_contended_ratios, 120),
        GUARDED_TEST(test_metrics_tstate_ids, 60),
        GUARDED_TEST(test_metrics_format_line, 60),
        GUARDED_TEST(test_metrics_prometheus_validator_rejects, 60),
        GUARDED_TEST(test_metrics_prometheus_grammar, 120),
        GUARDED_TEST(test_metrics_histogram_buckets, 60),
        GUARDED_TEST(test_metrics_thread_series_bounded, 300),
        GUARDED_TEST(test_metrics_openmetrics_form, 60),
        GUARDED_TEST(test_metrics_prometheus_many, 60),
        GUARDED_TEST(test_metrics_prometheus_write_error, 60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
