#!/usr/bin/python3
"""check_metrics.py - parse libgil's two metric expositions with the
reference parsers of python3-prometheus-client and check what they mean.

    check_metrics.py --text FILE --openmetrics FILE [--max-thread-series N]
                     [--start-time LO HI] [--same-values] [--threads GIL=N]...

FILE (--text) is gil_stats_write_prometheus[_many]'s output (text format
0.0.4), FILE (--openmetrics) gil_stats_write_openmetrics's, of the same
GILs.  Checks: both parse (prometheus_client.parser and
prometheus_client.openmetrics.parser, which rejects clashing names, a
missing # EOF, non-cumulative buckets, a +Inf bucket that is not _count);
the families and their types are the documented ones, identical in both
formats; every histogram has the documented `le` bounds in canonical form,
cumulative, ending with +Inf == _count; *_ratio values are in [0, 1]; per
GIL, the per-thread families have at most N thread series (default 65: 64
names and "other") and gil_thread_states sums to gil_threads; no window or
tstate labels.  --start-time: gil_start_time_seconds lies in [LO, HI].
--same-values: the two were written with nothing running, so counters and
histograms must agree exactly.  --threads GIL=N: that GIL has N thread
series.  Exit status 0 when everything holds, else 1 with the reason.

Run by tests/test_metrics.c with Debian's /usr/bin/python3 (the package
python3-prometheus-client is in the Makefile's DEPS_TEST).
"""
import argparse
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families as parse_text
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
    from prometheus_client.utils import floatToGoString
except ImportError as e:
    sys.exit("check_metrics: python3-prometheus-client is missing (make deps-test): %s" % e)

