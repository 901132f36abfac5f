; convoy.s - the convoy effect (bpo-7946) in miniature.
;
; An I/O thread makes round trips with an echo peer (a native thread outside
; the interpreter that stands for a server): write a number, read it back.
; It releases the GIL around both system calls.  Alone, it runs as fast as
; the system calls allow.  Beside a thread that only counts, each return
; from a system call must wait until the counter is asked to drop the GIL:
; about one switch interval per round trip under the CPython policy, while
; the counter keeps nearly all of its speed.
;
;   minivm --stats programs/convoy.s [MS [RTT]]     (default 500 ms a phase)
;   minivm --policy NAME --interval USEC programs/convoy.s
;
; RTT (microseconds, default 0) delays each echo, as a network would.  With
; a local peer a round trip takes ~20 us; on a loaded machine the counter
; may then wake too late to take the GIL while the I/O thread is in its
; system call, and the convoy comes and goes.  RTT 100 makes it steady.
;
; globals: 0 = set to 1 to stop the counter
;          1 = the largest round-trip latency (us) of the last phase

func counter 0 1            ; -- count
loop:
    load 0
    push 1
    add
    store 0
    gload 0
    jz loop
    load 0
    ret
end

; Round trips on fd for ms milliseconds; at least one.
func roundtrips 2 6         ; fd, ms -- count; 2 deadline, 3 count, 4 t0, 5 latency
    clock
    load 1
    push 1000
    mul
    add
    store 2
    push 0
    gstore 1
again:
    clock
    store 4
    load 0
    load 3
    write                   ; GIL released around write(2)
    load 0
    read                    ; GIL released around read(2)
    jz closed
    load 3
    ne
    jnz garbled
    clock
    load 4
    sub
    store 5
    load 5
    gload 1
    gt
    jz counted
    load 5
    gstore 1
counted:
    load 3
    push 1
    add
    store 3
    clock
    load 2
    lt
    jnz again
    load 3
    ret
garbled:
    puts "convoy: the echo peer sent back another number\n"
    push -1
    ret
closed:
    pop
    puts "convoy: the echo peer closed the connection\n"
    push -1
    ret
end

; "R round trips/s, mean L us, max M us" for count round trips in ms.
func report 2               ; count, ms -- count
    load 0
    push 1000
    mul
    load 1
    div
    print
    puts " round trips/s, mean "
    load 1
    push 1000
    mul
    load 0
    div
    print
    puts " us, max "
    gload 1
    print
    puts " us\n"
    load 0
    ret
end

func main 2 7               ; ms, rtt (then the fd); 2 io alone, 3 io busy, 4 tid, 5, 6 counts
    load 0
    jnz have_ms
    push 500
    store 0
have_ms:
    puts "convoy: "
    load 0
    print
    puts " ms per phase, echo peer round-trip delay "
    load 1
    print
    puts " us\n"
    load 1
    openecho
    store 1

    ; phase 1: the counting thread alone (main sleeps without the GIL)
    push 0
    gstore 0
    spawn counter
    store 4
    load 0
    push 1000
    mul
    sleep
    push 1
    gstore 0
    load 4
    join
    load 0
    div
    store 5
    puts "counting thread alone:        "
    load 5
    print
    puts " counts/ms\n"

    ; phase 2: the I/O thread alone (main is the I/O thread)
    load 1
    load 0
    call roundtrips
    store 2
    puts "I/O thread alone:             "
    load 2
    load 0
    call report
    pop

    ; phase 3: both at once
    push 0
    gstore 0
    spawn counter
    store 4
    load 1
    load 0
    call roundtrips
    store 3
    push 1
    gstore 0
    load 4
    join
    load 0
    div
    store 6
    puts "I/O thread beside counter:    "
    load 3
    load 0
    call report
    pop
    puts "counting thread beside I/O:   "
    load 6
    print
    puts " counts/ms ("
    load 6
    push 100
    mul
    load 5
    push 1
    add
    div
    print
    puts "% of alone)\n"

    ; Fewer round trips beside the counter (the convoy), or not (a policy
    ; that serves the I/O thread first).
    load 3
    load 2
    lt
    jz no_convoy
    puts "convoy: the I/O thread made "
    load 2
    load 3
    push 1
    add
    div
    print
    puts "x fewer round trips beside one counting thread\n"
    push 0
    ret
no_convoy:
    puts "no convoy: beside one counting thread the I/O thread kept "
    load 3
    push 100
    mul
    load 2
    push 1
    add
    div
    print
    puts "% of its round trips\n"
    push 0
    ret
end
