; countdown.s - David Beazley's GIL experiment (2009): count down from N
; twice in one thread, then once in each of two threads at the same time.
; With a GIL only one thread counts at any moment, so the two threads take
; at least as long as the sequential run; the old GIL (Python <= 3.1) made
; them much slower on a multicore machine.
;
;   minivm --stats programs/countdown.s [N]         (default N = 10000000)
;
; Prints the iterations done (2 N in each run) and the time of each run.

func countdown 1 2          ; n -- iterations done
loop:
    load 0
    jz done
    load 0
    push 1
    sub
    store 0
    load 1
    push 1
    add
    store 1
    jmp loop                ; a backward jump: a check point
done:
    load 1
    ret
end

; Print "LABEL: I iterations in T ms" where t0 is the start time.
func report 2               ; iterations, t0 -- 0
    load 0
    print
    puts " iterations in "
    clock
    load 1
    sub
    push 1000
    div
    print
    puts " ms\n"
    push 0
    ret
end

func main 1 4               ; n; 1 t0, 2 thread a, 3 thread b
    load 0
    jnz have_n
    push 10000000
    store 0
have_n:
    puts "countdown from "
    load 0
    print
    puts "\n"

    clock
    store 1
    load 0
    call countdown
    load 0
    call countdown
    add
    puts "sequential, 1 thread:  "
    load 1
    call report
    pop

    clock
    store 1
    load 0
    spawn countdown
    store 2
    load 0
    spawn countdown
    store 3
    load 2
    join
    load 3
    join
    add
    puts "parallel, 2 threads:   "
    load 1
    call report
    pop
    push 0
    ret
end
