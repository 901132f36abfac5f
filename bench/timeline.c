/* Layer: leaf beside libgil: an SVG timeline of a libgil trace.
 * Calls the public gil.h only; gilbench's measurement layer, the tests
 * and trace_demo call it.  Knows nothing of gilbench. */

/*
 * timeline.c - a libgil trace as an SVG timeline (see timeline.h).
 *
 * The trace is read once through gil_trace_visit into per-lane arrays of
 * slices, then drawn: lanes in state-id order, a rectangle per slice (with
 * a tooltip when it is wide enough to point at), slices narrower than a
 * pixel merged into one pixel-wide rectangle coloured by the state that
 * covers most of it, a purple triangle on the holder's lane for every drop
 * request, hatching where a lane's ring overflowed (no data), a time axis
 * in "since the trace started" units and a legend.  Plain SVG 1.1: no
 * script, no external resources, so any browser renders it.
 */
#include "timeline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LEFT 170.0  /* lane labels */
#define RIGHT 24.0
#define LANE_Y0 84.0
#define LANE_H 24.0
#define LANE_GAP 8.0

static const char *const state_fill[3] = {
    [GIL_TRACE_RUNNING] = "#2ca02c",
    [GIL_TRACE_WANTS_GIL] = "#d62728",
    [GIL_TRACE_RELEASED] = "#cfcfcf",
};
#define MARK_FILL "#5b2a86"
#define WATCHDOG_FILL "#ff7f0e"

/* ---- collecting the trace ------------------------------------------------ */

typedef struct tl_slice {
    uint64_t start, end;
    gil_trace_state_t state;
} tl_slice_t;

typedef struct tl_lane {
    gil_trace_track_t track;
    char name[32];
    tl_slice_t *slices;
    size_t n, cap;
} tl_lane_t;

typedef struct tl {
    gil_trace_info_t info;
    char gil_name[64], policy[32];
    tl_lane_t *lanes;
    size_t nlanes, caplanes;
    gil_trace_mark_t *marks;
    size_t nmarks, capmarks;
} tl_t;

/* Grow *items (of size `size`) to hold one more; false when out of memory. */
static bool grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*items, ncap * size);
    if (p == NULL)
        return false;
    *items = p;
    *cap = ncap;
    return true;
}

static int on_info(const gil_trace_info_t *info, void *arg)
{
    tl_t *tl = arg;
    tl->info = *info;
    snprintf(tl->gil_name, sizeof tl->gil_name, "%s", info->gil_name);
    snprintf(tl->policy, sizeof tl->policy, "%s", info->policy);
    tl->info.gil_name = tl->gil_name;
    tl->info.policy = tl->policy;
    return 0;
}

static int on_track(const gil_trace_track_t *t, void *arg)
{
    tl_t *tl = arg;
    if (!grow((void **)&tl->lanes, &tl->caplanes, tl->nlanes, sizeof *tl->lanes))
        return GIL_ENOMEM;
    tl_lane_t *lane = &tl->lanes[tl->nlanes++];
    memset(lane, 0, sizeof *lane);
    lane->track = *t;
    snprintf(lane->name, sizeof lane->name, "%s", t->name);
    lane->track.name = lane->name;
    return 0;
}

static int on_slice(const gil_trace_track_t *t, const gil_trace_slice_t *s, void *arg)
{
    (void)t;
    tl_t *tl = arg;
    tl_lane_t *lane = &tl->lanes[tl->nlanes - 1]; /* slices follow their track */
    if (!grow((void **)&lane->slices, &lane->cap, lane->n, sizeof *lane->slices))
        return GIL_ENOMEM;
    lane->slices[lane->n++] = (tl_slice_t){s->start_ns, s->end_ns, s->state};
    return 0;
}

static int on_mark(const gil_trace_mark_t *m, void *arg)
{
    tl_t *tl = arg;
    if (!grow((void **)&tl->marks, &tl->capmarks, tl->nmarks, sizeof *tl->marks))
        return GIL_ENOMEM;
    tl->marks[tl->nmarks++] = *m;
    return 0;
}

static void tl_free(tl_t *tl)
{
    for (size_t i = 0; i < tl->nlanes; i++)
        free(tl->lanes[i].slices);
    free(tl->lanes);
    free(tl->marks);
}

/* ---- drawing -------------------------------------------------------------- */

