/*
 * observe/summary.c - gil_stats_format: one line in the spirit of gil_load.
 *
 * Layer: observe (calls core and platform only).  Formatted with the
 * library's own formatter (platform/format.c), never snprintf: a host may
 * replace the printf family.
 */
#include "observe/observe.h"

#include <limits.h>

/* " <label> <ratio> (1s <r>, 5s <r>, 15s <r>)" */
static void put_ratios(gil__fmt_t *f, const char *label, double since_start, const double windows[3])
{
    static const char *const names[3] = {" (1s ", ", 5s ", ", 15s "};
    gil__fmt_str(f, label);
    gil__fmt_fixed(f, since_start, 2);
    for (int i = 0; i < 3; i++) {
        gil__fmt_str(f, names[i]);
        gil__fmt_fixed(f, windows[i], 2);
    }
    gil__fmt_char(f, ')');
}

static void put_latency(gil__fmt_t *f, const char *label, uint64_t ns)
{
    gil__fmt_str(f, label);
    gil__fmt_duration(f, ns);
}

int gil_stats_format(const gil_t *gil, char *buf, size_t len)
{
    if (gil == NULL || (buf == NULL && len > 0))
        return GIL__MISUSE(GIL_EINVAL);
    gil_stats_t st;
    gil_stats_get(gil, &st);
    const double held[3] = {st.held_ratio_1s, st.held_ratio_5s, st.held_ratio_15s};
    const double wait[3] = {st.wait_ratio_1s, st.wait_ratio_5s, st.wait_ratio_15s};
    gil__fmt_t f;
    gil__fmt_init(&f, buf, len);
    gil__fmt_str(&f, "gil \"");
    gil__fmt_str(&f, gil->name);
    gil__fmt_char(&f, '"');
    put_ratios(&f, " held ", st.held_ratio, held);
    put_ratios(&f, " wait ", st.wait_ratio, wait);
    gil__fmt_str(&f, " waiting ");
    gil__fmt_u64(&f, st.waiting_now);
    gil__fmt_str(&f, " switches/s ");
    gil__fmt_fixed(&f, st.switches_per_sec, 0);
    put_latency(&f, " wait p50 ", st.wait.p50_ns);
    put_latency(&f, " p99 ", st.wait.p99_ns);
    put_latency(&f, " hold p99 ", st.hold.p99_ns);
    put_latency(&f, " drop p99 ", st.drop_latency.p99_ns);
    return f.len <= INT_MAX ? (int)f.len : GIL_EINVAL;
}
