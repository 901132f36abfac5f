#!/bin/sh
# smoke_gilbench.sh [GILBENCH] - keep the benchmark suite from rotting.
#
# Checks that gilbench's files call only down their layers; runs every
# gilbench scenario with tiny durations and checks that each one prints its
# table and puts its fields in the --json output (and rows in --csv), that
# every chart is drawn, silent in gnuplot and renders to PNG (charts.sh),
# that gnuplot's messages reach the user only when it fails, that every
# option error exits with status 2 and its message before anything runs, that -h/--help and
# --version exit 0, that the examples' --help exits 0 and bad usage 2, and
# that google-benchmark's compare.py diffs two --gbench-json files.  Part of
# `make test` (bench-smoke, which installs gnuplot-nox, librsvg2-bin,
# libbenchmark-tools and python3-scipy); python3 checks the JSON if present,
# grep otherwise.
#
#   smoke_gilbench.sh [GILBENCH [EXAMPLES_DIR]]
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
    report) allowed="gilbench_base.h gilbench_report.h gilbench_plot.h" ;;
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
command -v gnuplot >/dev/null 2>&1 || fail "gnuplot not found (Debian gnuplot-nox, in DEPS_TEST)"
"$bin" --seconds 0.02 --quiet --json "$tmp/out.json" --csv "$tmp/out.csv" --plot "$tmp/svg" \
    --gbench-json "$tmp/gbench-a.json" >"$tmp/out.txt" 2>"$tmp/err.txt"
rc=$?
if [ "$rc" -ne 0 ]; then
    cat "$tmp/err.txt" >&2
    fail "gilbench exited with status $rc"
fi
# --quiet: nothing on stderr, gnuplot's warnings included.
[ -s "$tmp/err.txt" ] && fail "gilbench --quiet wrote to stderr: $(head -3 "$tmp/err.txt")"

for s in convoy countdown interval workers cpython convoy-matrix; do
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
# Every chart: drawn, its script silent in gnuplot, rendered to PNG.
sh "$(dirname "$0")/charts.sh" "$tmp/svg" convoy interval workers matrix-io-fraction \
    matrix-io-p99 || fail "charts"
for f in convoy interval workers; do
    grep -q "^chart: $tmp/svg/$f.svg\$" "$tmp/out.txt" || fail "no 'chart:' line for $f.svg"
done

# gnuplot's messages: shown when it fails, kept from the user when it does
# not (a stand-in gnuplot on PATH).
mkdir "$tmp/fake"
printf '#!/bin/sh\necho "gnuplot: a warning" >&2\nexit 0\n' >"$tmp/fake/gnuplot"
chmod +x "$tmp/fake/gnuplot"
PATH="$tmp/fake:$PATH" "$bin" --scenario workers --policy cpython --seconds 0.02 --quiet \
    --plot "$tmp/fake-svg" >/dev/null 2>"$tmp/fake.err" || fail "gilbench failed with a warning gnuplot"
[ -s "$tmp/fake.err" ] && fail "a gnuplot warning reached the user: $(cat "$tmp/fake.err")"
printf '#!/bin/sh\necho "gnuplot: broken" >&2\nexit 1\n' >"$tmp/fake/gnuplot"
PATH="$tmp/fake:$PATH" "$bin" --scenario workers --policy cpython --seconds 0.02 --quiet \
    --plot "$tmp/fake-svg" >/dev/null 2>"$tmp/fake.err"
rc=$?
[ "$rc" -eq 1 ] || fail "gilbench exited with $rc when gnuplot failed, expected 1"
grep -q "gnuplot failed drawing" "$tmp/fake.err" || fail "a gnuplot failure was not reported"
grep -q "gnuplot: broken" "$tmp/fake.err" || fail "gnuplot's message was not shown on failure"

