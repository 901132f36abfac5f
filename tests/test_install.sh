#!/bin/sh
# test_install.sh - `make install` as a package build and as a user would use it.
#
#   1. Installs into one scratch DESTDIR twice, under two prefixes, as a
#      package build after an earlier install does: each prefix's gil.pc and
#      gil-static.pc must name that prefix (not the previous one).
#   2. For each prefix, compiles examples/foreign_thread.c (a program that
#      checks its own results) through pkg-config, with PKG_CONFIG_SYSROOT_DIR
#      and PKG_CONFIG_LIBDIR pointing into the DESTDIR, three ways, and runs
#      each with LD_LIBRARY_PATH unset unless said:
#        shared, with -Wl,-rpath (the README's way for a non-system prefix):
#          must load libgil.so.0 from that prefix;
#        shared, without rpath, run with LD_LIBRARY_PATH;
#        static (gil-static.pc): must not need libgil.so at all.
#   3. PREFIX=/usr puts the libraries in /usr/lib/<multiarch> (Debian).
#   4. A real install (no DESTDIR) into a scratch prefix: the installed
#      gilbench finds its CPython script there, its man page says where.
#   5. `make uninstall` removes every file it installed.
#
# Environment: MAKE, CC, BUILD as the calling make has them (`make install-test`,
# part of `make test`).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
make=${MAKE:-make}
cc=${CC:-cc}
build=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest
prog=$top/examples/foreign_thread.c
sys_pc_path=$(pkg-config --variable pc_path pkg-config)
checks=0

fail() {
    echo "test_install: FAIL: $*" >&2
    exit 1
}

ok() {
    checks=$((checks + 1))
}

# run_make TARGET VAR=VALUE...: make in the source tree, output kept for errors.
run_make() {
    target=$1
    shift
    if ! "$make" -C "$top" --no-print-directory BUILD="$build" CC="$cc" LDCONFIG=: "$@" "$target" \
        >"$tmp/make.log" 2>&1; then
        cat "$tmp/make.log" >&2
        fail "make $target $*"
    fi
}

# pc PREFIX ARGS...: pkg-config seeing only PREFIX's installed .pc files (and
# the system's, for liburcu-bp), as if the DESTDIR were the root.
pc() {
    p=$1
    shift
    PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_LIBDIR="$dest$p/lib/pkgconfig:$sys_pc_path" pkg-config "$@"
}

# needs_libgil BINARY: does BINARY's dynamic section ask for libgil.so?
needs_libgil() {
    readelf -d "$1" | grep NEEDED | grep -q 'libgil\.so'
}

# run_program BINARY WHAT [ENV...]: run it; it prints its checks and exits 0.
run_program() {
    bin=$1
    what=$2
    shift 2
    if ! env -u LD_LIBRARY_PATH "$@" "$bin" 200 >"$tmp/run.log" 2>&1; then
        cat "$tmp/run.log" >&2
        fail "$what: the program failed"
    fi
    grep -q 'every pending call ran: yes' "$tmp/run.log" || fail "$what: unexpected output"
}

# ---- 1. two prefixes, one DESTDIR ------------------------------------------------
check_pc_files() {
    p=$1
    for f in gil gil-static; do
        file=$dest$p/lib/pkgconfig/$f.pc
        [ -f "$file" ] || fail "$file not installed"
        grep -qx "prefix=$p" "$file" || fail "$file does not name prefix $p: $(grep '^prefix=' "$file")"
        ok
    done
    [ "$(pc "$p" --variable=prefix gil)" = "$dest$p" ] || fail "pkg-config finds another gil.pc than $p's"
}

run_make install DESTDIR="$dest" PREFIX=/opt/gil-a
check_pc_files /opt/gil-a
run_make install DESTDIR="$dest" PREFIX=/opt/gil-b
check_pc_files /opt/gil-b
check_pc_files /opt/gil-a # left alone by the second install

