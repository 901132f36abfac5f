#!/bin/sh
# check_no_printf.sh LIBGIL.A - the library references no printf-family
# function (issue 14: a host may replace them; libgil formats with its own
# gil__fmt_*, platform/format.c).  Reads the undefined symbols of every
# object in the archive with nm.
set -eu
lib=${1:?usage: check_no_printf.sh LIBGIL.A}
[ -f "$lib" ] || { echo "check_no_printf: no $lib" >&2; exit 1; }
# printf, fprintf, sprintf, snprintf, dprintf, asprintf and their v- forms,
# and the _FORTIFY_SOURCE variants (__snprintf_chk, ...).
bad=$(nm -u "$lib" | awk '{ print $NF }' |
      grep -E '^(__)?v?(s|sn|f|d|as)?printf(_chk)?$' | sort -u || true)
if [ -n "$bad" ]; then
    echo "FAIL: $lib references printf-family functions:" $bad >&2
    nm -A -u "$lib" | grep -E ' (__)?v?(s|sn|f|d|as)?printf(_chk)?$' >&2 || true
    exit 1
fi
n=$(nm -u "$lib" | awk '{ print $NF }' | sort -u | wc -l)
echo "no printf: $lib references none of the printf family ($n undefined symbols checked)"
