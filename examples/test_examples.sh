#!/bin/sh
# test_examples.sh BIN_DIR - run every example briefly and check its output;
# then check that every C snippet of docs/embedding.md compiles.
#
# Run from the repository root (make examples-test does).  Assertions are on
# content only: exact results, error messages and line numbers, exit codes.
# Nothing here compares times: the numbers the demos print are shown, not
# judged.  Every run has a hang detector (timeout).
#
# Environment (set by examples.mk; defaults for a run by hand):
#   CC, EXAMPLES_CFLAGS, EXAMPLES_LDLIBS   how to compile the docs' snippets
set -u

BIN=${1:?usage: test_examples.sh BIN_DIR}
PROGS=examples/minivm/programs
DOC=docs/embedding.md
HANG=60 # seconds: only a hang detector
CC=${CC:-cc}
EXAMPLES_CFLAGS=${EXAMPLES_CFLAGS:--std=c11 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Werror}
EXAMPLES_LDLIBS=${EXAMPLES_LDLIBS:-build/libgil.a -lurcu-bp -lurcu-common -lpthread -lm}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/libgil-examples.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

failures=0
checks=0

pass() { checks=$((checks + 1)); }
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "FAIL: $*"
}

# run NAME CMD...: run CMD with stdin from /dev/null unless redirected by the
# caller; stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, status in RC.
run() {
    name=$1
    shift
    timeout "$HANG" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null
    RC=$?
    if [ "$RC" = 124 ]; then
        fail "$name: no exit within ${HANG}s (hang)"
    fi
}

# run_stdin NAME INPUT CMD...: as run, with INPUT (backslash escapes
# expanded, as printf %b does) on stdin.
run_stdin() {
    name=$1
    input=$2
    shift 2
    printf '%b' "$input" | timeout "$HANG" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
}

expect_rc() { # NAME WANTED
    if [ "$RC" = "$2" ]; then pass; else
        fail "$1: exit status $RC, expected $2"
        sed 's/^/    | /' "$TMP/$1.err" | head -20
    fi
}

# expect NAME out|err FIXED-STRING: the stream contains the line fragment.
expect() {
    if grep -qF -- "$3" "$TMP/$1.$2"; then pass; else
        fail "$1: std$2 lacks: $3"
        sed 's/^/    | /' "$TMP/$1.$2" | head -20
    fi
}

# expect_re NAME out|err EXTENDED-REGEX
expect_re() {
    if grep -qE -- "$3" "$TMP/$1.$2"; then pass; else
        fail "$1: std$2 does not match: $3"
        sed 's/^/    | /' "$TMP/$1.$2" | head -20
    fi
}

line_of() { # FILE PATTERN: the number of the first line matching PATTERN
    grep -n -- "$2" "$1" | head -1 | cut -d: -f1
}

show() { # NAME: echo a demo's output into the test log, indented
    sed 's/^/    /' "$TMP/$1.out"
}

MINIVM="$BIN/minivm"

# ------------------------------------------------------------------------
echo "== minivm: programs"

run policies "$MINIVM" --list-policies
expect_rc policies 0
expect policies out cpython

run countdown "$MINIVM" "$PROGS/countdown.s" 200000
expect_rc countdown 0
expect countdown out "sequential, 1 thread:  400000 iterations"
expect countdown out "parallel, 2 threads:   400000 iterations"

run counter "$MINIVM" "$PROGS/counter.s" 20000
expect_rc counter 0
expect counter out "atomic increments: 80000 (expected 80000)"
expect_re counter out "^with a check point inside: [0-9]+ \\([0-9]+ updates lost\\)$"

run fib "$MINIVM" "$PROGS/fib.s" 15
expect_rc fib 0
expect fib out "fib(12) = 144"
expect fib out "fib(13) = 233"
expect fib out "fib(14) = 377"
expect fib out "fib(15) = 610"

run_stdin sum '4\n5\n-3\n' "$MINIVM" "$PROGS/sum.s"
expect_rc sum 0
expect sum out "read -3"
expect sum out "3 numbers, sum 6"

run_stdin sum_bad '1\nabc\n' "$MINIVM" "$PROGS/sum.s"
expect_rc sum_bad 1
expect sum_bad err "$PROGS/sum.s:$(line_of "$PROGS/sum.s" '^ *read'): error: read: \"abc\" is not an integer"

