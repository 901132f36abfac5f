/*
 * observe/summary.c - gil_stats_format: one line in the spirit of gil_load.
 *
 * Layer: observe (calls core and platform only).
 */
#include "observe/observe.h"

#include <stdio.h>

/* A duration with 3 significant digits and a unit: 850ns, 12.3us, 5.07ms,
 * 1.2s. */
static void fmt_dur(char *buf, size_t len, uint64_t ns)
{
    static const struct { const char *unit; double div; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
    };
    size_t u = 0;
    /* Move up while the value would print as 1000 or more. */
    while (u + 1 < sizeof units / sizeof units[0] && (double)ns / units[u].div >= 999.5)
        u++;
    snprintf(buf, len, "%.3g%s", (double)ns / units[u].div, units[u].unit);
}

int gil_stats_format(const gil_t *gil, char *buf, size_t len)
{
    if (gil == NULL || (buf == NULL && len > 0))
        return GIL__MISUSE(GIL_EINVAL);
    gil_stats_t st;
    gil_stats_get(gil, &st);
    char wp50[16], wp99[16], hp99[16], dp99[16];
    fmt_dur(wp50, sizeof wp50, st.wait.p50_ns);
    fmt_dur(wp99, sizeof wp99, st.wait.p99_ns);
    fmt_dur(hp99, sizeof hp99, st.hold.p99_ns);
    fmt_dur(dp99, sizeof dp99, st.drop_latency.p99_ns);
    int n = snprintf(buf, len,
                     "gil \"%s\" held %.2f (1s %.2f, 5s %.2f, 15s %.2f) wait %.2f (1s %.2f, 5s %.2f, 15s %.2f) "
                     "waiting %llu switches/s %.0f wait p50 %s p99 %s hold p99 %s drop p99 %s",
                     gil->name, st.held_ratio, st.held_ratio_1s, st.held_ratio_5s, st.held_ratio_15s, st.wait_ratio,
                     st.wait_ratio_1s, st.wait_ratio_5s, st.wait_ratio_15s, (unsigned long long)st.waiting_now, st.switches_per_sec, wp50, wp99, hp99, dp99);
    return n >= 0 ? n : GIL_EINVAL;
}

