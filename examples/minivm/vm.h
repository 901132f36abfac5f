/*
 * vm.h - minivm, a small stack-based bytecode interpreter with threads,
 * written to show how an interpreter embeds libgil.
 *
 *   asm.c     the text assembler: programs/NAME.s -> instructions
 *   vm.c      the dispatch loop, threads, the check points
 *   sys.c     the blocking instructions (sleep, read, write, output) and
 *             the echo peer, all run without the GIL
 *   main.c    flags, GIL creation, signals, finalization, --stats
 *
 * The GIL protects what interpreter threads share while they run bytecode:
 * the globals.  The thread table and the echo peers have mutexes of their
 * own, because the finalizing main thread reads them without the GIL.  What
 * a thread does without the GIL (inside GIL_BEGIN/END_ALLOW_THREADS) touches
 * only its own locals and buffers.
 */
#ifndef MINIVM_VM_H
#define MINIVM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gil.h"

typedef int64_t vm_value_t;

#define VM_STACK_SLOTS 1024 /* values per thread (locals + operands) */
#define VM_MAX_FRAMES 256   /* call depth per thread */
#define VM_MAX_ARGS 8       /* arguments of one function */
#define VM_MAX_LOCALS 64    /* locals of one function (arguments included) */
#define VM_GLOBALS 16       /* global slots, shared by every thread */
#define VM_MAX_THREADS 256  /* threads spawned in one run, main included */
#define VM_MAX_PEERS 8      /* echo peers opened in one run */
#define VM_NAME_MAX 32      /* function names, bytes with the NUL */
#define VM_LINE_MAX 256     /* one thread's pending output line */

/* Operand kinds, checked by the assembler. */
typedef enum {
    VM_ARG_NONE,
    VM_ARG_INT,    /* an integer literal */
    VM_ARG_LOCAL,  /* a local slot of the current function */
    VM_ARG_GLOBAL, /* a global slot, 0 .. VM_GLOBALS-1 */
    VM_ARG_LABEL,  /* a label of the current function */
    VM_ARG_FUNC,   /* a function name */
    VM_ARG_STRING  /* a "string literal" */
} vm_arg_kind_t;

/*
 * XX(OPCODE, mnemonic, operand kind), with the stack effect in a comment
 * ("before -- after", top of the stack on the right).  The one table gives
 * the opcode enum and the assembler's mnemonics and operand checks.
 */
#define VM_OPCODES(XX)                                                      \
    XX(PUSH, "push", VM_ARG_INT)          /* -- n */                        \
    XX(POP, "pop", VM_ARG_NONE)           /* a -- */                        \
    XX(DUP, "dup", VM_ARG_NONE)           /* a -- a a */                    \
    XX(SWAP, "swap", VM_ARG_NONE)         /* a b -- b a */                  \
    XX(OVER, "over", VM_ARG_NONE)         /* a b -- a b a */                \
    XX(ADD, "add", VM_ARG_NONE)           /* a b -- a+b */                  \
    XX(SUB, "sub", VM_ARG_NONE)           /* a b -- a-b */                  \
    XX(MUL, "mul", VM_ARG_NONE)           /* a b -- a*b */                  \
    XX(DIV, "div", VM_ARG_NONE)           /* a b -- a/b */                  \
    XX(MOD, "mod", VM_ARG_NONE)           /* a b -- a%b */                  \
    XX(NEG, "neg", VM_ARG_NONE)           /* a -- -a */                     \
    XX(EQ, "eq", VM_ARG_NONE)             /* a b -- a==b */                 \
    XX(NE, "ne", VM_ARG_NONE)             /* a b -- a!=b */                 \
    XX(LT, "lt", VM_ARG_NONE)             /* a b -- a<b */                  \
    XX(LE, "le", VM_ARG_NONE)             /* a b -- a<=b */                 \
    XX(GT, "gt", VM_ARG_NONE)             /* a b -- a>b */                  \
    XX(GE, "ge", VM_ARG_NONE)             /* a b -- a>=b */                 \
    XX(NOT, "not", VM_ARG_NONE)           /* a -- !a */                     \
    XX(JMP, "jmp", VM_ARG_LABEL)          /* -- */                          \
    XX(JZ, "jz", VM_ARG_LABEL)            /* a -- (jump if a == 0) */       \
    XX(JNZ, "jnz", VM_ARG_LABEL)          /* a -- (jump if a != 0) */       \
    XX(LOAD, "load", VM_ARG_LOCAL)        /* -- local */                    \
    XX(STORE, "store", VM_ARG_LOCAL)      /* a -- (local = a) */            \
    XX(GLOAD, "gload", VM_ARG_GLOBAL)     /* -- global */                   \
    XX(GSTORE, "gstore", VM_ARG_GLOBAL)   /* a -- (global = a) */           \
    XX(CALL, "call", VM_ARG_FUNC)         /* args -- result */              \
    XX(RET, "ret", VM_ARG_NONE)           /* a -- (return a) */             \
    XX(SPAWN, "spawn", VM_ARG_FUNC)       /* args -- thread id */           \
    XX(DAEMON, "daemon", VM_ARG_FUNC)     /* args -- thread id (not joined  \
                                             at exit: Python's daemon) */   \
    XX(JOIN, "join", VM_ARG_NONE)         /* id -- its result */            \
    XX(SLEEP, "sleep", VM_ARG_NONE)       /* usec -- */                     \
    XX(CLOCK, "clock", VM_ARG_NONE)       /* -- monotonic usec */           \
    XX(PRINT, "print", VM_ARG_NONE)       /* a -- (prints a, no newline) */ \
    XX(PUTS, "puts", VM_ARG_STRING)       /* -- (prints the string) */      \
    XX(READ, "read", VM_ARG_NONE)         /* fd -- n ok (ok 0 at EOF) */    \
    XX(WRITE, "write", VM_ARG_NONE)       /* fd n -- (writes "n\n") */      \
    XX(OPENECHO, "openecho", VM_ARG_NONE) /* rtt_us -- fd of an echo peer */

