#!/bin/sh
# charts.sh DIR CHART... - check the charts gilbench drew into DIR.
#
# For each CHART (a name: DIR/CHART.svg and its script DIR/CHART.gp) and
# every other .svg in DIR: gnuplot, run again on the script, must print
# nothing (no warning such as "empty y range"); rsvg-convert must render
# the SVG to a non-empty PNG.  CHARTS_PNG_DIR=dir keeps the PNGs there, to
# look at them.  Called by smoke_gilbench.sh (make test); needs gnuplot and
# rsvg-convert (Debian gnuplot-nox, librsvg2-bin: in DEPS_TEST).
set -eu

dir=${1:?usage: charts.sh DIR CHART...}
shift
fail() {
    echo "charts: FAIL: $*" >&2
    exit 1
}
command -v gnuplot >/dev/null 2>&1 || fail "gnuplot not found (Debian gnuplot-nox)"
command -v rsvg-convert >/dev/null 2>&1 || fail "rsvg-convert not found (Debian librsvg2-bin)"
for name in "$@"; do
    [ -s "$dir/$name.svg" ] || fail "$dir/$name.svg was not drawn"
    [ -s "$dir/$name.gp" ] || fail "$dir/$name.gp (its gnuplot script) is missing"
done

png_dir=${CHARTS_PNG_DIR:-$dir}
mkdir -p "$png_dir"
n=0
for svg in "$dir"/*.svg; do
    [ -e "$svg" ] || fail "no SVG in $dir"
    name=$(basename "$svg" .svg)
    if [ -e "$dir/$name.gp" ]; then
        (cd "$dir" && gnuplot "$name.gp") >"$png_dir/$name.gnuplot.txt" 2>&1 ||
            fail "gnuplot failed on $name.gp: $(head -3 "$png_dir/$name.gnuplot.txt")"
        [ -s "$png_dir/$name.gnuplot.txt" ] &&
            fail "gnuplot printed something drawing $name.svg: $(head -3 "$png_dir/$name.gnuplot.txt")"
        rm -f "$png_dir/$name.gnuplot.txt"
    fi
    rsvg-convert -o "$png_dir/$name.png" "$svg" || fail "rsvg-convert could not render $svg"
    [ -s "$png_dir/$name.png" ] || fail "$name.png is empty"
    # A PNG starts with \211PNG; a rendered chart is more than a few bytes.
    head -c 4 "$png_dir/$name.png" | grep -q PNG || fail "$name.png is not a PNG"
    [ "$(wc -c <"$png_dir/$name.png")" -gt 5000 ] || fail "$name.png is nearly empty"
    n=$((n + 1))
done
echo "charts: ok ($n SVG charts rendered to PNG, gnuplot silent)"