BOUNDS = ["1e-06", "2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
          "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]

# The documented families (docs/observability.md), as prometheus_client
# names them: counters without _total.
GIL_FAMILIES = {
    "gil_info": "gauge",  # OpenMetrics: info family "gil", normalised below
    "gil_start_time_seconds": "gauge",
    "gil_switch_interval_seconds": "gauge",
    "gil_threads": "gauge",
    "gil_waiting_threads": "gauge",
    "gil_acquisitions": "counter",
    "gil_contended_acquisitions": "counter",
    "gil_drop_requests": "counter",
    "gil_drop_requests_withheld": "counter",
    "gil_forced_switches": "counter",
    "gil_switches": "counter",
    "gil_wait_seconds": "counter",
    "gil_hold_seconds": "counter",
    "gil_timed_holds": "counter",
    "gil_pending_calls_run": "counter",
    "gil_pending_calls_rejected": "counter",
    "gil_watchdog_reports": "counter",
    "gil_held_ratio": "gauge",
    "gil_wait_duration_seconds": "histogram",
    "gil_wait_duration_max_seconds": "gauge",
    "gil_hold_duration_seconds": "histogram",
    "gil_hold_duration_max_seconds": "gauge",
    "gil_drop_latency_seconds": "histogram",
    "gil_drop_latency_max_seconds": "gauge",
}
THREAD_FAMILIES = {
    "gil_thread_states": "gauge",
    "gil_thread_acquisitions": "counter",
    "gil_thread_contended_acquisitions": "counter",
    "gil_thread_drop_requests": "counter",
    "gil_thread_forced_switches": "counter",
    "gil_thread_wait_seconds": "counter",
    "gil_thread_hold_seconds": "counter",
    "gil_thread_priority_boosts": "counter",
    "gil_thread_priority_demotions": "counter",
    "gil_thread_wait_duration_seconds": "histogram",
    "gil_thread_hold_duration_seconds": "histogram",
}
# Figures that move while nothing runs (the clock does).
MOVING = {"gil_start_time_seconds", "gil_held_ratio"}


class Bad(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Bad(what)


def families(parse, text, fmt):
    try:
        fams = list(parse(text))
    except ValueError as e:
        raise Bad("%s: the parser rejects it: %s" % (fmt, e))
    out = {}
    for f in fams:
        name, typ = f.name, f.type
        if fmt == "openmetrics" and typ == "info":
            name, typ = name + "_info", "gauge"
        check(name not in out, "%s: family %s twice" % (fmt, name))
        out[name] = (typ, f.samples)
    return out


def key(sample):
    return (sample.name, tuple(sorted(sample.labels.items())))


def check_histogram(fmt, name, samples):
    groups = {}
    for s in samples:
        labels = dict(s.labels)
        le = labels.pop("le", None)
        g = groups.setdefault(tuple(sorted(labels.items())), {"le": [], "sum": None, "count": None})
        if s.name == name + "_bucket":
            check(le is not None, "%s: %s bucket without le" % (fmt, name))
            g["le"].append((le, s.value))
        elif s.name == name + "_sum":
            g["sum"] = s.value
        elif s.name == name + "_count":
            g["count"] = s.value
        else:
            raise Bad("%s: %s: unexpected sample %s" % (fmt, name, s.name))
    for labels, g in groups.items():
        where = "%s: %s%s" % (fmt, name, dict(labels))
        les = [le for le, _ in g["le"]]
        check(les == BOUNDS, "%s: le bounds %s, expected %s" % (where, les, BOUNDS))
        for le in les:
            check(le == floatToGoString(float(le)), "%s: le=%r is not canonical" % (where, le))
        counts = [v for _, v in g["le"]]
        check(all(float(v).is_integer() and v >= 0 for v in counts), "%s: bucket counts %s" % (where, counts))
        check(all(a <= b for a, b in zip(counts, counts[1:])), "%s: buckets not cumulative: %s" % (where, counts))
        check(g["count"] is not None and g["sum"] is not None, "%s: _sum or _count missing" % where)
        check(counts[-1] == g["count"], "%s: +Inf bucket %s != _count %s" % (where, counts[-1], g["count"]))
        check(g["sum"] >= 0 and (g["count"] > 0 or g["sum"] == 0), "%s: _sum %s for _count %s" %
              (where, g["sum"], g["count"]))


def check_one(fmt, fams, args):
    expected = dict(GIL_FAMILIES, **THREAD_FAMILIES)
    check(set(fams) == set(expected), "%s: families %s differ from the documented ones: extra %s, missing %s" %
          (fmt, sorted(fams), sorted(set(fams) - set(expected)), sorted(set(expected) - set(fams))))
    for name, (typ, samples) in fams.items():
        check(typ == expected[name], "%s: %s is a %s, expected %s" % (fmt, name, typ, expected[name]))
        for s in samples:
            check("gil" in s.labels, "%s: %s without the gil label" % (fmt, s.name))
            check("window" not in s.labels and "tstate" not in s.labels, "%s: %s labels %s" %
                  (fmt, s.name, s.labels))
            check(("thread" in s.labels) == name.startswith("gil_thread_"), "%s: %s thread label" %
                  (fmt, s.name))
            check(not math.isnan(s.value), "%s: %s is NaN" % (fmt, s.name))
            if name.endswith("_ratio"):
                check(0 <= s.value <= 1, "%s: %s = %s, not in [0, 1]" % (fmt, s.name, s.value))
            if typ == "counter":
                check(s.value >= 0, "%s: counter %s = %s" % (fmt, s.name, s.value))
        if typ == "histogram":
            check_histogram(fmt, name, samples)

    # Every GIL has each of its own families once (per-thread families may
    # be empty: no live state).
    gils = {s.labels["gil"] for s in fams["gil_threads"][1]}
    for name in GIL_FAMILIES:
        per_gil = {}
        for s in fams[name][1]:
            if s.name in (name, name + "_total", name + "_count"):
                per_gil[s.labels["gil"]] = per_gil.get(s.labels["gil"], 0) + 1
        check(per_gil == {g: 1 for g in gils}, "%s: %s samples per GIL: %s" % (fmt, name, per_gil))

    # Per GIL: bounded thread series, the same in every per-thread family,
    # and states accounted for.
    for gil in gils:
        threads = {s.labels["thread"] for s in fams["gil_thread_states"][1] if s.labels["gil"] == gil}
        check(len(threads) <= args.max_thread_series, "%s: gil %r has %d thread series, more than %d" %
              (fmt, gil, len(threads), args.max_thread_series))
        for name in THREAD_FAMILIES:
            seen = {s.labels["thread"] for s in fams[name][1] if s.labels["gil"] == gil}
            check(seen == threads, "%s: %s threads %s != %s" % (fmt, name, sorted(seen), sorted(threads)))
        states = sum(s.value for s in fams["gil_thread_states"][1] if s.labels["gil"] == gil)
        total = [s.value for s in fams["gil_threads"][1] if s.labels["gil"] == gil]
        check(total == [states], "%s: gil %r: gil_threads %s, thread series sum %s" % (fmt, gil, total, states))
        if gil in args.threads:
            check(len(threads) == args.threads[gil], "%s: gil %r has %d thread series, expected %d" %
                  (fmt, gil, len(threads), args.threads[gil]))
    if args.start_time:
        lo, hi = args.start_time
        for s in fams["gil_start_time_seconds"][1]:
            check(lo <= s.value <= hi, "%s: gil_start_time_seconds %s not in [%s, %s]" % (fmt, s.value, lo, hi))
    return sum(len(samples) for _, samples in fams.values())


def compare(text, om, same_values):
    for name, (typ, samples) in text.items():
        a = {key(s): s.value for s in samples}
        b = {key(s): s.value for s in om[name][1]}
        check(set(a) == set(b), "%s: the two formats have different series: %s" %
              (name, sorted(set(a) ^ set(b))[:4]))
        if same_values and name not in MOVING:
            diff = [k for k in a if a[k] != b[k]]
            check(not diff, "%s: values differ between the formats: %s" % (name, [(k, a[k], b[k]) for k in diff[:3]]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", required=True)
    ap.add_argument("--openmetrics", required=True)
    ap.add_argument("--max-thread-series", type=int, default=65)
    ap.add_argument("--start-time", type=float, nargs=2)
    ap.add_argument("--same-values", action="store_true")
    ap.add_argument("--threads", action="append", default=[])
    args = ap.parse_args()
    args.threads = {t.rsplit("=", 1)[0]: int(t.rsplit("=", 1)[1]) for t in args.threads}
    text = open(args.text, encoding="utf-8").read()
    om = open(args.openmetrics, encoding="utf-8").read()
    try:
        check("# EOF" not in text, "text: # EOF belongs to OpenMetrics only")
        check(om.endswith("\n# EOF\n"), "openmetrics: does not end with # EOF")
        tf = families(parse_text, text, "text")
        of = families(parse_openmetrics, om, "openmetrics")
        n = check_one("text", tf, args)
        check_one("openmetrics", of, args)
        compare(tf, of, args.same_values)
    except Bad as e:
        print("check_metrics: FAIL: %s" % e, file=sys.stderr)
        return 1
    print("check_metrics: %d families, %d samples; both formats parsed and agree" % (len(tf), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
