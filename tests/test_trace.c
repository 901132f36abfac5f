/*
 * test_trace.c - tracing: the Chrome Trace Event JSON of a scripted convoy
 * parsed back (by a strict JSON parser written here, so the suite needs no
 * python) and checked for structure; ring overflow counted and reported;
 * tracks of deleted states kept; tracing and hooks sharing the observe
 * flag; start/stop/export while threads run (TSan); misuse.
 */
#include "helpers.h"
#include "core/core.h" /* gil__observed, white-box */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a strict JSON parser (RFC 8259) ------------------------------------ */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jv {
    jtype_t t;
    double num;
    int b;
    char *str;          /* J_STR, UTF-8 */
    struct jv **items;  /* J_ARR, J_OBJ values */
    char **keys;        /* J_OBJ */
    size_t n;
} jv_t;

typedef struct jparser {
    const char *s;
    const char *err;
    int depth;
} jparser_t;

static jv_t *jparse_value(jparser_t *p);

static void jfree(jv_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jfree(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void jws(jparser_t *p)
{
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
        p->s++;
}

static jv_t *jerr(jparser_t *p, const char *msg)
{
    if (p->err == NULL)
        p->err = msg;
    return NULL;
}

static jv_t *jnew(jtype_t t)
{
    jv_t *v = calloc(1, sizeof *v);
    v->t = t;
    return v;
}

static int hex4(const char *s, unsigned *out)
{
    *out = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i];
        if (!isxdigit(c))
            return -1;
        *out = *out * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return 0;
}

static void put_utf8(char **o, unsigned cp)
{
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xc0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xe0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *u++ = (unsigned char)(0xf0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = (char *)u;
}

/* A string's UTF-8 bytes must be valid: checked byte by byte. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static char *jparse_string_raw(jparser_t *p)
{
    if (*p->s != '"')
        return (char *)jerr(p, "expected a string");
    p->s++;
    char *out = malloc(strlen(p->s) * 4 + 1), *o = out;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c == '\0' || c < 0x20) {
            free(out);
            return (char *)jerr(p, "unterminated string or raw control character");
        }
        if (c != '\\') {
            size_t n = utf8_len((const unsigned char *)p->s);
            if (n == 0) {
                free(out);
                return (char *)jerr(p, "invalid UTF-8");
            }
            memcpy(o, p->s, n);
            o += n;
            p->s += n;
            continue;
        }
        p->s++;
        char e = *p->s++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p->s, &cp) != 0) {
                free(out);
                return (char *)jerr(p, "bad \\u escape");
            }
            p->s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p->s[0] != '\\' || p->s[1] != 'u' || hex4(p->s + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    free(out);
                    return (char *)jerr(p, "lone surrogate");
                }
                p->s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(out);
                return (char *)jerr(p, "lone surrogate");
            }
            put_utf8(&o, cp);
            break;
        }
        default:
            free(out);
            return (char *)jerr(p, "bad escape");
        }
    }
    p->s++;
    *o = '\0';
    return out;
}

static jv_t *jparse_number(jparser_t *p)
{
    const char *s = p->s;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (isdigit((unsigned char)*s))
        while (isdigit((unsigned char)*s))
            s++;
    else
        return jerr(p, "bad number");
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return jerr(p, "bad fraction");
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return jerr(p, "bad exponent");
        while (isdigit((unsigned char)*s))
            s++;
    }
    jv_t *v = jnew(J_NUM);
    v->num = strtod(p->s, NULL);
    p->s = s;
    return v;
}

static void jpush(jv_t *v, char *key, jv_t *item)
{
    v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
    if (v->t == J_OBJ)
        v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys), v->keys[v->n] = key;
    v->items[v->n++] = item;
}

static jv_t *jparse_container(jparser_t *p, jtype_t t)
{
    char close = t == J_ARR ? ']' : '}';
    jv_t *v = jnew(t);
    p->s++;
    jws(p);
    if (*p->s == close) {
        p->s++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jws(p);
        if (t == J_OBJ) {
            key = jparse_string_raw(p);
            if (key == NULL)
                break;
            for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], key) == 0) {
                    free(key);
                    jerr(p, "duplicate key");
                    jfree(v);
                    return NULL;
                }
            jws(p);
            if (*p->s++ != ':') {
                free(key);
                jerr(p, "expected :");
                break;
            }
        }
        jv_t *item = jparse_value(p);
        if (item == NULL) {
            free(key);
            break;
        }
        jpush(v, key, item);
        jws(p);
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == close) {
            p->s++;
            return v;
        }
        jerr(p, "expected , or a closing bracket");
        break;
    }
    jfree(v);
    return NULL;
}

static jv_t *jparse_value(jparser_t *p)
{
    if (++p->depth > 64)
        return jerr(p, "too deep");
    jws(p);
    jv_t *v = NULL;
    if (*p->s == '{') {
        v = jparse_container(p, J_OBJ);
    } else if (*p->s == '[') {
        v = jparse_container(p, J_ARR);
    } else if (*p->s == '"') {
        char *s = jparse_string_raw(p);
        if (s != NULL)
            v = jnew(J_STR), v->str = s;
    } else if (strncmp(p->s, "true", 4) == 0 || strncmp(p->s, "false", 5) == 0) {
        v = jnew(J_BOOL);
        v->b = *p->s == 't';
        p->s += v->b ? 4 : 5;
    } else if (strncmp(p->s, "null", 4) == 0) {
        v = jnew(J_NULL);
        p->s += 4;
    } else {
        v = jparse_number(p);
    }
    p->depth--;
    return v;
}

/* The whole text must be one value. */
static jv_t *jparse(const char *text, const char **err)
{
    jparser_t p = {.s = text};
    jv_t *v = jparse_value(&p);
    if (v != NULL) {
        jws(&p);
        if (*p.s != '\0') {
            jfree(v);
            v = jerr(&p, "trailing characters");
        }
    }
    *err = p.err;
    return v;
}

static jv_t *jget(const jv_t *o, const char *key)
{
    if (o == NULL || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return o->items[i];
    return NULL;
}

static const char *jstr(const jv_t *o, const char *key)
{
    jv_t *v = jget(o, key);
    return v != NULL && v->t == J_STR ? v->str : NULL;
}

static int jnum(const jv_t *o, const char *key, double *out)
{
    jv_t *v = jget(o, key);
    if (v == NULL || v->t != J_NUM)
        return -1;
    *out = v->num;
    return 0;
}

static void test_trace_json_parser_is_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "{", "{\"a\":1,}", "[1 2]", "{\"a\":1,\"a\":2}", "01", "1.", "\"\\x\"",
                                      "\"a\nb\"", "\"\\ud800\"", "{} x", "\"\xff\"", "[tru]", "{a:1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err;
        jv_t *v = jparse(bad[i], &err);
        if (v != NULL)
            fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
    }
    const char *err;
    jv_t *v = jparse("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\\ud83d\\ude00\"]}", &err);
    assert_non_null(v);
    jv_t *a = jget(v, "a");
    assert_int_equal(a->n, 5);
    assert_true(a->items[1]->num == -2500.0);
    assert_string_equal(a->items[4]->str, "\xc3\xa9\xf0\x9f\x98\x80");
    jfree(v);
}

/* ---- helpers ------------------------------------------------------------ */

/* The convoy's markers (drop requests, forced releases) are CPython's, so
 * that GIL has the CPython policy whatever the suite's. */
static gil_t *cpython_gil(const char *name, unsigned long interval_us)
{
    gil_config_t cfg;
    test_config_init(&cfg, interval_us);
    cfg.policy = GIL_POLICY_CPYTHON;
    cfg.name = name;
    return make_gil_cfg(&cfg);
}

static char *write_json(gil_t *gil)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(gil_trace_write_json(gil, f), 0);
    fclose(f);
    return text;
}