typedef struct canvas {
    FILE *f;
    uint64_t from, to; /* the window, ns */
    uint64_t origin;   /* axis zero: the trace start */
    double width, plot_w;
} canvas_t;

static double x_of(const canvas_t *c, uint64_t t)
{
    if (t <= c->from)
        return LEFT;
    if (t >= c->to)
        return LEFT + c->plot_w;
    return LEFT + (double)(t - c->from) * c->plot_w / (double)(c->to - c->from);
}

static double lane_y(size_t i) { return LANE_Y0 + (double)i * (LANE_H + LANE_GAP); }

/* Text for XML: entities for the five specials, U+FFFD for bytes that are
 * not UTF-8 (an SVG file must be well-formed to display at all). */
static void xml_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                n = 0;
        if (n == 0) {
            fputs("\xef\xbf\xbd", f);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (*p < 0x20)
                fputc(' ', f); /* control characters are not allowed in XML 1.0 */
            else
                fwrite(p, 1, n, f);
        }
        p += n;
    }
}

/* A duration for people: 850 ns, 12.3 us, 5.07 ms, 1.2 s. */
static void fmt_dur(char *buf, size_t len, double ns)
{
    if (ns < 1e3)
        snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, len, "%.3g s", ns / 1e9);
}

static void draw_rect(const canvas_t *c, double x0, double x1, double y, gil_trace_state_t st,
                      const tl_lane_t *lane, const tl_slice_t *tip)
{
    fprintf(c->f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"", x0, y, x1 - x0,
            LANE_H, state_fill[st]);
    if (tip == NULL) {
        fputs("/>\n", c->f);
        return;
    }
    char dur[32], at[32];
    fmt_dur(dur, sizeof dur, (double)(tip->end - tip->start));
    fmt_dur(at, sizeof at, (double)(tip->start - c->origin));
    fputs("><title>", c->f);
    xml_text(c->f, lane->name);
    fprintf(c->f, ": %s for %s, at %s</title></rect>\n", gil_trace_state_name(st), dur, at);
}

/* Sub-pixel slices pile up in a one-pixel bin; the majority state wins. */
typedef struct bin {
    double x0, x1;
    double cover[3];
    bool open;
} bin_t;

static void bin_flush(const canvas_t *c, bin_t *b, double y)
{
    if (!b->open)
        return;
    int best = 0;
    for (int s = 1; s < 3; s++)
        if (b->cover[s] > b->cover[best])
            best = s;
    double x1 = b->x1 > b->x0 + 1.0 ? b->x1 : b->x0 + 1.0;
    draw_rect(c, b->x0, x1, y, (gil_trace_state_t)best, NULL, NULL);
    b->open = false;
}

static void draw_lane(const canvas_t *c, const tl_lane_t *lane, size_t i)
{
    double y = lane_y(i);
    char label[64];
    snprintf(label, sizeof label, " (%llu)", (unsigned long long)lane->track.id);
    fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"13\">", LEFT - 8, y + LANE_H / 2 + 4);
    xml_text(c->f, lane->name[0] ? lane->name : "tstate");
    fputs(label, c->f);
    if (lane->track.deleted)
        fputs(" \xe2\x80\xa0", c->f); /* a dagger: deleted while tracing */
    fputs("</text>\n", c->f);
    fprintf(c->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"#f6f6f6\"/>\n", LEFT, y,
            c->plot_w, LANE_H);
    if (lane->track.lost != 0 && lane->track.begin_ns > c->from) {
        double x1 = x_of(c, lane->track.begin_ns);
        fprintf(c->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"url(#lost)\">"
                      "<title>%llu events lost (ring overflow): no data before this point</title></rect>\n",
                LEFT, y, x1 - LEFT, LANE_H, (unsigned long long)lane->track.lost);
    }
    bin_t b = {0};
    for (size_t k = 0; k < lane->n; k++) {
        const tl_slice_t *s = &lane->slices[k];
        if (s->end <= c->from || s->start >= c->to)
            continue;
        double x0 = x_of(c, s->start), x1 = x_of(c, s->end);
        if (x1 - x0 >= 1.0) {
            bin_flush(c, &b, y);
            draw_rect(c, x0, x1, y, s->state, lane, x1 - x0 >= 3.0 ? s : NULL);
            continue;
        }
        if (b.open && x1 > b.x0 + 1.0)
            bin_flush(c, &b, y);
        if (!b.open) {
            b = (bin_t){.x0 = x0, .open = true};
        }
        b.cover[s->state] += x1 - x0;
        b.x1 = x1;
    }
    bin_flush(c, &b, y);
}