# Exit with daemon threads still running (one computing, one sleeping for
# an hour, one blocked on a read): gil_finalize parks them and the process
# exits at once, under every policy; none of them runs bytecode again.
while read -r policy; do
    run "daemon_$policy" "$MINIVM" --stats --policy "$policy" "$PROGS/daemon.s"
    expect_rc "daemon_$policy" 0
    expect "daemon_$policy" out "daemon: the ordinary thread finished"
    expect "daemon_$policy" out "daemon: main returns"
    expect_re "daemon_$policy" err "^minivm: exit with 3 daemon thread\\(s\\): gil_finalize deleted [0-9]+ state\\(s\\)"
    if grep -q "not reached" "$TMP/daemon_$policy.out"; then fail "daemon_$policy: a daemon ran after finalize"; else pass; fi
done <"$TMP/policies.out"

# The convoy demo under every policy the library offers (never a fixed list).
while read -r policy; do
    run "convoy_$policy" "$MINIVM" --stats --policy "$policy" "$PROGS/convoy.s" 100
    expect_rc "convoy_$policy" 0
    expect_re "convoy_$policy" out "^counting thread alone: +[1-9][0-9]* counts/ms$"
    expect_re "convoy_$policy" out "^I/O thread alone: +[1-9][0-9]* round trips/s, mean [0-9]+ us, max [0-9]+ us$"
    expect_re "convoy_$policy" out "^I/O thread beside counter: +[1-9][0-9]* round trips/s, mean [0-9]+ us, max [0-9]+ us$"
    expect_re "convoy_$policy" out "^(convoy: the I/O thread made [0-9]+x fewer round trips|no convoy: beside one counting thread the I/O thread kept [0-9]+% of its round trips)"
    expect "convoy_$policy" err "--- gil stats: policy $policy, switch interval 5000 us"
    expect_re "convoy_$policy" err "acquisitions [1-9][0-9]*, contended [0-9]+ \\([0-9.]+%\\), switches [0-9]+"
    expect_re "convoy_$policy" err "drop requests [0-9]+, forced switches [0-9]+"
    expect_re "convoy_$policy" err "^  wait +p50 .* p90 .* p99 .* max "
    expect_re "convoy_$policy" err "^  hold +p50 .* p90 .* p99 .* max "
    expect_re "convoy_$policy" err "^  0 +main "
    echo "  convoy, policy $policy (100 ms phases):"
    show "convoy_$policy"
done <"$TMP/policies.out"

# SIGINT: a pending call from the handler, then gil_shutdown unwinds a
# computing, a sleeping and a blocked thread.  A background job of a
# non-interactive shell ignores SIGINT; minivm installs its own handler.
timeout "$HANG" "$MINIVM" "$PROGS/interrupt.s" >"$TMP/interrupt.out" 2>"$TMP/interrupt.err" </dev/null &
pid=$!
tries=0
until grep -q "ready" "$TMP/interrupt.out" 2>/dev/null || [ $tries -ge 200 ]; do
    sleep 0.05
    tries=$((tries + 1))
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
RC=$?
expect_rc interrupt 130
expect interrupt err "interrupted"
if grep -q "not reached" "$TMP/interrupt.out"; then fail "interrupt: main went on after SIGINT"; else pass; fi

# ------------------------------------------------------------------------
echo "== minivm: errors"

# bad NAME EXPECTED-LINE MESSAGE-FRAGMENT: assemble $TMP/NAME.s (written by
# the caller), expect exit 2 and "NAME.s:LINE: error: MESSAGE".
bad() {
    run "$1" "$MINIVM" "$TMP/$1.s"
    expect_rc "$1" 2
    expect "$1" err "$TMP/$1.s:$2: error: $3"
}

printf 'func main\n    push 1\n    pusj 2\n    ret\nend\n' >"$TMP/bad_opcode.s"
bad bad_opcode 3 "unknown instruction 'pusj'"

printf 'func main\n    push 0\n    jz nowhere\n    push 1\n    ret\nend\n' >"$TMP/bad_label.s"
bad bad_label 3 "undefined label 'nowhere' in function 'main'"

