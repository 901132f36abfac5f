# libgil - build, test, install.
#
#   make              libgil.a and libgil.so (SONAME libgil.so.0) in build/
#   make test         unit tests (cmocka), examples, the gilbench smoke test and
#                     the install test (tests/test_install.sh)
#   make bench        the convoy benchmark suite with its defaults
#   make bench-micro  google-benchmark micro benchmarks (flags: BENCH_ARGS=...)
#   make tsan / asan  the unit tests under ThreadSanitizer / ASan+UBSan
#   make debug        the unit tests against a GIL_DEBUG (checker) build
#   make install PREFIX=/usr/local DESTDIR=   (and uninstall; see "install" below)
#
# Every target that needs a Debian package installs it first (scripts/deps.sh),
# or stops with one line naming it.

CC      ?= cc
CXX     ?= c++
# Installation directories.  LIBDIR follows Debian's layout: with PREFIX=/usr
# the libraries go to /usr/lib/<multiarch> (/usr/lib/x86_64-linux-gnu), the
# directory Debian's linker, ld.so and pkg-config search; the multiarch
# triplet is DEB_HOST_MULTIARCH (set by dpkg-buildpackage), else what the
# compiler reports (-print-multiarch), else dpkg-architecture's answer.  Any
# other PREFIX (/usr/local, /opt/gil, $HOME/.local) gets $(PREFIX)/lib, which
# Debian's ld.so.conf and pkg-config path already include for /usr/local.
PREFIX  ?= /usr/local
DESTDIR ?=
ifeq ($(patsubst %/,%,$(PREFIX)),/usr)
DEB_HOST_MULTIARCH ?= $(shell $(CC) -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
LIBDIR  ?= $(PREFIX)/lib$(if $(strip $(DEB_HOST_MULTIARCH)),/$(strip $(DEB_HOST_MULTIARCH)))
else
LIBDIR  ?= $(PREFIX)/lib
endif
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man

# Variant: release (default), debug, tsan, asan.  Each builds in its own dir.
VARIANT ?= release
BUILD   ?= build$(if $(filter release,$(VARIANT)),,-$(VARIANT))

VERSION_MAJOR := $(shell sed -n 's/^\#define GIL_VERSION_MAJOR //p' include/gil.h)
VERSION_MINOR := $(shell sed -n 's/^\#define GIL_VERSION_MINOR //p' include/gil.h)
VERSION_PATCH := $(shell sed -n 's/^\#define GIL_VERSION_PATCH //p' include/gil.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

DEPS_LIB   := liburcu-dev pkg-config
DEPS_TEST  := libcmocka-dev python3-prometheus-client libbenchmark-tools python3-scipy gnuplot-nox librsvg2-bin
DEPS_BENCH := libbenchmark-dev gnuplot-nox libbenchmark-tools python3-scipy valgrind
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

# The library's layers (docs/design.md): gil/platform, gil/core, gil/policy,
# gil/observe, and gil/gil.c on top; tests/check_layers.sh checks that each
# layer only includes and calls the layers below it.
LIB_LAYERS := platform core policy observe
LIB_SRCS := $(sort $(wildcard gil/*.c $(addsuffix /*.c,$(addprefix gil/,$(LIB_LAYERS)))))
LIB_OBJS := $(patsubst gil/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_HDRS := include/gil.h $(wildcard gil/*/*.h)

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
	@mkdir -p $(@D)
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

# A host that replaces the printf family (issue 14): its own definitions
# must win over libc's for everything linked from libgil.a, so no builtins.
$(BUILD)/tests/interpose_host: tests/interpose_host.c $(BUILD)/libgil.a | $(BUILD)/tests
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -fno-builtin -o $@ $< $(LDLIBS_APP)

.PHONY: trace-demo
trace-demo: $(BUILD)/tests/trace_demo
	./$(BUILD)/tests/trace_demo --policy cpython --json $(BUILD)/convoy-cpython.json --svg docs/img/convoy-cpython.svg
	./$(BUILD)/tests/trace_demo --policy priority --window-ms 2 --json $(BUILD)/convoy-priority.json --svg docs/img/convoy-priority.svg
	./$(BUILD)/tests/trace_demo --policy cpython --stall-ms 30 --watchdog 4 --window-ms 60 --json $(BUILD)/stall-cpython.json --svg docs/img/stall-cpython.svg

# The C++ compile test of the public header: the C++ compiler's strict
# warnings, and clang++'s -Weverything when clang++ is there (a C++ user's
# -Werror build must stay clean; the C++98-compatibility groups do not apply
# to a C++11 header).
CXX_EVERYTHING := -Weverything -Wno-c++98-compat -Wno-c++98-compat-pedantic -Werror
$(BUILD)/tests/cxx_header: tests/cxx_header.cc include/gil.h $(BUILD)/libgil.a | $(BUILD)/tests
	@$(if $(Q),echo "  CXX     $@")
	$(Q)$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude $(OPT) -o $@ $< $(LDLIBS_APP)
	$(Q)if command -v clang++ >/dev/null 2>&1; then \
	    clang++ -std=c++11 $(CXX_EVERYTHING) -Iinclude -fsyntax-only $<; \
	    echo "  gil.h: clang++ -Weverything clean"; fi

# The unit tests.  Each binary is a cmocka group, and the whole suite runs
# once per scheduling policy (GIL_TEST_POLICY); TEST_ENV lets sanitizer
# variants pass options.  POLICIES=cpython runs one policy only.
POLICIES ?= cpython legacy fifo priority
unit: $(TEST_BINS) $(BUILD)/tests/cxx_header $(BUILD)/libgil.so $(BUILD)/tests/interpose_host
	@set -e; for p in $(POLICIES); do for t in $(TEST_BINS); do \
	    echo "== $$t [policy $$p]"; $(TEST_ENV) GIL_TEST_VARIANT=$(VARIANT) GIL_TEST_POLICY=$$p ./$$t; done; done
	@./$(BUILD)/tests/cxx_header
	@tests/check_exports.sh $(BUILD)/libgil.so
	@tests/check_layers.sh $(BUILD)/obj
	@tests/check_no_printf.sh $(BUILD)/libgil.a
	@$(TEST_ENV) tests/check_interpose.sh $(BUILD)

TSAN_ENV := TSAN_OPTIONS="die_after_fork=0 halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp"
ASAN_ENV := ASAN_OPTIONS="detect_leaks=1 abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"

tsan:
	@$(MAKE) --no-print-directory VARIANT=tsan TEST_ENV='$(TSAN_ENV) GIL_TEST_SCALE=10' unit
asan:
	@$(MAKE) --no-print-directory VARIANT=asan TEST_ENV='$(ASAN_ENV)' unit
debug:
	@$(MAKE) --no-print-directory VARIANT=debug TEST_ENV='GIL_DEBUG_NOABORT=1' unit

# `make test`: the README's test command.
test: unit examples-test bench-smoke install-test
check: test

clean:
	rm -rf build build-debug build-tsan build-asan

# Benchmarks and examples keep their rules beside their sources.
-include bench/bench.mk
-include examples/examples.mk

# Until those exist, keep `make test` whole.
examples-test::
bench-smoke::
.PHONY: examples-test bench-smoke

# ---- install -------------------------------------------------------------------
# After the includes: gilbench's rule and $(GILBENCH) live in bench/bench.mk.
#
#   $(LIBDIR)         libgil.a, libgil.so.$(VERSION) and its two links,
#                     pkgconfig/gil.pc (shared) and pkgconfig/gil-static.pc
#                     (libgil.a itself; liburcu-bp and libc stay shared)
#   $(INCDIR)         gil.h
#   $(BINDIR)         gilbench
#   $(DATADIR)/libgil the CPython and Ruby halves of gilbench's cpython scenario
#   $(MANDIR)/man1    gilbench.1, made from `gilbench --help` (scripts/help-to-man.sh)
#
# Everything below that names a directory depends on $(INSTALL_BUILD)/dirs,
# a file holding the directories and version, rewritten only when one of them
# changes: a second `make install PREFIX=...` regenerates gil.pc (and the
# gilbench that knows where its scripts are) for the new prefix, and an
# unchanged one rebuilds nothing.  DESTDIR is not in it: it is where the
# files are put, never what they say.

INSTALL_BUILD    := $(BUILD)/install
GILBENCH_DATADIR  = $(DATADIR)/libgil
GILBENCH_SCRIPTS := cpython/convoy.py ruby/convoy.rb
INSTALL_DIRS      = version=$(VERSION) prefix=$(PREFIX) libdir=$(LIBDIR) includedir=$(INCDIR) \
                    bindir=$(BINDIR) datadir=$(DATADIR) mandir=$(MANDIR)
PC_FILES         := $(INSTALL_BUILD)/gil.pc $(INSTALL_BUILD)/gil-static.pc

.PHONY: FORCE install-test
FORCE:

$(INSTALL_BUILD):
	@mkdir -p $@

$(INSTALL_BUILD)/dirs: FORCE | $(INSTALL_BUILD)
	@printf '%s\n' '$(INSTALL_DIRS)' | cmp -s - $@ 2>/dev/null || printf '%s\n' '$(INSTALL_DIRS)' > $@

# A directory as pkg-config sees it: relative to ${prefix} when under it, so
# that `pkg-config --define-variable=prefix=...` moves them all.
pc_dir = $(patsubst $(PREFIX)%,$${prefix}%,$(1))

# pc_file(NAME, DESCRIPTION, REQUIRES LINE, LIBS): one .pc file on stdout.
pc_file = printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call pc_dir,$(LIBDIR))' \
              'includedir=$(call pc_dir,$(INCDIR))' '' 'Name: $(1)' 'Description: $(2)' \
              'Version: $(VERSION)' '$(3)' 'Libs: $(4)' 'Cflags: -I$${includedir}'

# gil.pc: -lgil is libgil.so wherever both are installed, even with
# `pkg-config --static` (which only adds the private dependencies).
$(INSTALL_BUILD)/gil.pc: $(INSTALL_BUILD)/dirs
	@$(call pc_file,gil,an embeddable global interpreter lock modelled on CPython'"'"'s,Requires.private: liburcu-bp,-L$${libdir} -lgil) > $@
	@printf 'Libs.private: -lpthread\n' >> $@

# gil-static.pc: names the archive (-l:libgil.a), so the program does not need
# libgil.so.$(VERSION_MAJOR) at run time; liburcu-bp is then a public
# requirement, because libgil.a's references to it land in the program.
$(INSTALL_BUILD)/gil-static.pc: $(INSTALL_BUILD)/dirs
	@$(call pc_file,gil-static,libgil linked statically (libgil.a),Requires: liburcu-bp,-L$${libdir} -l:libgil.a -lpthread) > $@

# The installed gilbench is $(GILBENCH) with the installed scripts' folder
# compiled in instead of the source tree's.  It depends on $(GILBENCH) so
# that bench.mk's rule decides when gilbench's sources changed.
$(INSTALL_BUILD)/gilbench: $(GILBENCH) $(INSTALL_BUILD)/dirs
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS_APP) -DGILBENCH_SCRIPT_DIR='"$(GILBENCH_DATADIR)"' -o $@ $(GILBENCH_SRCS) bench/timeline.c $(LDLIBS_APP)

# The man page is gilbench --help (already laid out as a manual: NAME,
# SYNOPSIS, OPTIONS, ...) in man(7) form, plus where the scripts are.
$(INSTALL_BUILD)/gilbench.1: $(INSTALL_BUILD)/gilbench scripts/help-to-man.sh
	@$(if $(Q),echo "  MAN     $@")
	$(Q)scripts/help-to-man.sh $< '$(VERSION)' '$(GILBENCH_DATADIR)' $(GILBENCH_SCRIPTS) > $@

INSTALLED_FILES = $(INCDIR)/gil.h $(LIBDIR)/libgil.a $(LIBDIR)/libgil.so.$(VERSION) \
                  $(LIBDIR)/libgil.so.$(VERSION_MAJOR) $(LIBDIR)/libgil.so \
                  $(LIBDIR)/pkgconfig/gil.pc $(LIBDIR)/pkgconfig/gil-static.pc $(BINDIR)/gilbench \
                  $(MANDIR)/man1/gilbench.1 $(addprefix $(GILBENCH_DATADIR)/,$(GILBENCH_SCRIPTS))

# ldconfig refreshes ld.so's cache for a real install as root (a DESTDIR
# install is a package's staging area: its package manager does that).
# LDCONFIG=: skips it.
LDCONFIG ?= ldconfig
install: lib $(PC_FILES) $(INSTALL_BUILD)/gilbench $(INSTALL_BUILD)/gilbench.1
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(addprefix $(DESTDIR)$(GILBENCH_DATADIR)/,$(sort $(dir $(GILBENCH_SCRIPTS))))
	install -m 644 include/gil.h $(DESTDIR)$(INCDIR)/gil.h
	install -m 644 $(BUILD)/libgil.a $(DESTDIR)$(LIBDIR)/libgil.a
	install -m 755 $(BUILD)/libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so.$(VERSION)
	ln -sf libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so.$(VERSION_MAJOR)
	ln -sf libgil.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgil.so
	install -m 644 $(PC_FILES) $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 755 $(INSTALL_BUILD)/gilbench $(DESTDIR)$(BINDIR)/gilbench
	install -m 644 $(INSTALL_BUILD)/gilbench.1 $(DESTDIR)$(MANDIR)/man1/gilbench.1
	$(foreach f,$(GILBENCH_SCRIPTS),install -m 644 bench/$(f) $(DESTDIR)$(GILBENCH_DATADIR)/$(f) &&) true
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && command -v $(firstword $(LDCONFIG)) >/dev/null 2>&1; then $(LDCONFIG); fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	-rmdir $(addprefix $(DESTDIR)$(GILBENCH_DATADIR)/,$(sort $(dir $(GILBENCH_SCRIPTS)))) $(DESTDIR)$(GILBENCH_DATADIR) 2>/dev/null

# Installs into a scratch DESTDIR under two prefixes (and /usr), builds and runs
# a program against each, shared and static.  Part of `make test`.
install-test: lib $(GILBENCH)
	@MAKE='$(MAKE)' CC='$(CC)' BUILD='$(BUILD)' tests/test_install.sh
