; interrupt.s - stopping threads that are computing, sleeping and blocked.
;
; Three threads: one counts forever, one sleeps for an hour, one waits for
; a reply that never comes.  Press Ctrl-C: the SIGINT handler queues a
; pending call (gil_add_pending_call is async-signal-safe) and wakes the
; blocked threads; minivm then calls gil_shutdown, every thread unwinds at
; its next check point or system call, and the process exits with 130.
;
;   minivm programs/interrupt.s

func spin 0 1
loop:
    load 0
    push 1
    add
    store 0
    jmp loop
end

func sleeper 0
    push 3600000000
    sleep
    push 0
    ret
end

func waiter 0
    push 0
    openecho
    read                    ; the peer echoes only what it receives: nothing
    pop
    ret
end

func main 0 3
    spawn spin
    store 0
    spawn sleeper
    store 1
    spawn waiter
    store 2
    puts "interrupt: ready, press Ctrl-C\n"
    load 0
    join
    pop
    puts "interrupt: not reached\n"
    push 0
    ret
end
