/*
 * test_timeline.c - the SVG timeline renderer (bench/timeline.c): a
 * well-formed document (checked by a small XML checker here) with a lane
 * per thread, the three state colours, drop-request markers, escaped names,
 * hatching where a ring overflowed, a bounded size for long traces, and the
 * save helper.
 */
#include "helpers.h"
#include "timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a small XML well-formedness checker -------------------------------- */

/* Tags balance, attributes are quoted, text holds no raw '<' and every '&'
 * starts an entity.  Enough to know a browser will render the file. */
static int xml_well_formed(const char *s, char *err, size_t errlen)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    while (*s) {
        if (*s != '<') {
            if (*s == '&') {
                const char *semi = strchr(s, ';');
                if (semi == NULL || semi - s > 8) {
                    snprintf(err, errlen, "bare & near: %.40s", s);
                    return -1;
                }
            }
            s++;
            continue;
        }
        if (strncmp(s, "<?", 2) == 0) {
            s = strstr(s, "?>");
            if (s == NULL)
                return snprintf(err, errlen, "unterminated <?"), -1;
            s += 2;
            continue;
        }
        int closing = s[1] == '/';
        const char *p = s + 1 + closing;
        char name[32];
        size_t n = 0;
        while (*p && *p != ' ' && *p != '>' && *p != '/' && *p != '\n' && n + 1 < sizeof name)
            name[n++] = *p++;
        name[n] = '\0';
        if (n == 0)
            return snprintf(err, errlen, "empty tag name near: %.40s", s), -1;
        /* Attributes: name="value" with no '<' inside. */
        while (*p == ' ' || *p == '\n') {
            p++;
            while (*p && *p != '=' && *p != '>' && *p != '/')
                p++;
            if (*p != '=')
                break;
            if (p[1] != '"')
                return snprintf(err, errlen, "unquoted attribute near: %.40s", p), -1;
            const char *end = strchr(p + 2, '"');
            if (end == NULL || memchr(p + 2, '<', (size_t)(end - p - 2)) != NULL)
                return snprintf(err, errlen, "bad attribute value near: %.40s", p), -1;
            p = end + 1;
        }
        int self_closing = p[0] == '/' && p[1] == '>';
        if (!self_closing && *p != '>')
            return snprintf(err, errlen, "bad tag end near: %.40s", p), -1;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return snprintf(err, errlen, "mismatched </%s>", name), -1;
            depth--;
        } else if (!self_closing) {
            if (depth == 0)
                roots++;
            if (depth == 64)
                return snprintf(err, errlen, "too deep"), -1;
            snprintf(stack[depth++], sizeof stack[0], "%s", name);
        }
        s = p + (self_closing ? 2 : 1);
    }
    if (depth != 0)
        return snprintf(err, errlen, "unclosed <%s>", stack[depth - 1]), -1;
    if (roots != 1)
        return snprintf(err, errlen, "%d root elements", roots), -1;
    return 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *render(gil_t *gil, const timeline_opts_t *opts)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(timeline_write_svg(gil, f, opts), 0);
    fclose(f);
    char err[128];
    if (xml_well_formed(text, err, sizeof err) != 0)
        fail_msg("SVG not well-formed: %s", err);
    assert_true(strncmp(text, "<?xml", 5) == 0);
    assert_non_null(strstr(text, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_true(len > 7 && strcmp(text + len - 7, "</svg>\n") == 0);
    return text;
}

/* ---- a small convoy --------------------------------------------------------- */

/* A convoy under the CPython policy (the picture's markers are its drop
 * requests): each blocking call of io lasts until the hog has taken the
 * GIL, so every return waits and asks. */
static gil_t *traced_convoy(const char *io_name)
{
    gil_config_t cfg;
    test_config_init(&cfg, 300);
    cfg.policy = GIL_POLICY_CPYTHON;
    cfg.name = "demo";
    gil_t *gil = make_gil_cfg(&cfg);
    assert_int_equal(gil_trace_start(gil, 0), 0);
    hog_t hog;
    hog_start(&hog, gil, "hog");
    wait_until(hog_is_holding, &hog);
    gil_tstate_t *io;
    assert_int_equal(gil_tstate_new(gil, io_name, &io), 0);
    assert_int_equal(gil_acquire(io), 0);
    for (int i = 0; i < 20; i++) {
        uint64_t before = stats_of(gil).acquisitions;
        GIL_BEGIN_ALLOW_THREADS
        wait_for_acquisitions(gil, before + 1);
        GIL_END_ALLOW_THREADS
    }
    assert_int_equal(gil_release(io), 0);
    hog_stop(&hog);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_trace_stop(gil), 0);
    assert_int_equal(gil_tstate_delete(io), 0);
    return gil;
}