static long lane_of(const tl_t *tl, uint64_t id)
{
    for (size_t i = 0; i < tl->nlanes; i++)
        if (tl->lanes[i].track.id == id)
            return (long)i;
    return -1;
}

static void draw_marks(const canvas_t *c, const tl_t *tl)
{
    long last_lane = -1;
    long last_px = -1;
    for (size_t k = 0; k < tl->nmarks; k++) {
        const gil_trace_mark_t *m = &tl->marks[k];
        long lane = lane_of(tl, m->holder);
        if (lane < 0 || m->time_ns < c->from || m->time_ns > c->to)
            continue;
        double x = x_of(c, m->time_ns), y = lane_y((size_t)lane);
        long from = lane_of(tl, m->waiter);
        if (m->kind == GIL_TRACE_MARK_WATCHDOG) {
            /* Rare and important: always drawn, over the lane. */
            fprintf(c->f, "<path d=\"M%.2f %.1fl7 7l-7 7l-7 -7z\" fill=\"%s\" stroke=\"#000\">"
                          "<title>watchdog: long hold reported by ", x, y + LANE_H / 2 - 7, WATCHDOG_FILL);
            xml_text(c->f, from >= 0 ? tl->lanes[from].name : "?");
            fputs("</title></path>\n", c->f);
            continue;
        }
        if (lane == last_lane && (long)x == last_px)
            continue; /* one marker per pixel is enough */
        last_lane = lane;
        last_px = (long)x;
        fprintf(c->f, "<path d=\"M%.2f %.1fl-4 -7h8z\" fill=\"%s\"><title>drop request from ", x, y + 6, MARK_FILL);
        xml_text(c->f, from >= 0 ? tl->lanes[from].name : "?");
        fputs("</title></path>\n", c->f);
    }
}

/* A tick step of 1, 2 or 5 x 10^k ns giving at most ~10 ticks. */
static uint64_t tick_step(uint64_t span)
{
    uint64_t step = 1;
    for (;;) {
        static const unsigned mult[3] = {1, 2, 5};
        for (int i = 0; i < 3; i++)
            if (span / (step * mult[i]) <= 10)
                return step * mult[i];
        step *= 10;
    }
}

static void draw_axis(const canvas_t *c, double y)
{
    fprintf(c->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", LEFT, y,
            LEFT + c->plot_w, y);
    uint64_t step = tick_step(c->to - c->from);
    /* The unit of the labels: ms as soon as they would reach 1000 us. */
    uint64_t last = c->to - c->origin;
    const char *unit = step >= 1000000u || last >= 1000000u ? "ms" : step >= 1000u || last >= 1000u ? "us" : "ns";
    double div = unit[0] == 'm' ? 1e6 : unit[0] == 'u' ? 1e3 : 1.0;
    uint64_t rel0 = c->from - c->origin;
    for (uint64_t rel = (rel0 + step - 1) / step * step; c->origin + rel <= c->to; rel += step) {
        double x = x_of(c, c->origin + rel);
        fprintf(c->f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, y, x, y + 5);
        fprintf(c->f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#000\" stroke-opacity=\"0.08\"/>\n",
                x, LANE_Y0 - 4, x, y);
        fprintf(c->f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%g</text>\n", x, y + 17,
                (double)rel / div);
    }
    fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">%s since the "
                  "trace started</text>\n", LEFT + c->plot_w, y + 32, unit);
}

static void draw_legend(const canvas_t *c)
{
    static const struct { const char *label; int state; } items[] = {
        {"running (holds the GIL)", GIL_TRACE_RUNNING},
        {"wants_gil (waiting)", GIL_TRACE_WANTS_GIL},
        {"released (blocking call)", GIL_TRACE_RELEASED},
    };
    double x = 12, y = 62;
    for (size_t i = 0; i < 3; i++) {
        fprintf(c->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", x, y - 10,
                state_fill[items[i].state]);
        fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", x + 19, y, items[i].label);
        x += 195;
    }
    fprintf(c->f, "<path d=\"M%.1f %.1fl-5 -9h10z\" fill=\"%s\"/>\n", x + 7, y + 1, MARK_FILL);
    fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">drop request</text>\n", x + 19, y);
    x += 115;
    fprintf(c->f, "<path d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"%s\" stroke=\"#000\"/>\n", x + 7, y - 10,
            WATCHDOG_FILL);
    fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">watchdog report</text>\n", x + 19, y);
    x += 135;
    fprintf(c->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"url(#lost)\" stroke=\"#999\"/>\n",
            x, y - 10);
    fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">no data (ring overflow)</text>\n", x + 19, y);
}

