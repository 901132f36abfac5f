#!/bin/sh
# smoke_gilbench.sh [GILBENCH] - keep the benchmark suite from rotting.
#
# Runs every gilbench scenario with tiny durations, checks that each one
# prints its table and puts its fields in the --json output (and rows in
# --csv), that charts are drawn when gnuplot is installed, and that bad
# options exit with status 2.  Part of `make test` (bench-smoke): needs
# neither google-benchmark nor gnuplot; python3 checks the JSON if present,
# grep otherwise.
set -u

bin=${1:-build/bench/gilbench}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
    echo "smoke_gilbench: FAIL: $*" >&2
    exit 1
}

[ -x "$bin" ] || fail "$bin is not an executable (make $bin)"

# ---- layering: calls go down only (bench/gilbench_base.h has the map) --------
# A file calls only what it includes a prototype of (-Werror forbids implicit
# declarations), so the includes show the calls.  Each file's first line
# names its layer; the layer says which gilbench headers it may include.
src=$(dirname "$0")/../bench
for f in "$src"/gilbench*.[ch] "$src"/timeline.[ch]; do
    layer=$(sed -n '1s|^/\* Layer: \([a-z]*\).*|\1|p' "$f")
    case $layer in
    base) allowed="gilbench_base.h" ;;
    measurement) allowed="gilbench_base.h gilbench_measure.h timeline.h" ;;
    report) allowed="gilbench_base.h gilbench_report.h" ;;
    leaf) allowed="timeline.h" ;;
    scenarios) allowed="gilbench_base.h gilbench_measure.h gilbench_report.h gilbench_scenario.h" ;;
    *) fail "$(basename "$f"): no '/* Layer: ...' comment on its first line" ;;
    esac
    for inc in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
        case " $allowed gil.h " in
        *" $inc "*) ;;
        *) fail "$(basename "$f") (layer $layer) includes $inc: calls must go down only" ;;
        esac
    done
done

# ---- every scenario ---------------------------------------------------------
plot=""
command -v gnuplot >/dev/null 2>&1 && plot="--plot $tmp/svg"
# shellcheck disable=SC2086 # $plot is two words or none
"$bin" --seconds 0.02 --quiet --json "$tmp/out.json" --csv "$tmp/out.csv" $plot \
    >"$tmp/out.txt" 2>"$tmp/err.txt" || {
    cat "$tmp/err.txt" >&2
    fail "gilbench exited with status $?"
}

for s in convoy countdown interval workers cpython; do
    grep -q "^== $s:" "$tmp/out.txt" || fail "no table for scenario $s"
done
[ "$(grep -c '^goal: ' "$tmp/out.txt")" -ge 2 ] || fail "goal lines missing"

# Fields each scenario must produce, per step kind: "scenario kind field...".
fields="convoy io_alone io_rate io_p50_us
convoy convoy io_rate io_slowdown io_p50_us io_p99_us io_max_us cpu_rate cpu_fraction
convoy cpu_alone cpu_rate
countdown countdown elapsed_s ratio gil_switches
interval convoy io_rate io_slowdown io_p50_us io_p99_us cpu_fraction
interval countdown elapsed_s ratio
workers plain tasks tasks_per_s short_p50_us short_p99_us short_max_us long_p50_us
workers sharded tasks tasks_per_s short_p50_us short_p99_us short_max_us long_p50_us
cpython convoy io_rate io_slowdown io_p50_us cpu_fraction"

if command -v python3 >/dev/null 2>&1; then
    printf '%s\n' "$fields" | python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
steps = doc["steps"]
skipped = {(s["scenario"], s["runtime"]) for s in doc["skipped"]}
errors = []
for st in steps:
    if not st["measured"]:
        errors.append("step not measured: %r" % st)
for line in sys.stdin.read().splitlines():
    scenario, kind, *names = line.split()
    rows = [s for s in steps if s["scenario"] == scenario and s["kind"] == kind]
    if not rows and not any(sc == scenario for sc, _ in skipped):
        errors.append("%s: no %s step" % (scenario, kind))
    for row in rows:
        for n in names:
            if n not in row:
                errors.append("%s/%s: no field %s" % (scenario, kind, n))
