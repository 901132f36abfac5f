#!/bin/sh
# test_bench_micro.sh [MICRO] - `make bench-micro`'s output is the benchmark's
# and nothing else, and google-benchmark's own tooling works on it
# (`make bench-micro-test`, run by CI; needs libbenchmark-dev,
# libbenchmark-tools and python3-scipy, which deps-bench installs).
#
#   1. `BENCH_ARGS=--benchmark_format=json make -s bench-micro > out.json`
#      is valid JSON, with and without -s, and the ratio lines go to stderr;
#   2. compare.py (Debian's libbenchmark-tools) diffs two such files;
#   3. --micro_iterations=N runs exactly N iterations, the handoff
#      benchmarks report their "vcsw" counter, a bad N exits with 2;
#   4. with repetitions the goal lines give the per-repetition range.
# Timings are not checked: this is about formats, not speed.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
micro=${1:-$top/build/bench/micro}
make=${MAKE:-make}
build=${BUILD:-build}
compare=/usr/share/benchmark/compare.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# Quick benchmarks only, short runs; the filter's ( | ) $ also check that
# BENCH_ARGS reaches micro unmangled by make and the shell.
fast='--benchmark_filter=^(gil_check_x1|empty_loop_x1|gil_acquire_release|mutex_lock_unlock)$ --benchmark_min_time=0.01'

fail() {
    echo "test_bench_micro: FAIL: $*" >&2
    exit 1
}

# bench_micro OUT [MAKE FLAGS...]: make bench-micro with JSON output into OUT.
bench_micro() {
    out=$1
    shift
    # As typed at a prompt: not a sub-make (which would announce its directory).
    (cd "$top" && BENCH_ARGS="--benchmark_format=json $fast" env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS \
        "$make" "$@" BUILD="$build" bench-micro) \
        >"$out" 2>"$out.err" || { cat "$out.err" >&2; fail "make $* bench-micro failed"; }
    /usr/bin/python3 -m json.tool "$out" >/dev/null 2>"$out.json-err" ||
        fail "make $* bench-micro > out.json is not JSON: $(head -c 300 "$out")"
    grep -q '^goal: gil_check with no request / empty loop iteration measured ' "$out.err" ||
        fail "make $* bench-micro: no ratio lines on stderr"
}

# ---- 1. JSON on stdout ---------------------------------------------------------------
bench_micro "$tmp/a.json" -s
bench_micro "$tmp/b.json"
# Force a rebuild: the build's output must not reach stdout either.
touch "$top/bench/micro.c"
bench_micro "$tmp/c.json" --no-print-directory

# ---- 2. compare.py ---------------------------------------------------------------------
[ -f "$compare" ] || fail "$compare not found (apt-get install libbenchmark-tools)"
/usr/bin/python3 "$compare" --no-color benchmarks "$tmp/a.json" "$tmp/b.json" >"$tmp/compare.txt" 2>&1 ||
    { cat "$tmp/compare.txt" >&2; fail "compare.py failed on two bench-micro JSON files"; }
for b in gil_check_x1 empty_loop_x1 gil_acquire_release mutex_lock_unlock; do
    grep -q "^$b " "$tmp/compare.txt" || fail "compare.py does not list $b"
done

# ---- 3. fixed iterations, counters, a bad flag -----------------------------------------------
"$micro" --micro_iterations=3000 --benchmark_format=json \
    '--benchmark_filter=^(gil_check_x1|gil_handoff_yield|condvar_pingpong)(/|$)' \
    >"$tmp/fixed.json" 2>"$tmp/fixed.err" || { cat "$tmp/fixed.err" >&2; fail "micro --micro_iterations"; }
/usr/bin/python3 - "$tmp/fixed.json" <<'EOF' || fail "--micro_iterations output"
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
names = sorted(r["run_name"].split("/")[0] for r in runs)
assert names == ["condvar_pingpong", "gil_check_x1", "gil_handoff_yield"], names
for r in runs:
    assert r["iterations"] == 3000, (r["name"], r["iterations"])
    if not r["name"].startswith("gil_check"):
        # About one sleep per handoff, two per round trip: 0 would mean the
        # counter measures nothing.
        assert r["vcsw"] > 0.5, (r["name"], r.get("vcsw"))
EOF
rc=0
"$micro" --micro_iterations=-4 >/dev/null 2>"$tmp/bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "--micro_iterations=-4 exited with $rc, expected 2"
grep -q '^micro: --micro_iterations=' "$tmp/bad.err" || fail "--micro_iterations=-4 gave no message"

# ---- 4. repetitions: the spread ----------------------------------------------------------
# shellcheck disable=SC2086 # $fast is a list of flags
"$micro" $fast --benchmark_repetitions=3 >"$tmp/reps.txt" 2>&1 || fail "micro --benchmark_repetitions=3"
grep -q '^goal: gil_check with no request / empty loop iteration measured [0-9.]* (.*medians of 3; per-repetition [0-9.]*-[0-9.]*, median [0-9.]*, met in [0-3] of 3) (target <= 1.1) M' \
    "$tmp/reps.txt" || fail "no per-repetition range in the goal line: $(grep gil_check "$tmp/reps.txt")"

echo "test_bench_micro: ok (bench-micro stdout is JSON with -s, without, and while building; compare.py diffs it; --micro_iterations; vcsw; repetition ranges)"
