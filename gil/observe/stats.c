/*
 * observe/stats.c - snapshots of the core's counters and histograms
 * (gil_stats_get, gil_tstate_stats_get, gil_stats_reset).
 *
 * Layer: observe (reads the core's state; calls core and platform only).
 * Every counter has a single writer (core/hist.c says why that is cheap);
 * readers use relaxed loads, so a snapshot taken while threads run is
 * consistent per field, not across fields.
 */
#include "observe/observe.h"

#include <string.h>

#define LOAD(field) atomic_load_explicit(&((gil_t *)gil)->field, memory_order_relaxed)
#define TLOAD(field) atomic_load_explicit(&((gil_tstate_t *)ts)->field, memory_order_relaxed)

int gil_stats_get(const gil_t *gil, gil_stats_t *out)
{
    if (gil == NULL || out == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    memset(out, 0, sizeof *out);
    out->acquisitions = LOAD(acquisitions);
    out->contended = LOAD(contended);
    out->drop_requests = LOAD(drop_requests);
    out->forced_switches = LOAD(forced_switches);
    out->requests_withheld = LOAD(requests_withheld);
    out->switches = LOAD(switch_number);
    out->wait_ns = LOAD(wait_ns);
    out->hold_ns = LOAD(hold_ns);
    out->timed_holds = LOAD(timed_holds);
    out->pending_calls_run = LOAD(pending_run);
    out->pending_calls_rejected = LOAD(pending_rejected);
    out->waiting_now = LOAD(waiting_now);
    gil__hist_summary(&gil->wait_hist, &out->wait);
    gil__hist_summary(&gil->hold_hist, &out->hold);
    gil__hist_summary(&gil->drop_hist, &out->drop_latency);
    gil__load_fill(gil, out); /* metrics.c */
    return 0;
}

int gil_tstate_stats_get(const gil_tstate_t *ts, gil_tstate_stats_t *out)
{
    if (ts == NULL || out == NULL ||
        atomic_load_explicit(&((gil_tstate_t *)ts)->magic, memory_order_relaxed) != GIL__TS_ALIVE)
        return GIL__MISUSE(GIL_EINVAL);
    memset(out, 0, sizeof *out);
    out->acquisitions = TLOAD(acquisitions);
    out->contended = TLOAD(contended);
    out->drop_requests = TLOAD(drop_requests);
    out->forced_switches = TLOAD(forced_switches);
    out->wait_ns = TLOAD(wait_ns);
    out->hold_ns = TLOAD(hold_ns);
    gil__hist_summary(&ts->wait_hist, &out->wait);
    gil__hist_summary(&ts->hold_hist, &out->hold);
    out->boosts = TLOAD(boosts);
    out->demotions = TLOAD(demotions);
    gil__load_fill_tstate(ts, out); /* metrics.c */
    return 0;
}

static int reset_tstate(const gil_tstate_t *ts, void *arg)
{
    (void)arg;
    gil__hist_reset(&((gil_tstate_t *)ts)->wait_hist);
    gil__hist_reset(&((gil_tstate_t *)ts)->hold_hist);
    return 0;
}

int gil_stats_reset(gil_t *gil)
{
    if (gil == NULL)
        return GIL__MISUSE(GIL_EINVAL);
    gil__hist_reset(&gil->wait_hist);
    gil__hist_reset(&gil->hold_hist);
    gil__hist_reset(&gil->drop_hist);
    return gil_foreach_tstate(gil, reset_tstate, NULL);
}