static void test_timeline_convoy_svg(void **state)
{
    (void)state;
    gil_t *gil = traced_convoy("io");
    char *svg = render(gil, NULL);
    assert_non_null(strstr(svg, ">hog (1) \xe2\x80\xa0</text>")); /* deleted while tracing */
    assert_non_null(strstr(svg, ">io (2)</text>"));
    assert_non_null(strstr(svg, "GIL &quot;demo&quot;: cpython policy, switch interval 300 us"));
    assert_non_null(strstr(svg, "running (holds the GIL)"));
    assert_non_null(strstr(svg, "watchdog report</text>"));
    assert_non_null(strstr(svg, "since the trace started</text>"));
    assert_true(count(svg, "fill=\"#2ca02c\"") >= 3); /* running */
    assert_true(count(svg, "fill=\"#d62728\"") >= 3); /* wants_gil */
    assert_true(count(svg, "fill=\"#cfcfcf\"") >= 3); /* released */
    assert_true(count(svg, "<title>drop request from io</title>") >= 1); /* every return asked (markers merge per pixel) */
    assert_null(strstr(svg, "url(#lost)\">")); /* nothing lost: no hatching in the lanes */

    /* A window: the last 1 ms draws less. */
    timeline_opts_t o;
    timeline_opts_init(&o);
    o.last_ns = 1000000;
    o.title = "a <window> & more";
    char *part = render(gil, &o);
    assert_non_null(strstr(part, "a &lt;window&gt; &amp; more"));
    assert_true(count(part, "<rect") < count(svg, "<rect"));
    free(part);
    free(svg);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_timeline_escapes_names(void **state)
{
    (void)state;
    gil_t *gil = traced_convoy("<&\"io'>\xff");
    char *svg = render(gil, NULL);
    assert_non_null(strstr(svg, ">&lt;&amp;&quot;io&apos;&gt;\xef\xbf\xbd (2)</text>"));
    free(svg);
    assert_int_equal(gil_destroy(gil), 0);
}

/* Thousands of sub-pixel slices become at most a rectangle per pixel, and
 * the overflowed part of the lane is hatched. */
static void test_timeline_long_trace_stays_small(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "busy", &ts), 0);
    assert_int_equal(gil_trace_start(gil, 4096), 0);
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(gil_acquire(ts), 0);
        assert_int_equal(gil_release(ts), 0);
    }
    assert_int_equal(gil_trace_stop(gil), 0);
    timeline_opts_t o;
    timeline_opts_init(&o);
    o.width = 800;
    char *svg = render(gil, &o);
    assert_true(count(svg, "<rect") < 800 + 20);
    assert_non_null(strstr(svg, "events lost (ring overflow)"));
    assert_non_null(strstr(svg, "fill=\"url(#lost)\"><title>"));
    free(svg);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_timeline_save_and_errors(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(timeline_write_svg(gil, null, NULL), GIL_EINVAL); /* no trace */
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "t", &ts), 0);
    assert_int_equal(gil_trace_start(gil, 0), 0);
    assert_int_equal(timeline_write_svg(gil, null, NULL), GIL_EBUSY); /* still recording */
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_release(ts), 0);
    fclose(null);

    char json[] = "/tmp/gil_timeline_XXXXXX";
    int fd = mkstemp(json);
    assert_true(fd >= 0);
    close(fd);
    char svg[sizeof json + 4];
    snprintf(svg, sizeof svg, "%s.svg", json);
    assert_int_equal(timeline_save(gil, json, svg, NULL), 0); /* stops and writes */
    char head[32] = "";
    FILE *f = fopen(json, "r");
    assert_non_null(f);
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_true(strncmp(head, "{\"traceEvents\":[", 16) == 0);
    f = fopen(svg, "r");
    assert_non_null(f);
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_true(strncmp(head, "<?xml", 5) == 0);
    unlink(json);
    unlink(svg);
    assert_int_equal(timeline_save(gil, NULL, "/nonexistent-dir/x.svg", NULL), GIL_EINVAL); /* not recording */
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_timeline_convoy_svg, 60),
        GUARDED_TEST(test_timeline_escapes_names, 60),
        GUARDED_TEST(test_timeline_long_trace_stays_small, 30),
        GUARDED_TEST(test_timeline_save_and_errors, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
