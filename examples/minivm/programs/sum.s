; sum.s - a blocking read from a file descriptor.
;
; The main thread reads integers from standard input, one a line, until
; end of file; it releases the GIL while it waits, so a second thread keeps
; computing meanwhile.  Prints every number read, their count and sum.
;
;   seq 1 10 | minivm programs/sum.s

func spinner 0 1            ; counts until global 0 is set -- count
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

func main 0 4               ; 0 count, 1 sum, 2 value, 3 spinner id
    spawn spinner
    store 3
next:
    push 0
    read                    ; value ok; the GIL is released while it waits
    jz eof
    store 2
    puts "read "
    load 2
    print
    puts "\n"
    load 1
    load 2
    add
    store 1
    load 0
    push 1
    add
    store 0
    jmp next
eof:
    pop
    push 1
    gstore 0
    load 3
    join
    pop
    load 0
    print
    puts " numbers, sum "
    load 1
    print
    puts "\n"
    push 0
    ret
end
