# bench/bench.mk - the benchmark suite, included by the top Makefile.
#
#   make bench         gilbench with its defaults: tables on stdout, JSON,
#                      google-benchmark JSON, CSV and SVG charts in
#                      $(BENCH_RESULTS)/
#                      (GILBENCH_ARGS=... adds gilbench options)
#   make bench-matrix  the full convoy matrix (every shape, 1/2/4/8 CPU threads,
#                      both check granularities, every policy: several
#                      minutes) into $(BENCH_RESULTS)/matrix/; `make bench`
#                      runs its quick subset
#   make bench-micro   google-benchmark micro benchmarks; BENCH_ARGS=... is
#                      passed through.  stdout is the benchmark's output and
#                      nothing else (building goes to stderr), so
#                      `BENCH_ARGS=--benchmark_format=json make -s bench-micro
#                      > out.json` is JSON for google-benchmark's compare.py
#   make bench-micro-test  checks that (tests/test_bench_micro.sh; in CI)
#   make micro-figures the micro figures of docs/benchmarks.md, with their
#                      spread (scripts/micro-figures.sh; MICRO_REPS=10)
#   make bench-smoke   gilbench with tiny durations (part of `make test`)
#
# gilbench is plain C + libgil; only bench-micro needs google-benchmark's
# library.  `make test` (bench-smoke) needs its tools (compare.py).

BENCH_BUILD   := $(BUILD)/bench
BENCH_RESULTS ?= bench-results
GILBENCH      := $(BENCH_BUILD)/gilbench
GILBENCH_SRCS := $(sort $(wildcard bench/gilbench*.c))
GILBENCH_ARGS ?=
MICRO         := $(BENCH_BUILD)/micro
BENCH_ARGS    ?=

BENCHMARK_CFLAGS = $(shell pkg-config --cflags benchmark 2>/dev/null)
BENCHMARK_LIBS   = $(shell pkg-config --libs benchmark 2>/dev/null || echo -lbenchmark)
# C++ for the google-benchmark wrapper: the C-only warnings of $(WARN) do
# not apply to it.
CXXFLAGS_BENCH = -std=c++17 -Wall -Wextra -Werror -Wshadow $(OPT) -Iinclude -Ibench \
                 $(BENCHMARK_CFLAGS) $(CXXFLAGS)

.PHONY: bench bench-matrix bench-micro

$(BENCH_BUILD):
	@mkdir -p $@

# The scripts' folder is compiled in so that gilbench finds
# bench/cpython/convoy.py and bench/ruby/convoy.rb from any directory.
$(GILBENCH): $(GILBENCH_SRCS) $(wildcard bench/gilbench*.h) bench/timeline.c bench/timeline.h include/gil.h $(BUILD)/libgil.a | $(BENCH_BUILD)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -DGILBENCH_SCRIPT_DIR='"$(CURDIR)/bench"' -o $@ $(GILBENCH_SRCS) bench/timeline.c $(LDLIBS_APP)

bench: $(GILBENCH) | deps-bench
	@mkdir -p $(BENCH_RESULTS)
	$(GILBENCH) --json $(BENCH_RESULTS)/gilbench.json --csv $(BENCH_RESULTS)/gilbench.csv \
	    --gbench-json $(BENCH_RESULTS)/gilbench-gbench.json --plot $(BENCH_RESULTS) $(GILBENCH_ARGS)

bench-matrix: $(GILBENCH) | deps-bench
	@mkdir -p $(BENCH_RESULTS)/matrix
	$(GILBENCH) --scenario convoy-matrix --matrix full --json $(BENCH_RESULTS)/matrix/gilbench.json \
	    --csv $(BENCH_RESULTS)/matrix/gilbench.csv --gbench-json $(BENCH_RESULTS)/matrix/gilbench-gbench.json \
	    --plot $(BENCH_RESULTS)/matrix $(GILBENCH_ARGS)

$(BENCH_BUILD)/gbench.o: bench/gbench.cc bench/gbench.h | $(BENCH_BUILD) deps-bench
	@$(if $(Q),echo "  CXX     $@")
	$(Q)$(CXX) $(CXXFLAGS_BENCH) -c $< -o $@

# -falign-loops=64: the check-point benchmarks compare loops of about one
# cycle per iteration, where a loop that happens to straddle an instruction
# fetch boundary costs a fraction of a cycle more: measured here, the same
# code read 1.04x to 1.9x depending on where the last edit left it.
# Aligning every loop (the baselines' too) measures the code, not its layout.
$(BENCH_BUILD)/micro.o: bench/micro.c bench/gbench.h include/gil.h | $(BENCH_BUILD)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -falign-loops=64 -Ibench -c $< -o $@

$(MICRO): $(BENCH_BUILD)/micro.o $(BENCH_BUILD)/gbench.o $(BUILD)/libgil.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CXX) -o $@ $(BENCH_BUILD)/micro.o $(BENCH_BUILD)/gbench.o $(LDLIBS_APP) $(BENCHMARK_LIBS)

# Building is a make of its own with its output on stderr, and the command
# is not echoed: stdout carries only what the benchmark prints.  BENCH_ARGS
# reaches micro as written: make does not expand it ($(value)), and it goes
# through the environment, split into words by the shell but not otherwise
# interpreted (set -f: no globbing), so that a filter such as
# --benchmark_filter='^(gil_check_x1|empty_loop_x1)$' is passed as it is.
override BENCH_ARGS := $(value BENCH_ARGS)
export BENCH_ARGS
bench-micro:
	@$(MAKE) --no-print-directory $(MICRO) >&2
	@set -f; exec $(MICRO) $$BENCH_ARGS

.PHONY: bench-micro-test micro-figures
bench-micro-test: $(MICRO) | deps-bench
	@MAKE='$(MAKE)' BUILD='$(BUILD)' tests/test_bench_micro.sh $(MICRO)

MICRO_REPS ?= 10
micro-figures: $(MICRO) | deps-bench
	@scripts/micro-figures.sh $(MICRO) $(MICRO_REPS)

# The examples' usage is checked there too; compare.py (libbenchmark-tools,
# with python3-scipy) diffs two --gbench-json files.
SMOKE_EXAMPLES := $(addprefix $(BUILD)/examples/,extension foreign_thread worker_pool minivm)
bench-smoke:: $(GILBENCH) $(SMOKE_EXAMPLES) | deps-test
	@tests/smoke_gilbench.sh $(GILBENCH) $(BUILD)/examples