# ---- 2. build and run against each ------------------------------------------------
for p in /opt/gil-a /opt/gil-b; do
    libdir=$(pc "$p" --variable=libdir gil)
    [ "$libdir" = "$dest$p/lib" ] || fail "$p: pkg-config libdir is $libdir"

    # shellcheck disable=SC2046 # pkg-config's output is a list of flags
    "$cc" -o "$tmp/rpath" "$prog" $(pc "$p" --cflags --libs gil) -Wl,-rpath,"$libdir" ||
        fail "$p: shared build (rpath) failed"
    needs_libgil "$tmp/rpath" || fail "$p: the shared build does not need libgil.so"
    env -u LD_LIBRARY_PATH ldd "$tmp/rpath" | grep -q "libgil\.so\.0 => $libdir/libgil\.so\.0 " ||
        fail "$p: the shared build does not load $libdir/libgil.so.0: $(ldd "$tmp/rpath" | grep libgil)"
    run_program "$tmp/rpath" "$p: shared build (rpath)"
    ok

    # shellcheck disable=SC2046
    "$cc" -o "$tmp/shared" "$prog" $(pc "$p" --cflags --libs gil) || fail "$p: shared build failed"
    run_program "$tmp/shared" "$p: shared build (LD_LIBRARY_PATH)" LD_LIBRARY_PATH="$libdir"
    ok

    # shellcheck disable=SC2046
    "$cc" -o "$tmp/static" "$prog" $(pc "$p" --cflags --libs gil-static) ||
        fail "$p: static build failed"
    needs_libgil "$tmp/static" && fail "$p: the static build needs libgil.so: $(readelf -d "$tmp/static" | grep NEEDED)"
    nm "$tmp/static" | grep -q ' T gil_create$' || fail "$p: gil_create is not in the static build"
    run_program "$tmp/static" "$p: static build"
    ok
done

# ---- 3. Debian's multiarch directory for PREFIX=/usr --------------------------
multiarch=${DEB_HOST_MULTIARCH:-$("$cc" -print-multiarch 2>/dev/null || true)}
run_make install DESTDIR="$dest" PREFIX=/usr
if [ -n "$multiarch" ]; then
    [ -f "$dest/usr/lib/$multiarch/libgil.so.0" ] || fail "PREFIX=/usr: no usr/lib/$multiarch/libgil.so.0"
    grep -qx "libdir=\${prefix}/lib/$multiarch" "$dest/usr/lib/$multiarch/pkgconfig/gil.pc" ||
        fail "PREFIX=/usr: gil.pc's libdir is not lib/$multiarch"
else
    [ -f "$dest/usr/lib/libgil.so.0" ] || fail "PREFIX=/usr (no multiarch): no usr/lib/libgil.so.0"
fi
ok

# ---- 4. a real install: gilbench and its scripts --------------------------------
real=$tmp/real
run_make install PREFIX="$real"
"$real/bin/gilbench" --help | grep -q '^ *convoy  *an I/O thread' || fail "installed gilbench --help"
grep -q "$real/share/libgil/cpython/convoy.py" "$real/share/man/man1/gilbench.1" ||
    fail "the man page does not say where the scripts are"
grep -q '^\.SH OPTIONS' "$real/share/man/man1/gilbench.1" || fail "the man page has no OPTIONS"
if command -v python3 >/dev/null 2>&1; then
    (cd "$tmp" && "$real/bin/gilbench" --scenario cpython --policy cpython --threads 1 --seconds 0.02 \
        --quiet --json "$tmp/cpython.json") >"$tmp/gilbench.log" 2>&1 ||
        { cat "$tmp/gilbench.log" >&2; fail "installed gilbench --scenario cpython"; }
    grep -q '"runtime": "cpython", "reason"' "$tmp/cpython.json" &&
        fail "installed gilbench skipped CPython: $(grep -o '"reason": "[^"]*"' "$tmp/cpython.json")"
    grep -q '"runtime": "cpython"' "$tmp/cpython.json" || fail "installed gilbench did not run CPython"
    ok
fi

# ---- 5. uninstall -------------------------------------------------------------------
for p in /opt/gil-a /opt/gil-b /usr; do
    run_make uninstall DESTDIR="$dest" PREFIX="$p"
done
run_make uninstall PREFIX="$real"
left=$(find "$dest" "$real" ! -type d)
[ -z "$left" ] || fail "uninstall left: $left"
ok

echo "test_install: ok ($checks checks: two prefixes in one DESTDIR, shared (rpath, LD_LIBRARY_PATH) and static builds run, multiarch, gilbench, uninstall)"
