# libgil - build, test, install.
#
#   make              libgil.a and libgil.so (SONAME libgil.so.0) in build/
#   make test         unit tests (cmocka), examples and the gilbench smoke test
#   make bench        the convoy benchmark suite with its defaults
#   make bench-micro  google-benchmark micro benchmarks (flags: BENCH_ARGS=...)
#   make tsan / asan  the unit tests under ThreadSanitizer / ASan+UBSan
#   make debug        the unit tests against a GIL_DEBUG (checker) build
#   make install PREFIX=/usr/local DESTDIR=
#
# Every target that needs a Debian package installs it first (scripts/deps.sh),
# or stops with one line naming it.

CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include

# Variant: release (default), debug, tsan, asan.  Each builds in its own dir.
VARIANT ?= release
BUILD   ?= build$(if $(filter release,$(VARIANT)),,-$(VARIANT))

VERSION_MAJOR := $(shell sed -n 's/^\#define GIL_VERSION_MAJOR //p' include/gil.h)
VERSION_MINOR := $(shell sed -n 's/^\#define GIL_VERSION_MINOR //p' include/gil.h)
VERSION_PATCH := $(shell sed -n 's/^\#define GIL_VERSION_PATCH //p' include/gil.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

DEPS_LIB   := liburcu-dev pkg-config
DEPS_TEST  := libcmocka-dev libbenchmark-tools python3-scipy gnuplot-nox librsvg2-bin
DEPS_BENCH := libbenchmark-dev gnuplot-nox
DEPS := scripts/deps.sh

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
OPT_release := -O2 -g
OPT_debug   := -O1 -g -DGIL_DEBUG
OPT_tsan    := -O1 -g -fsanitize=thread -DGIL_TSAN
OPT_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_LD_tsan := -fsanitize=thread
SAN_LD_asan := -fsanitize=address,undefined
OPT    := $(OPT_$(VARIANT))
SAN_LD := $(SAN_LD_$(VARIANT))

URCU_CFLAGS = $(shell pkg-config --cflags liburcu-bp 2>/dev/null)
URCU_LIBS   = $(shell pkg-config --libs liburcu-bp 2>/dev/null || echo -lurcu-bp -lurcu-common)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

CFLAGS_LIB := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -Iinclude -Igil $(WARN) $(OPT) $(URCU_CFLAGS) $(CFLAGS)
CFLAGS_APP := -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(OPT) $(CFLAGS)
LDLIBS_APP  = $(BUILD)/libgil.a $(URCU_LIBS) -lpthread -lm $(SAN_LD)

LIB_SRCS := $(sort $(wildcard gil/*.c))
LIB_OBJS := $(patsubst gil/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_HDRS := include/gil.h $(wildcard gil/*.h)

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_HELPERS := $(wildcard tests/helpers.c)

.PHONY: all lib test check unit tsan asan debug install uninstall clean deps-lib deps-test deps-bench
all: lib
lib: $(BUILD)/libgil.a $(BUILD)/libgil.so

deps-lib:
	@$(DEPS) $(DEPS_LIB)
deps-test: deps-lib
	@$(DEPS) $(DEPS_TEST)
deps-bench: deps-lib
	@$(DEPS) $(DEPS_BENCH)

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: gil/%.c $(LIB_HDRS) | $(BUILD)/obj
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_LIB) -c $< -o $@

$(BUILD)/obj $(BUILD)/tests:
	@mkdir -p $@

$(BUILD)/libgil.a: $(LIB_OBJS)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(BUILD)/libgil.so: $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libgil.so.$(VERSION_MAJOR) -o $(BUILD)/libgil.so.$(VERSION) $^ $(URCU_LIBS) -lpthread $(SAN_LD)
	$(Q)ln -sf libgil.so.$(VERSION) $(BUILD)/libgil.so.$(VERSION_MAJOR)
	$(Q)ln -sf libgil.so.$(VERSION) $@

# The library objects depend on the packages being present.
$(LIB_OBJS): | deps-lib

$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) tests/helpers.h $(BUILD)/libgil.a | $(BUILD)/tests deps-test
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -Itests -Igil -o $@ $< $(TEST_HELPERS) $(LDLIBS_APP) $(CMOCKA_LIBS)

# The timeline renderer (bench/timeline.c) is tested here, and drawn by the
# demo that makes the pictures of docs/observability.md (`make trace-demo`).
TIMELINE_BINS := $(BUILD)/tests/test_timeline $(BUILD)/tests/trace_demo
$(TIMELINE_BINS): $(BUILD)/tests/%: tests/%.c bench/timeline.c bench/timeline.h $(TEST_HELPERS) tests/helpers.h $(BUILD)/libgil.a | $(BUILD)/tests deps-test
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -Itests -Igil -Ibench -o $@ $< bench/timeline.c $(TEST_HELPERS) $(LDLIBS_APP) $(CMOCKA_LIBS)
unit: $(BUILD)/tests/trace_demo

.PHONY: trace-demo
trace-demo: $(BUILD)/tests/trace_demo
	./$(BUILD)/tests/trace_demo --policy cpython --json $(BUILD)/convoy-cpython.json --svg docs/img/convoy-cpython.svg
	./$(BUILD)/tests/trace_demo --policy priority --window-ms 2 --json $(BUILD)/convoy-priority.json --svg docs/img/convoy-priority.svg
	./$(BUILD)/tests/trace_demo --policy cpython --stall-ms 30 --watchdog 4 --window-ms 60 --json $(BUILD)/stall-cpython.json --svg docs/img/stall-cpython.svg

# The C++ compile test of the public header.
$(BUILD)/tests/cxx_header: tests/cxx_header.cc include/gil.h $(BUILD)/libgil.a | $(BUILD)/tests
	@$(if $(Q),echo "  CXX     $@")
	$(Q)$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude $(OPT) -o $@ $< $(LDLIBS_APP)

# The unit tests.  Each binary is a cmocka group, and the whole suite runs
# once per scheduling policy (GIL_TEST_POLICY); TEST_ENV lets sanitizer
# variants pass options.  POLICIES=cpython runs one policy only.
POLICIES ?= cpython legacy fifo priority
unit: $(TEST_BINS) $(BUILD)/tests/cxx_header $(BUILD)/libgil.so
	@set -e; for p in $(POLICIES); do for t in $(TEST_BINS); do \
	    echo "== $$t [policy $$p]"; $(TEST_ENV) GIL_TEST_VARIANT=$(VARIANT) GIL_TEST_POLICY=$$p ./$$t; done; done
	@./$(BUILD)/tests/cxx_header
	@tests/check_exports.sh $(BUILD)/libgil.so

TSAN_ENV := TSAN_OPTIONS="die_after_fork=0 halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp"
ASAN_ENV := ASAN_OPTIONS="detect_leaks=1 abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"

tsan:
	@$(MAKE) --no-print-directory VARIANT=tsan TEST_ENV='$(TSAN_ENV) GIL_TEST_SCALE=10' unit
asan:
	@$(MAKE) --no-print-directory VARIANT=asan TEST_ENV='$(ASAN_ENV)' unit
debug:
	@$(MAKE) --no-print-directory VARIANT=debug TEST_ENV='GIL_DEBUG_NOABORT=1' unit

# `make test`: the README's test command.
test: unit examples-test bench-smoke
check: test

# gil.pc for pkg-config.
$(BUILD)/gil.pc: Makefile | $(BUILD)/obj
	@printf 'prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: gil\nDescription: an embeddable global interpreter lock modelled on CPython'"'"'s\nVersion: %s\nRequires.private: liburcu-bp\nLibs: -L$${libdir} -lgil\nLibs.private: -lpthread\nCflags: -I$${includedir}\n' \
	    '$(PREFIX)' '$(patsubst $(PREFIX)%,$${prefix}%,$(LIBDIR))' '$(patsubst $(PREFIX)%,$${prefix}%,$(INCDIR))' '$(VERSION)' > $@

install: lib $(BUILD)/gil.pc
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 644 include/gil.h $(DESTDIR)$(INCDIR)/gil.h
	install -m 644 $(BUILD)/libgil.a $(DESTDIR)$(LIBDIR)/libgil.a
	install -m 755 $(BUILD)/libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so.$(VERSION)
	ln -sf libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so.$(VERSION_MAJOR)
	ln -sf libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so
	install -m 644 $(BUILD)/gil.pc $(DESTDIR)$(LIBDIR)/pkgconfig/gil.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/gil.h $(DESTDIR)$(LIBDIR)/libgil.a $(DESTDIR)$(LIBDIR)/libgil.so* $(DESTDIR)$(LIBDIR)/pkgconfig/gil.pc

clean:
	rm -rf build build-debug build-tsan build-asan

# Benchmarks and examples keep their rules beside their sources.
-include bench/bench.mk
-include examples/examples.mk

# Until those exist, keep `make test` whole.
examples-test::
bench-smoke::
.PHONY: examples-test bench-smoke