ran = {s["runtime"] for s in steps if s["scenario"] == "cpython" and s["runtime"] != "libgil"}
for rt in ran:
    if not any(c["runtime"] == rt and "model_slowdown" in c for c in doc["comparisons"]):
        errors.append("cpython: no comparison for %s" % rt)
if len(doc["goals"]) < 2:
    errors.append("goals missing")
for e in errors:
    print("smoke_gilbench: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
' "$tmp/out.json" || fail "JSON output incomplete"
else
    # One step per line in the JSON: check each matching line has the fields.
    grep -q '"measured": false' "$tmp/out.json" && fail "a step was not measured"
    printf '%s\n' "$fields" | while read -r scenario kind names; do
        lines=$(grep "\"scenario\": \"$scenario\"" "$tmp/out.json" | grep "\"kind\": \"$kind\"")
        if [ -z "$lines" ]; then
            # The cpython scenario has no steps when no interpreter is installed.
            if [ "$scenario" = cpython ] && grep -q '"scenario": "cpython", "runtime": "[a-z]*", "reason"' "$tmp/out.json"; then
                continue
            fi
            fail "$scenario: no $kind step"
        fi
        for n in $names; do
            if printf '%s\n' "$lines" | grep -v -q "\"$n\":"; then
                fail "$scenario/$kind: no field $n"
            fi
        done
    done || exit 1
fi

for s in convoy countdown interval workers; do
    grep -q "^$s," "$tmp/out.csv" || fail "no CSV rows for $s"
done
if [ -n "$plot" ]; then
    for f in convoy interval workers; do
        grep -q '<svg' "$tmp/svg/$f.svg" 2>/dev/null || fail "chart $f.svg not drawn"
    done
fi

# ---- options -------------------------------------------------------------------
"$bin" --help >"$tmp/help.txt" 2>&1 || fail "--help exited with status $?"
for s in convoy countdown interval workers cpython; do
    grep -q "^  $s " "$tmp/help.txt" || fail "--help does not explain $s"
done

expect_usage_error() {
    "$bin" "$@" >/dev/null 2>"$tmp/usage.txt"
    rc=$?
    [ "$rc" -eq 2 ] || fail "gilbench $* exited with $rc, expected 2"
    grep -q '^gilbench: ' "$tmp/usage.txt" || fail "gilbench $* gave no message"
}
expect_usage_error --seconds abc
expect_usage_error --seconds 0
expect_usage_error --seconds -1
expect_usage_error --scenario nope
expect_usage_error --scenario convoy,nope
expect_usage_error --policy nope
expect_usage_error --threads 0
expect_usage_error --threads 1,x
expect_usage_error --threads 2,2
expect_usage_error --interval 0
expect_usage_error --interval 12abc
expect_usage_error --bogus
expect_usage_error --json
expect_usage_error stray-argument

# --trace / --timeline: the first convoy step's window as Chrome trace JSON
# and an SVG timeline.
"$bin" --scenario convoy --policy cpython --threads 1 --seconds 0.05 --quiet \
    --trace "$tmp/trace.json" --timeline "$tmp/timeline.svg" >/dev/null ||
    fail "gilbench --trace/--timeline failed"
grep -q '"traceEvents"' "$tmp/trace.json" || fail "--trace wrote no traceEvents"
grep -q '"wants_gil"' "$tmp/trace.json" || fail "--trace has no wants_gil slices"
grep -q '<svg' "$tmp/timeline.svg" || fail "--timeline wrote no SVG"
grep -q '</svg>' "$tmp/timeline.svg" || fail "--timeline SVG is truncated"

echo "smoke_gilbench: ok (every scenario, JSON/CSV fields, $( [ -n "$plot" ] && echo "charts, " )trace, timeline, bad options)"