# ---- the full convoy matrix: every cell in the table, the JSON and the CSV --------
# (tiny windows: no figure is judged here, only that each cell is there.)
"$bin" --scenario convoy-matrix --matrix full --seconds 0.01 --quiet --json "$tmp/m.json" \
    --csv "$tmp/m.csv" --plot "$tmp/m-svg" >"$tmp/m.txt" 2>"$tmp/m.err" || {
    cat "$tmp/m.err" >&2
    fail "gilbench --scenario convoy-matrix --matrix full failed"
}
[ -s "$tmp/m.err" ] && fail "convoy-matrix --quiet wrote to stderr: $(head -3 "$tmp/m.err")"
sh "$(dirname "$0")/charts.sh" "$tmp/m-svg" matrix-io-fraction matrix-io-p50 matrix-io-p99 \
    matrix-cpu-share matrix-fairness matrix-cpu-time || fail "matrix charts"
policies=$("$bin" --help | sed -n '/libgil scheduling policies/{n;p;}' | tr -d ' .' | tr ',' ' ')
[ -n "$policies" ] || fail "cannot read the policies from --help"
shapes="0us-1rel 0us-2rel 1us-1rel 1us-2rel 10us-1rel 10us-2rel"
cells=0
for p in $policies; do
    for shape in $shapes interp; do
        for n in 1 2 4 8; do
            for check in 50ns 5us; do
                [ "$shape" = interp ] && { [ "$n" = 1 ] && [ "$check" = 50ns ] || continue; }
                cells=$((cells + 1))
                grep -Eq "^  $p +$shape +$n +$check +[0-9.]+%" "$tmp/m.txt" ||
                    fail "convoy-matrix table: no row for $p $shape/${n}cpu/$check"
                for metric in io_fraction cpu_share_min cpu_share_mean jain cpu_s io_rate; do
                    grep -q "^convoy-matrix,libgil,$p,convoy,$n,[0-9]*,$shape,$check,0,$metric," \
                        "$tmp/m.csv" || fail "convoy-matrix CSV: no $metric for $p $shape/${n}cpu/$check"
                done
            done
        done
    done
done
grep -q "^matrix goal (priority): I/O rate " "$tmp/m.txt" || fail "convoy-matrix: no goal summary"
grep -q "^  baselines: the largest spread" "$tmp/m.txt" || fail "convoy-matrix: no baseline spread"
python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
cells = [s for s in doc["steps"] if s["scenario"] == "convoy-matrix" and s["kind"] == "convoy"]
need = ["cell", "shape", "check", "io_rate", "io_fraction", "cpu_share_min", "cpu_share_mean",
        "cpu_share_max", "cpu_fair_min", "jain", "cpu_s", "cpu_vs_cpython", "io_gil",
        "goal_io_rate", "goal_io_p99", "goal_cpu_fair", "goal_cpu_time", "cpu_thread0_rate"]
errors = ["%d cells in the JSON, expected %d" % (len(cells), want)] if len(cells) != want else []
errors += ["%s %s: no %s" % (c["policy"], c["cell"], k) for c in cells for k in need if k not in c]
errors += ["%s %s: %d CPU thread rates" % (c["policy"], c["cell"], c["threads"]) for c in cells
           if "cpu_thread%d_rate" % (c["threads"] - 1) not in c]
solo = [s for s in doc["steps"] if s["scenario"] == "convoy-matrix" and s["kind"] != "convoy"]
errors += ["baseline %s %s: no solo_spread" % (s["policy"], s["cell"]) for s in solo
           if not s["rerun"] and "solo_spread" not in s]
if [g["key"] for g in doc["matrix_goals"]] != ["goal_io_rate", "goal_io_p99", "goal_cpu_fair",
                                                "goal_cpu_time"]:
    errors.append("matrix_goals incomplete")