static jv_t *parse_trace(const char *text)
{
    const char *err = NULL;
    jv_t *root = jparse(text, &err);
    if (root == NULL)
        fail_msg("trace JSON does not parse: %s", err);
    assert_int_equal(root->t, J_OBJ);
    jv_t *events = jget(root, "traceEvents");
    assert_non_null(events);
    assert_int_equal(events->t, J_ARR);
    assert_string_equal(jstr(root, "displayTimeUnit"), "ns");
    assert_non_null(jget(root, "otherData"));
    /* Every event has the keys the format requires for its phase. */
    for (size_t i = 0; i < events->n; i++) {
        jv_t *e = events->items[i];
        double pid = -1, tid = -1, ts = -1, dur = -1;
        assert_int_equal(e->t, J_OBJ);
        assert_non_null(jstr(e, "name"));
        const char *ph = jstr(e, "ph");
        assert_non_null(ph);
        assert_int_equal(jnum(e, "pid", &pid), 0);
        assert_int_equal(jnum(e, "tid", &tid), 0);
        if (strcmp(ph, "X") == 0) {
            assert_int_equal(jnum(e, "ts", &ts), 0);
            assert_int_equal(jnum(e, "dur", &dur), 0);
            assert_true(ts >= 0 && dur >= 0);
            assert_non_null(jget(e, "args"));
        } else if (strcmp(ph, "i") == 0) {
            assert_int_equal(jnum(e, "ts", &ts), 0);
            assert_string_equal(jstr(e, "s"), "t");
        } else {
            assert_string_equal(ph, "M");
            assert_non_null(jget(e, "args"));
        }
    }
    return root;
}

