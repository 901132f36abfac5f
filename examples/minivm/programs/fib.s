; fib.s - recursion and threads with results: fib(n) for four values of n,
; each in its own thread.  Every call is a check point, so the threads share
; the GIL even though no loop has a backward jump.
;
;   minivm programs/fib.s [N]                       (default N = 20)

func fib 1                  ; n -- fib(n)
    load 0
    push 2
    lt
    jnz small
    load 0
    push 1
    sub
    call fib
    load 0
    push 2
    sub
    call fib
    add
    ret
small:
    load 0
    ret
end

; Print "fib(n) = r".
func show 2                 ; n, r -- 0
    puts "fib("
    load 0
    print
    puts ") = "
    load 1
    print
    puts "\n"
    push 0
    ret
end

func main 1 9               ; n; 1..4 thread ids, 5..8 results
    load 0
    jnz have_n
    push 20
    store 0
have_n:
    load 0
    push 3
    sub
    spawn fib
    store 1
    load 0
    push 2
    sub
    spawn fib
    store 2
    load 0
    push 1
    sub
    spawn fib
    store 3
    load 0
    spawn fib
    store 4
    load 0
    push 3
    sub
    load 1
    join
    call show
    pop
    load 0
    push 2
    sub
    load 2
    join
    call show
    pop
    load 0
    push 1
    sub
    load 3
    join
    call show
    pop
    load 0
    load 4
    join
    call show
    pop
    push 0
    ret
end