printf '; comment\nfunc main\n    push 0\n    ret\n' >"$TMP/bad_noend.s"
bad bad_noend 2 "function 'main' has no 'end'"

printf 'func main 0 2\n    load 2\n    ret\nend\n' >"$TMP/bad_local.s"
bad bad_local 2 "'load 2': no such local: function 'main' has 2 (0 to 1)"

printf 'func main\n    push 1 2\n    ret\nend\n' >"$TMP/bad_extra.s"
bad bad_extra 2 "unexpected '2' after 'push'"

printf 'func main\n    push x\n    ret\nend\n' >"$TMP/bad_int.s"
bad bad_int 2 "'push': 'x' is not a 64-bit integer"

printf 'func main\n    call helper\n    ret\nend\n' >"$TMP/bad_func.s"
bad bad_func 2 "undefined function 'helper'"

printf 'func main\nl:  push 1\nl:  ret\nend\n' >"$TMP/bad_dup.s"
bad bad_dup 3 "label 'l' already defined at line 2"

printf 'func main\n    puts "oops\n    push 0\n    ret\nend\n' >"$TMP/bad_string.s"
bad bad_string 2 "unterminated string"

printf 'func main\n    push 0\n    print\nend\n' >"$TMP/bad_falloff.s"
bad bad_falloff 3 "function 'main' can run past its end"

printf 'push 1\n' >"$TMP/bad_outside.s"
bad bad_outside 1 "instruction 'push' outside a function"

printf 'func helper\n    push 0\n    ret\nend\n' >"$TMP/bad_nomain.s"
run bad_nomain "$MINIVM" "$TMP/bad_nomain.s"
expect_rc bad_nomain 2
expect bad_nomain err "$TMP/bad_nomain.s: error: no 'main' function"

run check_ok "$MINIVM" --check "$PROGS/convoy.s"
expect_rc check_ok 0
expect check_ok out "$PROGS/convoy.s: ok"

# Runtime errors name their line and exit 1.
printf 'func main\n    push 1\n    push 0\n    div\n    ret\nend\n' >"$TMP/rt_div.s"
run rt_div "$MINIVM" "$TMP/rt_div.s"
expect_rc rt_div 1
expect rt_div err "$TMP/rt_div.s:4: error: division by zero (thread 0, in 'main')"

printf 'func main\n    push 1\n    add\n    ret\nend\n' >"$TMP/rt_stack.s"
run rt_stack "$MINIVM" "$TMP/rt_stack.s"
expect_rc rt_stack 1
expect rt_stack err "$TMP/rt_stack.s:3: error: 'add' needs 2 values on the stack"

printf 'func main\n    push 7\n    join\n    ret\nend\n' >"$TMP/rt_join.s"
run rt_join "$MINIVM" "$TMP/rt_join.s"
expect_rc rt_join 1
expect rt_join err "$TMP/rt_join.s:3: error: join 7: no such thread"

# An error in one thread stops the others through gil_shutdown: the spinning
# main thread unwinds at its next check point, and the process exits.
cat >"$TMP/rt_thread.s" <<'EOF'
func crash
    push 1
    push 0
    mod
    ret
end
func main 0 1
    spawn crash
    pop
spin:
    load 0
    push 1
    add
    store 0
    jmp spin
end
EOF
run rt_thread "$MINIVM" --stats "$TMP/rt_thread.s"
expect_rc rt_thread 1
expect rt_thread err "$TMP/rt_thread.s:4: error: division by zero (thread 1, in 'crash')"
expect rt_thread err "--- gil stats"

run opt_policy "$MINIVM" --policy no-such-policy "$PROGS/fib.s"
expect_rc opt_policy 2
expect opt_policy err "unknown policy 'no-such-policy' (known: cpython"

run opt_interval "$MINIVM" --interval 0 "$PROGS/fib.s"
expect_rc opt_interval 2
expect opt_interval err "--interval wants microseconds > 0"

run opt_args "$MINIVM" "$PROGS/fib.s" 1 2
expect_rc opt_args 2
expect opt_args err "main takes 1 argument, 2 given"

run opt_interval_ok "$MINIVM" --interval 100 "$PROGS/counter.s" 5000
expect_rc opt_interval_ok 0
expect opt_interval_ok out "atomic increments: 20000 (expected 20000)"