static void draw(const canvas_t *c, const tl_t *tl, const char *title)
{
    double axis_y = lane_y(tl->nlanes) + 2;
    double height = axis_y + 44;
    FILE *f = c->f;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    /* stroke="none" on the root: some renderers (ImageMagick) otherwise
     * outline thin rectangles. */
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" stroke=\"none\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", c->width, height, c->width, height);
    fputs("<defs><pattern id=\"lost\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
          "<rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
          "<path d=\"M-1 1l2-2M0 6l6-6M5 7l2-2\" stroke=\"#999\" stroke-width=\"1.5\"/></pattern></defs>\n", f);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fputs("<text x=\"12\" y=\"22\" font-size=\"16\" font-weight=\"bold\">", f);
    xml_text(f, title);
    fputs("</text>\n", f);
    char shown[32], total[32];
    fmt_dur(shown, sizeof shown, (double)(c->to - c->from));
    fmt_dur(total, sizeof total, (double)(tl->info.stop_ns - tl->info.start_ns));
    fprintf(f, "<text x=\"12\" y=\"38\" font-size=\"12\" fill=\"#444\">%zu threads, %s shown of a %s trace, "
               "%llu events recorded, %llu lost; libgil %s</text>\n", tl->nlanes, shown, total,
            (unsigned long long)tl->info.events, (unsigned long long)tl->info.lost, gil_version_string());
    draw_legend(c);
    for (size_t i = 0; i < tl->nlanes; i++)
        draw_lane(c, &tl->lanes[i], i);
    draw_marks(c, tl);
    draw_axis(c, axis_y);
    fputs("</svg>\n", f);
}

void timeline_opts_init(timeline_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->width = 1200;
}

int timeline_write_svg(gil_t *gil, FILE *out, const timeline_opts_t *opts)
{
    timeline_opts_t defaults;
    if (opts == NULL) {
        timeline_opts_init(&defaults);
        opts = &defaults;
    }
    if (out == NULL)
        return GIL_EINVAL;
    tl_t tl;
    memset(&tl, 0, sizeof tl);
    static const gil_trace_visitor_t collect = {on_info, on_track, on_slice, on_mark};
    int rc = gil_trace_visit(gil, &collect, &tl);
    if (rc != 0) {
        tl_free(&tl);
        return rc;
    }
    canvas_t c = {.f = out, .origin = tl.info.start_ns};
    c.width = opts->width >= LEFT + RIGHT + 100 ? opts->width : 1200;
    c.plot_w = c.width - LEFT - RIGHT;
    c.to = opts->to_ns != 0 ? opts->to_ns : tl.info.stop_ns;
    c.from = opts->from_ns != 0 ? opts->from_ns : tl.info.start_ns;
    if (opts->from_ns == 0 && opts->last_ns != 0 && c.to - tl.info.start_ns > opts->last_ns)
        c.from = c.to - opts->last_ns;
    if (c.from < tl.info.start_ns)
        c.from = tl.info.start_ns;
    if (c.to <= c.from)
        c.to = c.from + 1;

    char title[160];
    if (opts->title != NULL)
        snprintf(title, sizeof title, "%s", opts->title);
    else
        snprintf(title, sizeof title, "GIL \"%s\": %s policy, switch interval %lu us", tl.gil_name, tl.policy,
                 tl.info.interval_us);
    draw(&c, &tl, title);
    tl_free(&tl);
    return ferror(out) ? GIL_EIO : 0;
}

static int write_file(gil_t *gil, const char *path, const timeline_opts_t *opts, bool svg)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return GIL_EIO;
    int rc = svg ? timeline_write_svg(gil, f, opts) : gil_trace_write_json(gil, f);
    if (fclose(f) != 0 && rc == 0)
        rc = GIL_EIO;
    return rc;
}

int timeline_save(gil_t *gil, const char *json_path, const char *svg_path, const timeline_opts_t *opts)
{
    int rc = gil_trace_stop(gil);
    if (rc == 0 && json_path != NULL)
        rc = write_file(gil, json_path, opts, false);
    if (rc == 0 && svg_path != NULL)
        rc = write_file(gil, svg_path, opts, true);
    return rc;
}
