#!/bin/sh
# check_interpose.sh BUILD - run tests/interpose_host (a host whose own
# printf family knows only %s and %d, linking libgil statically) and check
# what libgil wrote there: the summary line's shape, the Prometheus and
# OpenMetrics expositions through the reference parsers
# (tests/check_metrics.py), the trace JSON (python3 -m json.tool), the
# watchdog line, every error message.  Issue 14.
set -eu
build=${1:?usage: check_interpose.sh BUILD}
here=$(dirname "$0")
host=$build/tests/interpose_host
python=/usr/bin/python3
[ -x "$host" ] || { echo "check_interpose: no $host" >&2; exit 1; }
[ -x "$python" ] || { echo "check_interpose: $python missing (make deps-test)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

fail() { echo "FAIL: interpose: $*" >&2; exit 1; }

"$host" "$out" > "$out/stdout.txt" || fail "interpose_host failed: $(cat "$out/stdout.txt")"

# gil "host" held 0.52 (1s 0.41, 5s 0.12, 15s 0.04) wait 0.61 (...) waiting 0
#   switches/s 181 wait p50 510us p99 1.02ms hold p99 1.1ms drop p99 17.4us
ratio='[0-9]+\.[0-9]{2}'
ratios="$ratio \(1s $ratio, 5s $ratio, 15s $ratio\)"
dur='[0-9]+(\.[0-9]+)?(e\+[0-9]+)?(ns|us|ms|s)'
summary="^gil \"host\" held $ratios wait $ratios waiting [0-9]+ switches/s [0-9]+ wait p50 $dur p99 $dur hold p99 $dur drop p99 $dur\$"
head -n 1 "$out/summary.txt" | grep -Eq "$summary" || fail "summary line: $(head -n 1 "$out/summary.txt")"
# The truncated copy (15 bytes of a 16-byte buffer) is the line's start.
[ "$(sed -n 2p "$out/summary.txt")" = "$(head -n 1 "$out/summary.txt" | cut -c1-15)" ] ||
    fail "truncated summary: $(sed -n 2p "$out/summary.txt")"

"$python" -m json.tool "$out/trace.json" > /dev/null || fail "trace.json is not valid JSON"
"$python" - "$out/trace.json" <<'PY' || fail "trace.json content"
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
names = {e["args"]["name"] for e in ev if e["name"] == "thread_name"}
assert {"main", "hog", "io"} <= names, names
assert any(e["name"] == "running" and e["dur"] > 0 for e in ev), "no running slice"
assert any(e["name"] == "wants_gil" for e in ev), "no wait"
assert all(isinstance(e.get("ts", 0.0), float) or e.get("ts", 0) == 0 for e in ev)
assert t["otherData"]["gil"] == "host" and t["otherData"]["events"] > 0, t["otherData"]
PY

"$python" "$here/check_metrics.py" --text "$out/metrics.prom" --openmetrics "$out/metrics.om" \
    --same-values --threads host=1 > /dev/null || fail "metrics (above)"

watchdog='^libgil: watchdog: gil "host": "hog" \(tstate 2\) has held the GIL for 25\.9s and ignored a drop request for 20\.5ms \(limit 2ms\); 2 waiting, "io" \(tstate 4\) noticed$'
grep -Eq "$watchdog" "$out/watchdog.txt" || fail "watchdog line: $(cat "$out/watchdog.txt")"
[ "$(wc -l < "$out/watchdog.txt")" -eq 1 ] || fail "watchdog: not one line"

grep -qx 'OK: success' "$out/strerror.txt" && grep -qx 'EINVAL: invalid argument' "$out/strerror.txt" &&
    grep -qx 'UNKNOWN: unknown error' "$out/strerror.txt" && [ "$(wc -l < "$out/strerror.txt")" -eq 10 ] ||
    fail "strerror: $(cat "$out/strerror.txt")"

grep -q 'made 0 calls' "$out/stdout.txt" || fail "$(cat "$out/stdout.txt")"
echo "interpose: a host with its own %s/%d-only printf family: every libgil writer works, 0 calls to it"
