#!/bin/sh
# check_exports.sh LIB - only gil_* symbols may be exported by the shared
# library (it is built with -fvisibility=hidden).
lib=$1
# Sanitizer builds add their own indicator symbols (__odr_asan.*); those are
# the instrumentation's, not ours.
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^gil_' | grep -v '^_init$\|^_fini$\|^__odr_asan\.')
if [ -n "$bad" ]; then
    echo "FAIL: $lib exports symbols outside gil_*: $bad" >&2
    exit 1
fi
n=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^gil_')
[ "$n" -ge 30 ] || { echo "FAIL: only $n gil_* symbols exported" >&2; exit 1; }
echo "exports: $n symbols, all gil_*"