for e in errors[:20]:
    print("smoke_gilbench: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
' "$tmp/m.json" "$cells" || fail "convoy-matrix JSON incomplete"

# ---- one cell, traced, with the I/O thread's kernel slice --------------------------
# --matrix CELL measures that cell and its baselines only; --trace traces it (the
# first convoy step); every thread's own view of the window is in the JSON.
"$bin" --scenario convoy-matrix --policy priority --matrix 1us-2rel/2cpu/50ns --seconds 0.05 \
    --io-slice 100 --quiet --json "$tmp/cell.json" --trace "$tmp/cell-trace.json" >"$tmp/cell.txt" \
    2>"$tmp/cell.err" || fail "gilbench --matrix 1us-2rel/2cpu/50ns failed: $(head -3 "$tmp/cell.err")"
grep -q "^(--io-slice: the model's I/O thread asked the kernel for 100 us slices)" "$tmp/cell.txt" ||
    fail "--io-slice: not reported above the tables"
python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
cells = [s for s in doc["steps"] if s["kind"] == "convoy"]
errors = [] if [c["cell"] for c in cells] == ["1us-2rel/2cpu/50ns"] else ["cells: %r" % [c["cell"] for c in cells]]
errors += [] if len(doc["steps"]) == 5 else ["%d steps, expected 5 (2 baselines twice, 1 cell)" % len(doc["steps"])]
errors += [] if doc.get("io_slice_us") == 100 else ["io_slice_us: %r" % doc.get("io_slice_us")]
for c in cells:
    for k in ["io_held", "io_cpu_s", "cpu_thread0_held", "cpu_thread1_held", "cpu_thread0_cpu_s", "cpu_thread1_cpu_s"]:
        if not isinstance(c.get(k), (int, float)) or c[k] < 0:
            errors.append("%s: %r" % (k, c.get(k)))
trace = json.load(open(sys.argv[2]))
if not any(e.get("name") == "running" for e in trace["traceEvents"]):
    errors.append("the trace of the cell has no running spans")
for e in errors:
    print("smoke_gilbench: --matrix CELL: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
' "$tmp/cell.json" "$tmp/cell-trace.json" || fail "--matrix CELL: JSON or trace incomplete"

# ---- options -------------------------------------------------------------------
# -h and --help: the manual on stdout, nothing on stderr, exit 0.
for h in -h --help; do
    "$bin" $h >"$tmp/help.txt" 2>"$tmp/help.err" || fail "gilbench $h exited with status $?"
    [ -s "$tmp/help.err" ] && fail "gilbench $h wrote to stderr"
    for section in NAME SYNOPSIS DESCRIPTION SCENARIOS OPTIONS "EXIT STATUS" EXAMPLES; do
        grep -q "^$section" "$tmp/help.txt" || fail "gilbench $h has no $section section"
    done
    for s in convoy countdown interval workers cpython convoy-matrix; do
        grep -q "^    $s\( \|$\)" "$tmp/help.txt" || fail "gilbench $h does not explain $s"
    done
    for o in --scenario --seconds --policy --interval --threads --matrix --json --gbench-json \
        --csv --plot --trace --timeline --io-slice --quiet --version; do
        grep -q -- "^    $o\( \|$\)" "$tmp/help.txt" || fail "gilbench $h does not explain $o"
        grep -q -- "\[$o" "$tmp/help.txt" || [ "$o" = --version ] ||
            fail "gilbench $h: $o is not in the synopsis"
    done
done

# --version: gilbench's and the loaded libgil's versions, exit 0.
"$bin" --version >"$tmp/version.txt" 2>&1 || fail "gilbench --version exited with status $?"
grep -Eq '^gilbench [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/version.txt" || fail "--version: no gilbench version"
grep -Eq '^libgil [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/version.txt" || fail "--version: no libgil version"

# expect_usage_error MESSAGE ARG...: exit 2, MESSAGE on stderr, nothing run.
expect_usage_error() {
    msg=$1
    shift
    "$bin" "$@" >"$tmp/usage.out" 2>"$tmp/usage.txt"
    rc=$?
    [ "$rc" -eq 2 ] || fail "gilbench $* exited with $rc, expected 2"
    grep -qF -- "gilbench: $msg" "$tmp/usage.txt" ||
        fail "gilbench $*: expected 'gilbench: $msg', got: $(head -1 "$tmp/usage.txt")"
    [ -s "$tmp/usage.out" ] && fail "gilbench $*: started measuring before the usage error"
    return 0
}
expect_usage_error "--seconds: expected a number" --seconds abc
expect_usage_error "--seconds: expected a number" --seconds 0
expect_usage_error "--seconds: expected a number" --seconds -1
expect_usage_error "--scenario: unknown scenario 'nope'" --scenario nope
expect_usage_error "--scenario: unknown scenario 'nope'" --scenario convoy,nope
expect_usage_error "--scenario: empty item in 'convoy,'" --scenario convoy,
expect_usage_error "--policy: unknown policy 'nope'" --policy nope
expect_usage_error "--policy: cpython given twice" --policy cpython,cpython
expect_usage_error "--policy: empty item in ',cpython'" --policy ,cpython
expect_usage_error "--threads: expected an integer" --threads 0
expect_usage_error "--threads: expected an integer" --threads 1,x
expect_usage_error "--threads: 2 given twice" --threads 2,2
expect_usage_error "--threads: empty item in '1,,2'" --threads 1,,2
expect_usage_error "--threads: empty item in '1,2,'" --threads 1,2,
expect_usage_error "--interval: expected an integer" --interval 0
expect_usage_error "--interval: expected an integer" --interval 12abc
expect_usage_error "--matrix: no shape 'half'" --matrix half
expect_usage_error "--matrix: expected 1cpu, 2cpu, 4cpu or 8cpu, got '3cpu'" --matrix 0us-2rel/3cpu
expect_usage_error "--matrix: expected the check granularity 50ns or 5us, got '7us'" \
    --matrix 0us-2rel/4cpu/7us
expect_usage_error "--matrix: the interp shape has one cell" --matrix interp/4cpu
expect_usage_error "--io-slice: expected an integer" --io-slice 0
expect_usage_error "--io-slice: expected an integer" --io-slice 100001
expect_usage_error "unknown option '--bogus'" --bogus
expect_usage_error "unknown option '-x'" -x
expect_usage_error "unexpected argument 'stray-argument'" stray-argument
for o in --json --gbench-json --csv --plot --trace --timeline --scenario --seconds --policy \
    --interval --threads --matrix --io-slice; do
    expect_usage_error "$o needs a value" $o
    expect_usage_error "$o needs a value" "$o="
done
expect_usage_error "--json needs a value (got the option '--csv')" --json --csv "$tmp/x.csv"
# --trace/--timeline without a libgil convoy step to trace: refused up front.
for sc in countdown workers countdown,workers; do
    expect_usage_error "--trace/--timeline trace a convoy step of libgil" \
        --scenario $sc --trace "$tmp/none.json"
    expect_usage_error "--trace/--timeline trace a convoy step of libgil" \
        --scenario $sc --timeline "$tmp/none.svg"
done
[ -e "$tmp/none.json" ] || [ -e "$tmp/none.svg" ] && fail "a refused --trace wrote a file"

# ---- the examples' usage: --help exits 0 (usage on stdout), bad usage 2 ---------
examples=${2:-$(dirname "$bin")/../examples}
for e in extension foreign_thread worker_pool minivm; do
    x=$examples/$e
    [ -x "$x" ] || fail "$x is not an executable (make examples)"
    for h in -h --help; do
        "$x" $h >"$tmp/ex.out" 2>"$tmp/ex.err" </dev/null || fail "$e $h exited with status $?"
        grep -q '^usage: ' "$tmp/ex.out" || fail "$e $h printed no usage on stdout"
        [ -s "$tmp/ex.err" ] && fail "$e $h wrote to stderr"
    done
    for bad in 0 12abc "1 2" --bogus; do
        [ "$e" = minivm ] && [ "$bad" != --bogus ] && continue # its arguments are a program
        # shellcheck disable=SC2086 # "1 2" is two arguments
        "$x" $bad >"$tmp/ex.out" 2>"$tmp/ex.err" </dev/null
        rc=$?
        [ "$rc" -eq 2 ] || fail "$e $bad exited with $rc, expected 2"
        grep -q 'usage: ' "$tmp/ex.err" || fail "$e $bad printed no usage on stderr"
    done
done

# ---- google-benchmark JSON: compare.py diffs two gilbench runs -------------------
"$bin" --scenario convoy --policy cpython --threads 1 --seconds 0.02 --quiet \
    --gbench-json "$tmp/gbench-b.json" >/dev/null 2>"$tmp/err-b.txt" || {
    cat "$tmp/err-b.txt" >&2
    fail "gilbench --gbench-json failed"
}
compare=$(dpkg -L libbenchmark-tools 2>/dev/null | grep '/compare\.py$' | head -1)
[ -n "$compare" ] || fail "compare.py not found (Debian package libbenchmark-tools)"
# Debian's python3-scipy is installed for /usr/bin/python3 (not a pyenv python).
/usr/bin/python3 "$compare" --no-color benchmarks "$tmp/gbench-a.json" "$tmp/gbench-b.json" \
    >"$tmp/compare.txt" 2>&1 || {
    cat "$tmp/compare.txt" >&2
    fail "compare.py failed on two gilbench --gbench-json files"
}
for n in io_round_trip io_p50 io_p99 cpu_unit; do
    grep -q "^convoy/libgil-cpython/convoy/cpu:1/interval:5000us/$n " "$tmp/compare.txt" ||
        fail "compare.py does not show convoy/libgil-cpython/convoy/cpu:1/.../$n"
done
grep -q "^OVERALL_GEOMEAN" "$tmp/compare.txt" || fail "compare.py printed no geomean"
# Every measured figure of the first run is a benchmark, with a positive time.
/usr/bin/python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
b = doc["benchmarks"]
names = {x["name"] for x in b}
need = ["convoy/libgil-%s/convoy/cpu:1/interval:5000us/io_p99", "countdown/libgil-%s/countdown/cpu:2/interval:5000us/elapsed",
        "workers/libgil-%s/plain/cpu:4/interval:5000us/short_p99", "interval/libgil-%s/convoy/cpu:1/interval:10us/cpu_unit"]
missing = [n % "cpython" for n in need if n % "cpython" not in names]
bad = [x["name"] for x in b if not (x["real_time"] > 0 and x["cpu_time"] > 0) or x["run_type"] != "iteration"
       or x["time_unit"] not in ("ns", "us", "ms", "s")]
dup = len(names) != len(b)
for m in missing: print("smoke_gilbench: --gbench-json lacks " + m, file=sys.stderr)
for m in bad: print("smoke_gilbench: --gbench-json: bad entry " + m, file=sys.stderr)
if dup: print("smoke_gilbench: --gbench-json: duplicate names", file=sys.stderr)
sys.exit(1 if missing or bad or dup or "context" not in doc else 0)
' "$tmp/gbench-a.json" || fail "--gbench-json output incomplete"

# --trace / --timeline: the first convoy step's window as Chrome trace JSON
# and an SVG timeline.
"$bin" --scenario convoy --policy cpython --threads 1 --seconds 0.05 --quiet \
    --trace "$tmp/trace.json" --timeline "$tmp/timeline.svg" >/dev/null ||
    fail "gilbench --trace/--timeline failed"
grep -q '"traceEvents"' "$tmp/trace.json" || fail "--trace wrote no traceEvents"
grep -q '"wants_gil"' "$tmp/trace.json" || fail "--trace has no wants_gil slices"
grep -q '<svg' "$tmp/timeline.svg" || fail "--timeline wrote no SVG"
grep -q '</svg>' "$tmp/timeline.svg" || fail "--timeline SVG is truncated"
rsvg-convert -o "$tmp/timeline.png" "$tmp/timeline.svg" && [ -s "$tmp/timeline.png" ] ||
    fail "--timeline SVG does not render to PNG"

echo "smoke_gilbench: ok (layering, every scenario, JSON/CSV fields, charts, full convoy matrix ($cells cells), trace, timeline, options, examples' usage, compare.py)"
