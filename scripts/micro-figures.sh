#!/bin/sh
# micro-figures.sh [MICRO [REPS]] - regenerate the micro-benchmark figures
# that docs/benchmarks.md quotes, with their spread (`make micro-figures`).
#
#   1. Time: every benchmark of MICRO (default build/bench/micro) REPS times
#      (default 10), repetitions in random order, so that a slow minute of a
#      shared machine spreads over all benchmarks instead of landing on one.
#      Per benchmark: google-benchmark's median, stddev and cv; per ratio:
#      the ratio of the medians, the range of the per-repetition ratios and
#      in how many repetitions a goal was met (micro's own ratio lines).
#   2. Instructions (callgrind, user space), which unlike time do not
#      depend on the machine's load.  Each benchmark runs a fixed number of
#      iterations twice (N and 2N) and the difference is divided by N, so
#      set-up costs cancel.
#        gil_check loop and empty loop: the loop function's own instructions
#        (the inline gil_check included), per iteration: exact, the same on
#        every run;
#        handoff and condvar ping-pong: everything both threads execute in
#        user space, per round trip, measured HANDOFF_RUNS times (the count
#        depends on how often a woken waiter finds it must wait again, which
#        differs between runs: the range is printed).  The kernel's part,
#        the sleeps, is the "vcsw" counter of the time run: voluntary
#        context switches.
#
# Needs valgrind (installed through scripts/deps.sh).  Takes about 4 minutes.
set -eu

micro=${1:-build/bench/micro}
reps=${2:-10}
top=$(cd "$(dirname "$0")/.." && pwd)

case $reps in
'' | *[!0-9]* | 0)
    echo "micro-figures: REPS must be a positive integer, got '$reps'" >&2
    exit 2
    ;;
esac
[ -x "$micro" ] || {
    echo "micro-figures: $micro is not built (make $micro)" >&2
    exit 1
}
"$top/scripts/deps.sh" valgrind

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- the header: when, what, where -----------------------------------------------
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Uncommitted changes to what is measured (not to the docs quoting it).
git -C "$top" diff --quiet HEAD -- gil include bench Makefile 2>/dev/null || commit="$commit+changes"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "micro figures: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit," \
    "google-benchmark $(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')"
echo "machine: $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. time -----------------------------------------------------------------------
echo
echo "== time: $reps repetitions of each benchmark, in random order"
"$micro" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_color=false >"$tmp/time.txt" 2>"$tmp/time.err" ||
    { cat "$tmp/time.err" >&2; echo "micro-figures: $micro failed" >&2; exit 1; }
# Of google-benchmark's table, the header and each benchmark's median and cv
# (coefficient of variation over the repetitions), by name; then micro's
# ratios, whose per-repetition ranges come from the repetitions themselves.
awk '/^Benchmark/ { print; exit }' "$tmp/time.txt"
awk '/^Benchmark/ { table = 1; next } /^ratios/ { exit }
     table && $1 ~ /_(median|cv)$/ { stem = $1; sub(/_[a-z]+$/, "", stem)
                                     printf "%s\t%d\t%s\n", stem, $1 ~ /_cv$/, $0 }' "$tmp/time.txt" |
    sort -k1,1 -k2,2n | cut -f3-
sed -n '/^ratios/,$p' "$tmp/time.txt"

# ---- 2. instructions ------------------------------------------------------------------
# sum_ir MODE OUT FUNCTION...: the instructions of FUNCTIONs in callgrind's
# OUT.  MODE no: their own (the code inlined into them included, from
# whichever file: one row per file, added up); MODE yes: callees included
# (callgrind_annotate lists a function once per file and once per object:
# the largest row).
sum_ir() {
    mode=$1 out=$2
    shift 2
    pattern=$(printf '%s|' "$@")
    callgrind_annotate --inclusive="$mode" --auto=no --threshold=100 "$out" |
        awk -v re=":(${pattern%|})( |\$)" -v incl="$mode" '
            $0 ~ re {
                fn = $0; sub(/ \[.*/, "", fn); sub(/.*:/, "", fn)
                v = $1; gsub(",", "", v); v += 0
                if (incl == "yes") { if (v > ir[fn]) ir[fn] = v } else ir[fn] += v
            }
            END { s = 0; for (f in ir) s += ir[f]; print s }'
}

# per_iteration N FILTER MODE FUNCTION...: (instructions at 2N - at N) / N.
per_iteration() {
    n=$1 filter=$2 mode=$3
    shift 3
    for k in 1 2; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$k" "$micro" \
            --micro_iterations=$((k * n)) --benchmark_filter="^($filter)(/|\$)" >/dev/null 2>&1 ||
            { echo "micro-figures: callgrind run failed" >&2; exit 1; }
    done
    a=$(sum_ir "$mode" "$tmp/cg.1" "$@")
    b=$(sum_ir "$mode" "$tmp/cg.2" "$@")
    awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

# range_of VALUE...: "min-max" (or the value if they are all equal).
range_of() {
    printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { if (lo == hi) print lo; else print lo "-" hi }'
}

echo
echo "== instructions (callgrind, user space)"
check=$(per_iteration 1000000 gil_check_x1 no bm_gil_check)
empty=$(per_iteration 1000000 empty_loop_x1 no bm_empty_loop)
echo "gil_check loop: $check per iteration, empty loop: $empty; ratio $(ratio "$check" "$empty")" \
    "(the check adds $(awk -v a="$check" -v b="$empty" 'BEGIN { printf "%.2f", a - b }'))"
runs=${HANDOFF_RUNS:-3}
yields="" pingpongs="" ratios=""
for _ in $(seq "$runs"); do
    y=$(per_iteration 2000 gil_handoff_yield yes bm_gil_handoff_yield yield_partner_main)
    p=$(per_iteration 2000 condvar_pingpong yes bm_condvar_pingpong pingpong_partner)
    yields="$yields $y" pingpongs="$pingpongs $p" ratios="$ratios $(ratio "$y" "$p")"
done
# shellcheck disable=SC2086 # lists of numbers
echo "handoff round trip: $(range_of $yields) (both threads), condvar ping-pong: $(range_of $pingpongs);" \
    "ratio $(range_of $ratios) ($runs runs)"