# ------------------------------------------------------------------------
echo "== extension, foreign_thread, worker_pool"

run extension "$BIN/extension" 8
expect_rc extension 0
expect extension out "(same result)"
expect_re extension out "^releases the GIL \\(Pillow\\) "
expect_re extension out "^holds the GIL \\(json\\) "
# Deterministic: the I/O thread can finish a round trip only with the GIL,
# which the holding extension never lets go of during a call.
expect_re extension out "^round trips completed during calls: releasing [0-9]+, holding 0$"
show extension

run foreign "$BIN/foreign_thread" 1000
expect_rc foreign 0
expect foreign out "10 progress callbacks entered through gil_ensure from the library's thread, 10 nested ensures returned LOCKED"
expect foreign out "thread states after the library thread ended: 1 "
expect_re foreign out "1000 results queued as pending calls \\([0-9]+ retries on a full queue\\), 1000 ran"
expect foreign out "every pending call ran: yes (missing 0, twice 0), in order: yes, values: ok"
show foreign

run pool "$BIN/worker_pool" 40
expect_rc pool 0
expect_re pool out "^short tasks only +40 "
expect_re pool out "^\\+ long tasks +40 "
expect_re pool out "^\\+ long tasks in C +40 "
expect_re pool out "through a serial queue \\(one teller thread\\): total ([0-9]+), expected \\1 \\(exact\\)$"
show pool

# ------------------------------------------------------------------------
echo "== docs/embedding.md snippets"

# Each ```c block must follow a marker line:
#   <!-- snippet: PATH -->   the block appears verbatim in PATH (an example
#                            that is built above, so the block compiles);
#   <!-- compile -->         the block is a whole program: compiled, linked
#                            and run (exit status 0).
awk -v dir="$TMP" '
    /^<!-- snippet: .* -->$/ { marker = $3; next }
    /^<!-- compile -->$/     { marker = "COMPILE"; next }
    /^```c$/ {
        n++
        base = dir "/snippet" sprintf("%02d", n)
        file = base ".c"
        print (marker == "" ? "UNMARKED" : marker) > (base ".kind")
        close(base ".kind")
        inblock = 1; marker = ""; next
    }
    inblock && /^```$/ { inblock = 0; close(file); next }
    inblock { print > file; next }
    /[^ \t]/ { marker = "" }
' "$DOC"

nsnippets=0
for kind_file in "$TMP"/snippet*.kind; do
    [ -e "$kind_file" ] || break
    nsnippets=$((nsnippets + 1))
    snippet=${kind_file%.kind}.c
    kind=$(cat "$kind_file")
    label="$DOC snippet $(basename "$snippet" .c)"
    case $kind in
    UNMARKED)
        fail "$label: no <!-- snippet: PATH --> or <!-- compile --> marker before it"
        ;;
    COMPILE)
        # shellcheck disable=SC2086 # the flags are word lists
        if $CC $EXAMPLES_CFLAGS -o "$snippet.bin" "$snippet" $EXAMPLES_LDLIBS 2>"$snippet.log" &&
            timeout "$HANG" "$snippet.bin" >"$snippet.out" 2>&1; then
            pass
        else
            fail "$label: does not compile or does not exit 0"
            sed 's/^/    | /' "$snippet.log" "$snippet.out" 2>/dev/null | head -20
        fi
        ;;
    *)
        if [ ! -f "$kind" ]; then
            fail "$label: names $kind, which does not exist"
        elif awk -v sfile="$snippet" '
                BEGIN { while ((getline l < sfile) > 0) s = s l "\n" }
                { t = t $0 "\n" }
                END { exit index(t, s) ? 0 : 1 }' "$kind"; then
            pass
        else
            fail "$label: not found verbatim in $kind"
            sed 's/^/    | /' "$snippet" | head -10
        fi
        ;;
    esac
done
if [ "$nsnippets" -ge 1 ]; then pass; else fail "$DOC: no C snippets found"; fi
echo "  $nsnippets snippets checked"

# ------------------------------------------------------------------------
if [ "$failures" -ne 0 ]; then
    echo "examples: $failures of $checks checks FAILED"
    exit 1
fi
echo "examples: all $checks checks passed"
