/* Layer: leaf beside libgil: an SVG timeline of a libgil trace.
 * Calls the public gil.h only; gilbench's measurement layer, the tests
 * and trace_demo call it.  Knows nothing of gilbench. */

/*
 * timeline.h - draw a libgil trace as an SVG timeline that any browser shows
 * without a trace viewer: one lane per thread state, a colour per state
 * (running / wants_gil / released), drop requests marked on the holder's
 * lane, a time axis and a legend.  Built on the public API only
 * (gil_trace_visit), so it works for any program that traces a GIL.
 *
 *     gil_trace_start(gil, 0);
 *     ... run ...
 *     timeline_save(gil, "run.json", "run.svg", NULL);   stops, writes both
 */
#ifndef GIL_TIMELINE_H
#define GIL_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

#include "gil.h"

typedef struct timeline_opts {
    double width;        /* of the whole picture, px (default 1200) */
    uint64_t from_ns;    /* the window drawn, CLOCK_MONOTONIC; 0 = the */
    uint64_t to_ns;      /*   trace's start / stop                     */
    uint64_t last_ns;    /* if not 0 (and from_ns is 0): draw only the last
                            last_ns of the trace, e.g. 50 ms of a long run */
    const char *title;   /* NULL: "GIL <name>: <policy>, interval <n> us" */
} timeline_opts_t;

/* Defaults: 1200 px, the whole trace, a title from the trace. */
void timeline_opts_init(timeline_opts_t *opts);

/* Write the stopped trace of gil as a standalone SVG document.  opts may be
 * NULL (defaults).  Slices narrower than a pixel are merged per pixel (the
 * state that covers most of it wins), so a long trace stays a small file.
 * Returns 0, a gil_trace_visit error (GIL_EINVAL: no trace; GIL_EBUSY:
 * still recording), GIL_ENOMEM, or GIL_EIO if writing failed. */
int timeline_write_svg(gil_t *gil, FILE *out, const timeline_opts_t *opts);

/* Stop gil's trace (it must be recording), then write the Chrome trace JSON
 * to json_path and the SVG to svg_path (either may be NULL).  Returns 0 or
 * the first error (GIL_EIO when a file cannot be opened or written). */
int timeline_save(gil_t *gil, const char *json_path, const char *svg_path, const timeline_opts_t *opts);

#endif /* GIL_TIMELINE_H */
