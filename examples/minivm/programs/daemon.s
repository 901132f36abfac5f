; daemon.s - exiting while daemon threads still run (Python's daemon=True).
;
; Three daemon threads are never joined: one computes forever (it holds the
; GIL between check points), one sleeps for an hour (it is outside the GIL,
; in a system call), one waits for a reply that never comes.  A fourth,
; ordinary thread is joined at exit as usual.  When main returns, minivm
; takes the GIL and calls gil_finalize(GIL_FINALIZE_PARK): the daemons never
; run bytecode again, the process exits at once with main's status, and the
; GIL is freed when the last daemon has come back and parked.
;
;   minivm --stats programs/daemon.s

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
    puts "daemon: not reached\n"
    push 0
    ret
end

func waiter 0
    push 0
    openecho
    read                    ; the peer echoes only what it receives: nothing
    pop
    puts "daemon: not reached\n"
    ret
end

func worker 0
    push 20000
    sleep
    puts "daemon: the ordinary thread finished\n"
    push 7
    ret
end

func main 0
    daemon spin
    pop
    daemon sleeper
    pop
    daemon waiter
    pop
    spawn worker
    pop
    push 50000              ; let every daemon get going
    sleep
    puts "daemon: main returns\n"
    push 0
    ret
end
