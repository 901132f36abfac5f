; counter.s - shared state under the GIL.
;
; Four threads each add 1 to a global N times.  minivm switches threads
; only at check points (backward jumps and calls), so the four instructions
; `gload 0  push 1  add  gstore 0` always run as one piece: the total is
; exact with no lock in the program.  The second round puts a call (a check
; point) between the load and the store: another thread may run in between
; and updates can be lost, as with `x += 1` around a function call in
; Python.  Try a short interval to lose more:
;
;   minivm --interval 50 programs/counter.s [N]     (default N = 100000)

func add_atomic 1           ; n -- 0
loop:
    gload 0
    push 1
    add
    gstore 0
    load 0
    push 1
    sub
    dup
    store 0
    jnz loop
    push 0
    ret
end

func nothing 0
    push 0
    ret
end

func add_racy 1             ; n -- 0
loop:
    gload 1
    call nothing            ; a check point between the load and the store
    pop
    push 1
    add
    gstore 1
    load 0
    push 1
    sub
    dup
    store 0
    jnz loop
    push 0
    ret
end

func main 1 5               ; n; 1..4 thread ids
    load 0
    jnz have_n
    push 100000
    store 0
have_n:
    load 0
    spawn add_atomic
    store 1
    load 0
    spawn add_atomic
    store 2
    load 0
    spawn add_atomic
    store 3
    load 0
    spawn add_atomic
    store 4
    load 1
    join
    load 2
    join
    load 3
    join
    load 4
    join
    add
    add
    add
    pop
    puts "atomic increments: "
    gload 0
    print
    puts " (expected "
    load 0
    push 4
    mul
    print
    puts ")\n"

    load 0
    spawn add_racy
    store 1
    load 0
    spawn add_racy
    store 2
    load 0
    spawn add_racy
    store 3
    load 0
    spawn add_racy
    store 4
    load 1
    join
    pop
    load 2
    join
    pop
    load 3
    join
    pop
    load 4
    join
    pop
    puts "with a check point inside: "
    gload 1
    print
    puts " ("
    load 0
    push 4
    mul
    gload 1
    sub
    print
    puts " updates lost)\n"
    push 0
    ret
end
