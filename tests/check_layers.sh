#!/bin/sh
# check_layers.sh OBJDIR - the library's layers only look downward.
#
#   platform  <-  core  <-  policy    <-  gil.c (the top)
#                      <-  observe   <-
#
# Two checks, both from the sources and objects as they are:
#   1. includes: a file in gil/L/ includes only gil.h, system headers and
#      the headers of L and of the layers below L;
#   2. calls: no object of a layer references a symbol defined by an object
#      of a layer above it or beside it (policy and observe are siblings:
#      neither calls the other), read from `nm` of the compiled objects.
# Prints one line per violation and exits 1 if there is any.
set -eu
objdir=${1:?usage: check_layers.sh OBJDIR}
cd "$(dirname "$0")/.."

below() { # the layers a layer may use, itself included
    case $1 in
    platform) echo "platform" ;;
    core) echo "platform core" ;;
    policy) echo "platform core policy" ;;
    observe) echo "platform core observe" ;;
    top) echo "platform core policy observe top" ;;
    esac
}

layer_of_src() { # gil/core/x.c -> core; gil/gil.c -> top
    case $1 in
    gil/*/*) d=${1#gil/}; echo "${d%%/*}" ;;
    *) echo top ;;
    esac
}

fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Includes.
for f in gil/*.c gil/*/*.c gil/*/*.h; do
    layer=$(layer_of_src "$f")
    allowed=$(below "$layer")
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        [ "$inc" = gil.h ] && continue
        dir=${inc%%/*}
        [ "$dir" = "$inc" ] && { echo "check_layers: $f includes \"$inc\" (not under a layer folder)"; fail=1; continue; }
        case " $allowed " in
        *" $dir "*) ;;
        *) echo "check_layers: $f ($layer) includes \"$inc\" from layer $dir"; fail=1 ;;
        esac
    done
done

# 2. Calls: who defines each global symbol.
for o in $(find "$objdir" -name '*.o' | sort); do
    rel=${o#"$objdir"/}
    case $rel in
    */*) layer=${rel%%/*} ;;
    *) layer=top ;;
    esac
    nm -g --defined-only "$o" | awk -v l="$layer" 'NF >= 3 { print $3, l }' >> "$tmp/defs"
    nm -u "$o" | awk -v l="$layer" -v o="$rel" '{ print $NF, l, o }' >> "$tmp/uses"
done
[ -s "$tmp/defs" ] || { echo "check_layers: no objects in $objdir"; exit 1; }
sort -u "$tmp/defs" > "$tmp/defs.sorted"
while read -r sym layer obj; do
    def=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$tmp/defs.sorted")
    [ -z "$def" ] && continue # libc, liburcu, ...
    case " $(below "$layer") " in
    *" $def "*) ;;
    *) echo "check_layers: $obj ($layer) calls $sym, defined in layer $def"; fail=1 ;;
    esac
done < "$tmp/uses"

[ "$fail" = 0 ] && echo "layers: platform <- core <- policy, observe <- top: every include and call looks downward"
exit "$fail"