typedef enum {
#define VM__OP_ENUM(op, mnemonic, kind) VM_OP_##op,
    VM_OPCODES(VM__OP_ENUM)
#undef VM__OP_ENUM
    VM_OP_COUNT
} vm_opcode_t;

typedef struct vm_insn {
    uint8_t op;      /* vm_opcode_t */
    uint32_t line;   /* source line, for error messages */
    int64_t arg;     /* literal, slot, code index, function or string index */
} vm_insn_t;

typedef struct vm_func {
    char name[VM_NAME_MAX];
    int nargs;       /* arguments: locals 0 .. nargs-1 */
    int nlocals;     /* locals, arguments included */
    size_t entry;    /* index of the first instruction */
    uint32_t line;   /* line of its `func` directive */
} vm_func_t;

typedef struct vm_program {
    const char *path;
    vm_insn_t *code;
    size_t ncode;
    vm_func_t *funcs;
    size_t nfuncs;
    char **strings;
    size_t nstrings;
    int main_func;   /* index of `main` */
} vm_program_t;

/* asm.c */
const char *vm_opcode_name(int op);
/* Assemble the file at path.  On error prints "path:LINE: error: ..." to
 * stderr and returns -1; prog is then empty. */
int vm_assemble(const char *path, vm_program_t *prog);
void vm_program_free(vm_program_t *prog);

typedef struct vm vm_t;

/* An echo peer: a native thread at the other end of a socket. */
typedef struct vm_peer {
    int fd;              /* the interpreter's end */
    int peer_fd;         /* the peer thread's end */
    vm_value_t delay_us; /* waited before each echo: a network's round trip */
    pthread_t thread;
} vm_peer_t;

/* Status of running code; the dispatch loop's functions return these. */
typedef enum {
    VM_OK = 0,     /* carry on / finished normally */
    VM_ERROR = 1,  /* a runtime error, already reported; the VM stops */
    VM_UNWIND = 2  /* the VM is stopping: unwind quietly */
} vm_status_t;

/* The code a pending call queued from the SIGINT handler makes gil_check
 * return: a positive value, so it cannot be confused with a GIL_E* code. */
#define VM_INTERRUPT_CODE 130

typedef struct vm_frame {
    size_t return_pc;
    size_t base;     /* stack index of local 0 */
    int func;
} vm_frame_t;

/* One interpreter thread.  Slots are written under the thread table lock
 * when created and claimed; the rest belongs to the thread itself until it
 * exits (pthread_join orders what it wrote before the joiner reads it). */