static double other_num(const jv_t *root, const char *key)
{
    double d = -1;
    assert_int_equal(jnum(jget(root, "otherData"), key, &d), 0);
    return d;
}

/* The tid of the thread named name (thread_name metadata), or -1. */
static double tid_of(const jv_t *root, const char *name)
{
    jv_t *events = jget(root, "traceEvents");
    for (size_t i = 0; i < events->n; i++) {
        jv_t *e = events->items[i];
        const char *n = jstr(jget(e, "args"), "name");
        double tid = -1;
        if (strcmp(jstr(e, "name"), "thread_name") == 0 && n != NULL && strcmp(n, name) == 0 &&
            jnum(e, "tid", &tid) == 0)
            return tid;
    }
    return -1;
}

typedef struct span {
    double tid, ts, dur;
    const char *name;
} span_t;

static int cmp_span(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* X events (all, or only those named name) sorted by start. */
static span_t *spans(const jv_t *root, const char *name, size_t *n)
{
    jv_t *events = jget(root, "traceEvents");
    span_t *s = calloc(events->n + 1, sizeof *s);
    *n = 0;
    for (size_t i = 0; i < events->n; i++) {
        jv_t *e = events->items[i];
        if (strcmp(jstr(e, "ph"), "X") != 0 || (name != NULL && strcmp(jstr(e, "name"), name) != 0))
            continue;
        span_t *sp = &s[(*n)++];
        jnum(e, "tid", &sp->tid);
        jnum(e, "ts", &sp->ts);
        jnum(e, "dur", &sp->dur);
        sp->name = jstr(e, "name");
    }
    qsort(s, *n, sizeof *s, cmp_span);
    return s;
}

/* ---- the convoy, traced ------------------------------------------------- */

typedef struct convoy {
    gil_t *gil;
    int rounds;
} convoy_t;

/* Each round is a blocking call that lasts until the hog has taken the GIL
 * it let go of, so every return waits for a CPU-bound holder, which only a
 * drop request moves: the convoy, round after round. */
static void *io_main(void *arg)
{
    convoy_t *c = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(c->gil, "io", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    for (int i = 0; i < c->rounds; i++) {
        uint64_t before = stats_of(c->gil).acquisitions;
        GIL_BEGIN_ALLOW_THREADS
        wait_for_acquisitions(c->gil, before + 1); /* a blocking call */
        GIL_END_ALLOW_THREADS
        CHECK_EQ(gil_check(ts), 0);
    }
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_trace_convoy_json_structure(void **state)
{
    (void)state;
    convoy_t c = {.gil = cpython_gil("convoy", 500), .rounds = (int)scaled(40)};
    assert_int_equal(gil_trace_start(c.gil, 0), 0);
    hog_t hog;
    hog_start(&hog, c.gil, "hog");
    wait_until(hog_is_holding, &hog);
    pthread_t io = spawn(io_main, &c);
    join(io);
    hog_stop(&hog);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_trace_stop(c.gil), 0);

    char *text = write_json(c.gil);
    jv_t *root = parse_trace(text);
    jv_t *other = jget(root, "otherData");
    assert_string_equal(jstr(other, "policy"), "cpython");
    assert_string_equal(jstr(other, "gil"), "convoy");
    assert_string_equal(jstr(other, "libgil_version"), gil_version_string());
    assert_true(other_num(root, "switch_interval_us") == 500);
    assert_true(other_num(root, "events_lost") == 0);
    assert_true(other_num(root, "threads") == 2);
    assert_true(other_num(root, "events") >= 2.0 * c.rounds); /* io: a release and an acquire per round */

    double hog_tid = tid_of(root, "hog"), io_tid = tid_of(root, "io");
    assert_true(hog_tid > 0 && io_tid > 0 && hog_tid != io_tid);

    /* Per thread: slices in order, never overlapping. */
    size_t n;
    span_t *all = spans(root, NULL, &n);
    assert_true(n > 0);
    for (int pass = 0; pass < 2; pass++) {
        double tid = pass ? io_tid : hog_tid, end = -1;
        for (size_t i = 0; i < n; i++) {
            if (all[i].tid != tid)
                continue;
            assert_true(all[i].ts >= end - 0.002); /* microseconds, 3 decimals */
            end = all[i].ts + all[i].dur;
        }
    }
    free(all);
    /* Mutual exclusion, seen from the trace: running slices never overlap. */
    span_t *run = spans(root, "running", &n);
    assert_true(n >= (size_t)c.rounds);
    for (size_t i = 1; i < n; i++)
        assert_true(run[i].ts >= run[i - 1].ts + run[i - 1].dur - 0.002);
    free(run);

    /* The convoy's signature: io waits, blaming the hog; the hog is asked to
     * drop (markers on its track, from io) and releases on request. */
    jv_t *events = jget(root, "traceEvents");
    int blamed = 0, marks = 0, forced = 0, saves = 0;
    for (size_t i = 0; i < events->n; i++) {
        jv_t *e = events->items[i], *args = jget(e, "args");
        const char *name = jstr(e, "name");
        double tid = -1;
        jnum(e, "tid", &tid);
        if (strcmp(name, "wants_gil") == 0 && tid == io_tid && jstr(args, "holder") != NULL &&
            strcmp(jstr(args, "holder"), "hog") == 0)
            blamed++;
        if (strcmp(name, "drop_request") == 0) {
            assert_true(tid == hog_tid);
            assert_string_equal(jstr(args, "from"), "io");
            marks++;
        }
        if (strcmp(name, "running") == 0 && tid == hog_tid && jstr(args, "released") != NULL &&
            strcmp(jstr(args, "released"), "drop_request") == 0)
            forced++;
        if (strcmp(name, "released") == 0 && tid == io_tid && jstr(args, "after") != NULL &&
            strcmp(jstr(args, "after"), "save") == 0)
            saves++;
    }
    /* Every round: a release to block, a wait blamed on the hog, one request
     * to it and one release on that request; and the same for io's first
     * acquisition, which found the hog holding. */
    assert_int_equal(saves, c.rounds);
    assert_int_equal(blamed, c.rounds + 1);
    assert_int_equal(marks, c.rounds + 1);
    assert_int_equal(forced, c.rounds + 1);
    jfree(root);
    free(text);
    assert_int_equal(gil_destroy(c.gil), 0);
}

/* ---- overflow ----------------------------------------------------------- */

typedef struct tally {
    gil_trace_info_t info;
    int tracks;
    gil_trace_track_t track[8];
    char names[8][32];
    int slices[8];
    int marks;
} tally_t;

static int tally_info(const gil_trace_info_t *info, void *arg)
{
    ((tally_t *)arg)->info = *info;
    return 0;
}

static int tally_track(const gil_trace_track_t *t, void *arg)
{
    tally_t *ty = arg;
    if (ty->tracks < 8) {
        ty->track[ty->tracks] = *t;
        snprintf(ty->names[ty->tracks], 32, "%s", t->name);
        ty->track[ty->tracks].name = ty->names[ty->tracks];
    }
    ty->tracks++;
    return 0;
}

static int tally_slice(const gil_trace_track_t *t, const gil_trace_slice_t *s, void *arg)
{
    tally_t *ty = arg;
    CHECK(s->end_ns >= s->start_ns);
    CHECK(s->start_ns >= t->begin_ns && s->end_ns <= t->end_ns);
    if (ty->tracks - 1 < 8)
        ty->slices[ty->tracks - 1]++;
    return 0;
}

static int tally_mark(const gil_trace_mark_t *m, void *arg)
{
    (void)m;
    ((tally_t *)arg)->marks++;
    return 0;
}

static const gil_trace_visitor_t tally_visitor = {tally_info, tally_track, tally_slice, tally_mark};

static void test_trace_ring_overflow_counted(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "busy", &ts), 0);
    assert_int_equal(gil_trace_start(gil, 16), 0);
    for (int i = 0; i < 100; i++) { /* 2 events each: acquired, released */
        assert_int_equal(gil_acquire(ts), 0);
        assert_int_equal(gil_release(ts), 0);
    }
    assert_int_equal(gil_trace_stop(gil), 0);

    tally_t ty;
    memset(&ty, 0, sizeof ty);
    assert_int_equal(gil_trace_visit(gil, &tally_visitor, &ty), 0);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(ty.info.capacity, 16);
    assert_int_equal(ty.tracks, 1);
    assert_int_equal(ty.track[0].events, 1 + 200); /* the initial state + events */
    assert_int_equal(ty.track[0].lost, 201 - 16);
    assert_int_equal(ty.info.events, 201);
    assert_int_equal(ty.info.lost, 185);
    assert_true(ty.track[0].begin_ns > ty.info.start_ns); /* complete only from here */
    assert_true(ty.slices[0] >= 14 && ty.slices[0] <= 16);

    /* The JSON says so too, and marks where the data begins. */
    char *text = write_json(gil);
    jv_t *root = parse_trace(text);
    assert_true(other_num(root, "events_lost") == 185);
    double lost = -1;
    jnum(jget(jget(root, "otherData"), "lost_per_thread"), "1", &lost);
    assert_true(lost == 185);
    assert_non_null(strstr(text, "{\"name\":\"events_lost\",\"cat\":\"gil\",\"ph\":\"i\",\"pid\":1,\"tid\":1,"));
    jfree(root);
    free(text);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- deleted and late states -------------------------------------------- */

static void *short_lived(void *arg)
{
    gil_t *gil = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(gil, "brief", &ts), 0);
    CHECK_EQ(gil_acquire(ts), 0);
    CHECK_EQ(gil_release(ts), 0);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_trace_keeps_deleted_threads(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *main_ts;
    assert_int_equal(gil_tstate_new(gil, "main", &main_ts), 0);
    assert_int_equal(gil_acquire(main_ts), 0); /* held when the trace starts */
    assert_int_equal(gil_trace_start(gil, 64), 0);
    assert_int_equal(gil_release(main_ts), 0);
    join(spawn(short_lived, gil));
    assert_int_equal(gil_trace_stop(gil), 0);
    gil_tstate_t *late; /* after the stop: no track */
    assert_int_equal(gil_tstate_new(gil, "late", &late), 0);

    tally_t ty;
    memset(&ty, 0, sizeof ty);
    assert_int_equal(gil_trace_visit(gil, &tally_visitor, &ty), 0);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(ty.tracks, 2);
    assert_string_equal(ty.track[0].name, "main");
    assert_false(ty.track[0].deleted);
    assert_int_equal(ty.track[0].end_ns, ty.info.stop_ns);
    assert_int_equal(ty.slices[0], 2); /* running (from the start), released */
    assert_string_equal(ty.track[1].name, "brief");
    assert_true(ty.track[1].deleted);
    assert_true(ty.track[1].end_ns < ty.info.stop_ns);
    assert_int_equal(ty.track[1].id, 2);
    assert_int_equal(ty.slices[1], 3); /* released, running, released */
    assert_int_equal(ty.info.untraced, 0);

    assert_int_equal(gil_tstate_delete(late), 0);
    assert_int_equal(gil_tstate_delete(main_ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* A restart discards the previous trace. */
static void test_trace_restart_discards(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *a, *b;
    assert_int_equal(gil_tstate_new(gil, "a", &a), 0);
    assert_int_equal(gil_trace_start(gil, 0), 0);
    assert_int_equal(gil_trace_stop(gil), 0);
    assert_int_equal(gil_tstate_delete(a), 0);
    assert_int_equal(gil_tstate_new(gil, "b", &b), 0);
    assert_int_equal(gil_trace_start(gil, 0), 0);
    assert_int_equal(gil_trace_stop(gil), 0);
    tally_t ty;
    memset(&ty, 0, sizeof ty);
    assert_int_equal(gil_trace_visit(gil, &tally_visitor, &ty), 0);
    assert_int_equal(ty.tracks, 1);
    assert_string_equal(ty.track[0].name, "b");
    assert_int_equal(ty.info.capacity, 65536);
    assert_int_equal(gil_tstate_delete(b), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- hooks and traces share GIL__F_OBSERVE ------------------------------ */

static void one_round(gil_tstate_t *ts)
{
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_release(ts), 0);
}

static void test_trace_and_hooks_share_the_flag(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    collector_t *calls = collector_new(0);
    assert_int_equal(gil_tstate_new(gil, "t", &ts), 0);
    gil_hook_handle_t h;

    /* hook, trace, remove hook: the trace still records. */
    assert_int_equal(gil_hook_add(gil, GIL_EVENT_ALL, collector_hook, calls, &h), 0);
    assert_true(gil__observed(gil));
    assert_int_equal(gil_trace_start(gil, 64), 0);
    assert_int_equal(gil_hook_remove(gil, h), 0);
    assert_true(gil__observed(gil));
    one_round(ts);
    assert_int_equal(gil_trace_stop(gil), 0);
    assert_false(gil__observed(gil));
    tally_t ty;
    memset(&ty, 0, sizeof ty);
    assert_int_equal(gil_trace_visit(gil, &tally_visitor, &ty), 0);
    assert_int_equal(ty.track[0].events, 3); /* initial state, acquired, released */

    /* trace, hook, stop the trace: the hook still runs. */
    assert_int_equal(gil_trace_start(gil, 64), 0);
    assert_int_equal(gil_hook_add(gil, GIL_EVENT_ACQUIRED, collector_hook, calls, &h), 0);
    assert_int_equal(gil_trace_stop(gil), 0);
    assert_true(gil__observed(gil));
    int before = collector_total(calls);
    one_round(ts);
    assert_int_equal(collector_total(calls), before + 1);
    assert_int_equal(gil_hook_remove(gil, h), 0);
    assert_false(gil__observed(gil));
    one_round(ts);
    assert_int_equal(collector_total(calls), before + 1);
    collector_free(calls);

    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- misuse ------------------------------------------------------------- */

typedef struct in_hook {
    _Atomic int start_rc, stop_rc, done;
} in_hook_t;

static void misuse_hook(const gil_event_t *ev, void *arg)
{
    in_hook_t *r = arg;
    if (atomic_exchange(&r->done, 1))
        return;
    atomic_store(&r->start_rc, gil_trace_start(ev->gil, 0));
    atomic_store(&r->stop_rc, gil_trace_stop(ev->gil));
}

static int empty_visit(const gil_trace_info_t *info, void *arg)
{
    (void)info;
    (void)arg;
    return 42;
}

static void test_trace_misuse(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    gil_trace_visitor_t v = {.info = empty_visit};
    assert_int_equal(gil_trace_stop(gil), GIL_EINVAL);            /* never started */
    assert_int_equal(gil_trace_write_json(gil, null), GIL_EINVAL); /* nothing to write */
    assert_int_equal(gil_trace_visit(gil, &v, NULL), GIL_EINVAL);
    assert_int_equal(gil_trace_start(NULL, 0), GIL_EINVAL);
    assert_int_equal(gil_trace_start(gil, (size_t)1 << 30), GIL_EINVAL);
    assert_int_equal(gil_trace_start(gil, 0), 0);
    assert_int_equal(gil_trace_start(gil, 0), GIL_EBUSY);
    assert_int_equal(gil_trace_write_json(gil, null), GIL_EBUSY); /* stop first */
    assert_int_equal(gil_trace_visit(gil, &v, NULL), GIL_EBUSY);
    assert_int_equal(gil_trace_stop(gil), 0);
    assert_int_equal(gil_trace_stop(gil), GIL_EINVAL);
    assert_int_equal(gil_trace_visit(gil, &v, NULL), 42); /* a callback's value stops the walk */
    assert_int_equal(gil_trace_write_json(gil, NULL), GIL_EINVAL);
    assert_int_equal(gil_trace_write_json(NULL, null), GIL_EINVAL);
    assert_string_equal(gil_trace_state_name(GIL_TRACE_WANTS_GIL), "wants_gil");
    assert_string_equal(gil_trace_state_name((gil_trace_state_t)7), "unknown");
    fclose(null);

    /* A stream that cannot be written (opened for reading): every write
     * fails, on any system. */
    FILE *unwritable = fopen("/dev/null", "r");
    assert_non_null(unwritable);
    assert_int_equal(gil_trace_write_json(gil, unwritable), GIL_EIO);
    fclose(unwritable);
    FILE *full = fopen("/dev/full", "w"); /* a full disk, where there is one */
    if (full != NULL) {
        assert_int_equal(gil_trace_write_json(gil, full), GIL_EIO);
        fclose(full);
    }

    /* From inside a hook: refused, never a deadlock. */
    in_hook_t r = {0};
    gil_hook_handle_t h;
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "t", &ts), 0);
    assert_int_equal(gil_hook_add(gil, GIL_EVENT_ACQUIRED, misuse_hook, &r, &h), 0);
    one_round(ts);
    assert_int_equal(gil_hook_remove(gil, h), 0);
    assert_int_equal(atomic_load(&r.start_rc), GIL_EDEADLK);
    assert_int_equal(atomic_load(&r.stop_rc), GIL_EDEADLK);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- start, stop and export while threads run and come and go ---------- */

typedef struct churn {
    gil_t *gil;
    _Atomic int stop;
    _Atomic int started;
} churn_t;

static int busy_started(void *arg) { return atomic_load(&((churn_t *)arg)->started) == 3; }

static void *busy_main(void *arg)
{
    churn_t *c = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(c->gil, "busy", &ts), 0);
    atomic_fetch_add(&c->started, 1);
    while (!atomic_load(&c->stop)) {
        CHECK_EQ(gil_acquire(ts), 0);
        for (int i = 0; i < 50; i++)
            CHECK_EQ(gil_check(ts), 0);
        CHECK_EQ(gil_release(ts), 0);
    }
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void *churn_main(void *arg)
{
    churn_t *c = arg;
    while (!atomic_load(&c->stop)) {
        gil_tstate_t *ts;
        CHECK_EQ(gil_tstate_new(c->gil, "churn", &ts), 0);
        CHECK_EQ(gil_acquire(ts), 0);
        CHECK_EQ(gil_release(ts), 0);
        CHECK_EQ(gil_tstate_delete(ts), 0);
    }
    return NULL;
}

static void test_trace_while_running(void **state)
{
    (void)state;
    churn_t c = {.gil = make_gil(200)};
    pthread_t t[4] = {spawn(busy_main, &c), spawn(busy_main, &c), spawn(busy_main, &c), spawn(churn_main, &c)};
    wait_until(busy_started, &c);
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    for (long round = 0; round < scaled(100); round++) {
        assert_int_equal(gil_trace_start(c.gil, 256), 0);
        /* Until the threads have taken the GIL a few times since the start
         * (at most one acquisition per thread straddles it). */
        wait_for_acquisitions(c.gil, stats_of(c.gil).acquisitions + 4 + 2);
        assert_int_equal(gil_trace_stop(c.gil), 0);
        assert_int_equal(gil_trace_write_json(c.gil, null), 0);
        tally_t ty;
        memset(&ty, 0, sizeof ty);
        assert_int_equal(gil_trace_visit(c.gil, &tally_visitor, &ty), 0);
        assert_true(ty.tracks >= 3); /* the busy threads' states were live at the start */
        assert_true(ty.info.events > (uint64_t)ty.tracks); /* more than each track's initial state */
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 4; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    fclose(null);
    assert_int_equal(gil_destroy(c.gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_trace_json_parser_is_strict, 30),
        GUARDED_TEST(test_trace_convoy_json_structure, 120),
        GUARDED_TEST(test_trace_ring_overflow_counted, 30),
        GUARDED_TEST(test_trace_keeps_deleted_threads, 30),
        GUARDED_TEST(test_trace_restart_discards, 30),
        GUARDED_TEST(test_trace_and_hooks_share_the_flag, 30),
        GUARDED_TEST(test_trace_misuse, 30),
        GUARDED_TEST(test_trace_while_running, 120),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
