#!/bin/sh
# help-to-man.sh PROGRAM VERSION DATADIR SCRIPTS... - write PROGRAM's man page
# to stdout from its --help, which is already laid out as a manual
# (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, ...): each unindented upper-case
# line becomes a section, the rest is kept as written (no filling), and a
# FILES section names the installed scripts.
set -eu
prog=$1 version=$2 datadir=$3
shift 3
name=$(basename "$prog")
upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
printf '.TH %s 1 "" "libgil %s" "User Commands"\n' "$upper" "$version"
"$prog" --help | sed -e 's/\\/\\\\/g' -e "s/^'/\\\\\&'/" -e 's/^\./\\\&./' -e 's/^-/\\-/' |
    awk '/^[A-Z][A-Z ]*($| \()/ { print ".SH " $0; print ".nf"; next } { print }'
printf '.SH FILES\n.nf\n'
for f in "$@"; do
    printf '%s/%s\n' "$datadir" "$f"
done
printf '    the interpreter side of the cpython scenario; each runs standalone too.\n'