typedef struct vm_thread {
    vm_t *vm;
    int id;                   /* index in the thread table */
    int func;                 /* the function it runs */
    int nargs;
    vm_value_t args[VM_MAX_ARGS];
    pthread_t pthread;        /* not for the main thread */
    gil_tstate_t *ts;
    int joined;               /* claimed by a join (thread table lock) */
    int daemon;               /* not joined at exit; may outlive the VM [const] */
    vm_value_t result;        /* its function's return value */
    int have_stats;
    gil_tstate_stats_t stats; /* snapshot taken just before exiting */

    char out[VM_LINE_MAX];    /* output not yet written (one line) */
    size_t outlen;

    size_t sp;                /* stack[sp] is the first free slot */
    int depth;                /* frames in use */
    vm_frame_t frames[VM_MAX_FRAMES];
    vm_value_t stack[VM_STACK_SLOTS];
} vm_thread_t;

struct vm {
    const vm_program_t *prog;
    gil_t *gil;
    vm_value_t globals[VM_GLOBALS];     /* [GIL] */

    /* The thread table is read by the finalizing main thread without the
     * GIL (after gil_shutdown nobody may be able to take it), so it has
     * its own lock. */
    pthread_mutex_t threads_lock;
    vm_thread_t *threads[VM_MAX_THREADS];
    int nthreads;

    pthread_mutex_t peers_lock;
    int npeers;
    vm_peer_t peers[VM_MAX_PEERS];

    /* Readable once the VM stops: every blocking instruction polls it, so
     * that no thread stays blocked in a system call after gil_shutdown. */
    int stop_pipe[2];
    atomic_int stopping;
    atomic_int failed;                  /* a runtime error was reported */
    atomic_int interrupt_reported;
    volatile sig_atomic_t interrupted;  /* SIGINT arrived */
};

/* vm.c */
int vm_init(vm_t *vm, const vm_program_t *prog, gil_t *gil);
/* Run `main` on the calling thread with args, then wait for every thread
 * it spawned.  Returns the process exit status: 0, 1 (runtime error) or
 * 130 (interrupted). */
int vm_run_main(vm_t *vm, const vm_value_t *args, int nargs);
/* The number of daemon threads the program spawned (any of them may still
 * run). */
int vm_has_daemons(vm_t *vm);
/* Exit with daemons: take the GIL, gil_finalize(GIL_FINALIZE_PARK).  The VM
 * must then be left allocated (a daemon may still read it). */
int vm_finalize(vm_t *vm, gil_finalize_report_t *report);
void vm_destroy(vm_t *vm);
/* Begin stopping: gil_shutdown, then wake every blocked instruction.
 * Idempotent.  Not async-signal-safe (see vm_signal_interrupt). */
void vm_stop(vm_t *vm);
/* Report a runtime error at instruction in of thread t; stops the VM and
 * returns VM_ERROR.  Call with or without the GIL. */
vm_status_t vm_fail(vm_thread_t *t, const vm_insn_t *in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* From the SIGINT handler: async-signal-safe. */
void vm_signal_interrupt(vm_t *vm);

/* sys.c: the blocking instructions.  Each is called with the GIL held,
 * releases it around its system calls, and returns with it held, or
 * returns VM_UNWIND without it when the VM stopped meanwhile. */
vm_status_t vm_sys_sleep(vm_thread_t *t, const vm_insn_t *in, vm_value_t usec);
vm_status_t vm_sys_read(vm_thread_t *t, const vm_insn_t *in, vm_value_t fd,
                        vm_value_t *value, vm_value_t *ok);
vm_status_t vm_sys_write(vm_thread_t *t, const vm_insn_t *in, vm_value_t fd,
                         vm_value_t value);
vm_status_t vm_sys_join(vm_thread_t *t, const vm_insn_t *in, vm_thread_t *target);
/* Append text to the thread's output line; writes it out (without the GIL)
 * when a newline arrives or the line is full. */
vm_status_t vm_sys_output(vm_thread_t *t, const vm_insn_t *in, const char *text,
                          size_t len);
/* Write whatever output the thread still has; no GIL needed. */
void vm_sys_flush_at_exit(vm_thread_t *t);
vm_status_t vm_sys_openecho(vm_thread_t *t, const vm_insn_t *in, vm_value_t delay_us,
                            vm_value_t *fd);
/* Close the interpreter's ends of the echo peers and join their threads. */
void vm_sys_close_peers(vm_t *vm);
vm_value_t vm_sys_clock_us(void);

#endif /* MINIVM_VM_H */
