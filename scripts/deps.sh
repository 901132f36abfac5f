#!/bin/sh
# deps.sh PKG... - make sure the Debian packages are installed.
# Installs the missing ones with apt-get (through sudo when not root), or
# stops with one line naming them.  Used by the Makefile before every target
# that needs a package, so that `make test` and `make bench` are the first
# commands on a fresh Debian machine.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "libgil: missing packages:$missing (install them: apt-get install$missing)" >&2
    exit 1
fi
echo "libgil: installing$missing" >&2
APT="$SUDO env DEBIAN_FRONTEND=noninteractive apt-get"
# Try with the package lists as they are; refresh them once if that fails.
if ! { $APT install -y -qq $missing >/dev/null 2>&1 ||
       { $APT update -qq >/dev/null 2>&1 && $APT install -y -qq $missing >/dev/null 2>&1; }; }; then
    echo "libgil: could not install:$missing (try: apt-get install$missing)" >&2
    exit 1
fi
