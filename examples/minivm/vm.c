/*
 * vm.c - minivm's dispatch loop and threads.
 *
 * Where the GIL shows up:
 *   - every interpreter thread owns a gil_tstate_t, created on that thread
 *     (states are bound to their OS thread), and holds the GIL while it
 *     runs bytecode;
 *   - the loop calls gil_check() on every taken backward jump and on every
 *     call: the only places where another thread can get the GIL, so a
 *     straight run of instructions (load/add/store) is atomic, as in
 *     CPython;
 *   - blocking instructions (sys.c) and join release the GIL around the
 *     system call;
 *   - a runtime error or SIGINT stops the VM with gil_shutdown(): every
 *     other thread's next gil_check(), or its attempt to take the GIL back,
 *     returns GIL_ESHUTDOWN, and it unwinds.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A failing libgil call that the VM cannot recover from: the program has
 * a bug, not the user's program. */
static void die_gil(const char *what, int rc)
{
    fprintf(stderr, "minivm: %s: %s (%s)\n", what, gil_strerror(rc), gil_err_name(rc));
    abort();
}

static const char *thread_name(const vm_thread_t *t)
{
    return t->vm->prog->funcs[t->func].name;
}

vm_status_t vm_fail(vm_thread_t *t, const vm_insn_t *in, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%u: error: ", t->vm->prog->path, in->line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (thread %d, in '%s')\n", t->id, thread_name(t));
    atomic_store(&t->vm->failed, 1);
    vm_stop(t->vm);
    return VM_ERROR;
}

void vm_stop(vm_t *vm)
{
    int rc;

    if (atomic_exchange(&vm->stopping, 1))
        return;
    /* Threads running bytecode unwind at their next check point; threads
     * waiting for the GIL get GIL_ESHUTDOWN instead of it. */
    if ((rc = gil_shutdown(vm->gil)) != 0)
        die_gil("gil_shutdown", rc);
    /* Threads blocked in a system call without the GIL poll this pipe. */
    if (write(vm->stop_pipe[1], "x", 1) < 0 && errno != EAGAIN)
        perror("minivm: write(stop pipe)");
}

/* The pending call queued by the SIGINT handler.  It runs in whichever
 * thread holds the GIL, at its next check point, in an ordinary context
 * (not a signal handler); its non-zero return comes back out of that
 * gil_check(), which is how a tight loop without system calls learns of the
 * signal.  CPython's signal module works the same way. */
static int vm_interrupt_call(void *arg)
{
    (void)arg;
    return VM_INTERRUPT_CODE;
}

void vm_signal_interrupt(vm_t *vm)
{
    int saved = errno;

    vm->interrupted = 1;
    /* Async-signal-safe: a lock-free ring.  GIL_EAGAIN means the queue is
     * full of earlier interrupts, which will do. */
    (void)gil_add_pending_call(vm->gil, vm_interrupt_call, vm);
    /* Wake the threads blocked in system calls: if every thread is blocked,
     * nobody would reach a check point to run the pending call. */
    if (write(vm->stop_pipe[1], "x", 1) < 0) {
        /* EAGAIN: the pipe is full, so it is readable already. */
    }
    errno = saved;
}

/* A non-zero gil_check() result: turn it into a VM status. */
static vm_status_t check_failed(vm_thread_t *t, const vm_insn_t *in, int rc)
{
    if (rc == GIL_ESHUTDOWN)
        return VM_UNWIND; /* another thread stopped the VM: unwind quietly */
    if (rc == VM_INTERRUPT_CODE) {
        if (!atomic_exchange(&t->vm->interrupt_reported, 1))
            fprintf(stderr, "%s:%u: interrupted (thread %d, in '%s')\n",
                    t->vm->prog->path, in->line, t->id, thread_name(t));
        vm_stop(t->vm);
        return VM_UNWIND;
    }
    return vm_fail(t, in, "gil_check: %s", gil_strerror(rc));
}

/* The check point.  The fast path is gil_check's inline load and branch. */
static inline vm_status_t checkpoint(vm_thread_t *t, const vm_insn_t *in)
{
    int rc = gil_check(t->ts);
    return rc == 0 ? VM_OK : check_failed(t, in, rc);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */

static vm_status_t run_function(vm_thread_t *t, vm_value_t *result);

/* Everything a thread does once it has a state: take the GIL, run, give
 * everything back.  Shared by the main thread and spawned threads. */
static void thread_body(vm_thread_t *t)
{
    int rc = gil_acquire(t->ts);

    /* Errors are reported where they happen, and GIL_ESHUTDOWN from the
     * acquire means the VM stopped before this thread ran: nothing to do
     * with run_function's status here. */
    if (rc == 0)
        (void)run_function(t, &t->result);
    else if (rc != GIL_ESHUTDOWN)
        die_gil("gil_acquire", rc);

    vm_sys_flush_at_exit(t);
    /* After gil_shutdown a thread may have lost the GIL on its way out
     * (GIL_END_ALLOW_THREADS could not restore it): release only if held. */
    if (gil_held(t->vm->gil) && (rc = gil_release(t->ts)) != 0)
        die_gil("gil_release", rc);
    /* After the release, so that the last hold is counted. */
    if (gil_tstate_stats_get(t->ts, &t->stats) == 0)
        t->have_stats = 1;
    if ((rc = gil_tstate_delete(t->ts)) != 0)
        die_gil("gil_tstate_delete", rc);
    t->ts = NULL;
}

static void *thread_main(void *arg)
{
    vm_thread_t *t = arg;
    int rc = gil_tstate_new(t->vm->gil, thread_name(t), &t->ts);

    if (rc == GIL_ESHUTDOWN)
        return NULL; /* spawned just as the VM stopped */
    if (rc != 0)
        die_gil("gil_tstate_new", rc);
    thread_body(t);
    return NULL;
}

static vm_thread_t *thread_alloc(vm_t *vm, int func, const vm_value_t *args, int nargs)
{
    vm_thread_t *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->vm = vm;
    t->func = func;
    t->nargs = nargs;
    memcpy(t->args, args, (size_t)nargs * sizeof *args);
    return t;
}

/* spawn: runs with the GIL held, like CPython's thread start. */
static vm_status_t spawn_thread(vm_thread_t *t, const vm_insn_t *in, int func,
                                const vm_value_t *args, vm_value_t *id, int daemon)
{
    vm_t *vm = t->vm;
    vm_thread_t *child = thread_alloc(vm, func, args, vm->prog->funcs[func].nargs);
    int rc;

    if (child == NULL)
        return vm_fail(t, in, "spawn: out of memory");
    child->daemon = daemon;
    pthread_mutex_lock(&vm->threads_lock);
    if (vm->nthreads == VM_MAX_THREADS) {
        pthread_mutex_unlock(&vm->threads_lock);
        free(child);
        return vm_fail(t, in, "spawn: more than %d threads in one run", VM_MAX_THREADS);
    }
    child->id = vm->nthreads;
    rc = pthread_create(&child->pthread, NULL, thread_main, child);
    if (rc == 0)
        vm->threads[vm->nthreads++] = child;
    pthread_mutex_unlock(&vm->threads_lock);
    if (rc != 0) {
        free(child);
        return vm_fail(t, in, "spawn: pthread_create: %s", strerror(rc));
    }
    *id = child->id;
    return VM_OK;
}

/* Claim thread `id` for joining: it must exist, not be the caller, and not
 * be claimed already.  Returns NULL with *why set otherwise. */
static vm_thread_t *claim_for_join(vm_thread_t *t, vm_value_t id, const char **why)
{
    vm_t *vm = t->vm;
    vm_thread_t *target = NULL;

    pthread_mutex_lock(&vm->threads_lock);
    if (id <= 0 || id >= vm->nthreads)
        *why = id == 0 ? "thread 0 is the main thread" : "no such thread";
    else if (id == t->id)
        *why = "a thread cannot join itself";
    else if (vm->threads[id]->joined)
        *why = "thread already joined";
    else {
        target = vm->threads[id];
        target->joined = 1;
    }
    pthread_mutex_unlock(&vm->threads_lock);
    return target;
}

static vm_status_t join_thread(vm_thread_t *t, const vm_insn_t *in, vm_value_t id,
                               vm_value_t *result)
{
    const char *why = NULL;
    vm_thread_t *target = claim_for_join(t, id, &why);
    vm_status_t st;

    if (target == NULL)
        return vm_fail(t, in, "join %lld: %s", (long long)id, why);
    if ((st = vm_sys_join(t, in, target)) != VM_OK)
        return st;
    *result = target->result;
    return VM_OK;
}

/* The finalizing main thread, without the GIL: join every thread nobody
 * joined, except daemons (CPython's threading._shutdown waits for
 * non-daemon threads the same way).  Threads may still spawn threads
 * meanwhile, hence the loop. */
static void join_remaining(vm_t *vm)
{
    for (;;) {
        vm_thread_t *next = NULL;

        pthread_mutex_lock(&vm->threads_lock);
        for (int i = 1; i < vm->nthreads && next == NULL; i++)
            if (!vm->threads[i]->joined && !vm->threads[i]->daemon) {
                next = vm->threads[i];
                next->joined = 1;
            }
        pthread_mutex_unlock(&vm->threads_lock);
        if (next == NULL)
            return;
        pthread_join(next->pthread, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* The dispatch loop                                                        */

/* Operand-stack checks: a function sees only its own operands, never its
 * caller's or its locals. */
#define NEED(n)                                                               \
    do {                                                                      \
        if (t->sp < operands + (n))                                           \
            return vm_fail(t, in, "'%s' needs %d value%s on the stack",       \
                           vm_opcode_name(in->op), (n), (n) == 1 ? "" : "s"); \
    } while (0)
#define ROOM(n)                                                               \
    do {                                                                      \
        if (t->sp + (n) > VM_STACK_SLOTS)                                     \
            return vm_fail(t, in, "stack overflow (%d slots)", VM_STACK_SLOTS); \
    } while (0)
#define TOP (t->stack[t->sp - 1])
#define SECOND (t->stack[t->sp - 2])
#define PUSH(v) (t->stack[t->sp++] = (v))
#define POP() (t->stack[--t->sp])

/* Enter function f with its arguments on top of the stack. */
static vm_status_t enter(vm_thread_t *t, const vm_insn_t *in, int f, size_t return_pc)
{
    const vm_func_t *fn = &t->vm->prog->funcs[f];
    vm_frame_t *fr;

    if (t->depth == VM_MAX_FRAMES)
        return vm_fail(t, in, "call depth over %d (runaway recursion?)", VM_MAX_FRAMES);
    if (t->sp + (size_t)(fn->nlocals - fn->nargs) > VM_STACK_SLOTS)
        return vm_fail(t, in, "stack overflow (%d slots)", VM_STACK_SLOTS);
    fr = &t->frames[t->depth++];
    fr->return_pc = return_pc;
    fr->base = t->sp - (size_t)fn->nargs;
    fr->func = f;
    for (int i = fn->nargs; i < fn->nlocals; i++)
        PUSH(0);
    return VM_OK;
}

static vm_status_t arith(vm_thread_t *t, const vm_insn_t *in, vm_value_t a,
                         vm_value_t b, vm_value_t *out)
{
    int overflow = 0;

    *out = 0;
    switch (in->op) {
    case VM_OP_ADD: overflow = __builtin_add_overflow(a, b, out); break;
    case VM_OP_SUB: overflow = __builtin_sub_overflow(a, b, out); break;
    case VM_OP_MUL: overflow = __builtin_mul_overflow(a, b, out); break;
    case VM_OP_DIV:
    case VM_OP_MOD:
        if (b == 0)
            return vm_fail(t, in, "division by zero");
        if (a == INT64_MIN && b == -1)
            overflow = 1;
        else
            *out = in->op == VM_OP_DIV ? a / b : a % b;
        break;
    case VM_OP_EQ: *out = a == b; break;
    case VM_OP_NE: *out = a != b; break;
    case VM_OP_LT: *out = a < b; break;
    case VM_OP_LE: *out = a <= b; break;
    case VM_OP_GT: *out = a > b; break;
    case VM_OP_GE: *out = a >= b; break;
    default: return vm_fail(t, in, "internal: not a binary operator");
    }
    if (overflow)
        return vm_fail(t, in, "integer overflow in '%s'", vm_opcode_name(in->op));
    return VM_OK;
}

/* A jump to target: a backward one closes a loop, so it is a check point. */
static vm_status_t jump(vm_thread_t *t, const vm_insn_t *in, size_t *pc)
{
    size_t target = (size_t)in->arg;
    int backward = target <= *pc;

    *pc = target;
    return backward ? checkpoint(t, in) : VM_OK;
}

/* The blocking and threading instructions, out of the hot loop. */
static vm_status_t exec_system(vm_thread_t *t, const vm_insn_t *in, size_t operands)
{
    const vm_program_t *prog = t->vm->prog;
    vm_value_t a, b;
    vm_status_t st;
    char text[32];
    int len;

    switch (in->op) {
    case VM_OP_SPAWN:
    case VM_OP_DAEMON: {
        int nargs = prog->funcs[in->arg].nargs;
        NEED(nargs);
        ROOM(1);
        t->sp -= (size_t)nargs;
        if ((st = spawn_thread(t, in, (int)in->arg, &t->stack[t->sp], &a, in->op == VM_OP_DAEMON)) != VM_OK)
            return st;
        PUSH(a);
        return VM_OK;
    }
    case VM_OP_JOIN:
        NEED(1);
        if ((st = join_thread(t, in, TOP, &a)) != VM_OK)
            return st;
        TOP = a;
        return VM_OK;
    case VM_OP_SLEEP:
        NEED(1);
        a = POP();
        return vm_sys_sleep(t, in, a);
    case VM_OP_CLOCK:
        ROOM(1);
        PUSH(vm_sys_clock_us());
        return VM_OK;
    case VM_OP_PRINT:
        NEED(1);
        a = POP();
        len = snprintf(text, sizeof text, "%lld", (long long)a);
        return vm_sys_output(t, in, text, (size_t)len);
    case VM_OP_PUTS: {
        const char *s = prog->strings[in->arg];
        return vm_sys_output(t, in, s, strlen(s));
    }
    case VM_OP_READ:
        NEED(1);
        ROOM(1);
        a = POP();
        if ((st = vm_sys_read(t, in, a, &a, &b)) != VM_OK)
            return st;
        PUSH(a);
        PUSH(b);
        return VM_OK;
    case VM_OP_WRITE:
        NEED(2);
        b = POP();
        a = POP();
        return vm_sys_write(t, in, a, b);
    case VM_OP_OPENECHO:
        NEED(1);
        if ((st = vm_sys_openecho(t, in, TOP, &a)) != VM_OK)
            return st;
        TOP = a;
        return VM_OK;
    default:
        return vm_fail(t, in, "internal: unknown opcode %d", in->op);
    }
}

/* Run the thread's function from its arguments to its `ret`. */
static vm_status_t run_function(vm_thread_t *t, vm_value_t *result)
{
    const vm_program_t *prog = t->vm->prog;
    vm_value_t *globals = t->vm->globals;
    const vm_insn_t *in = &prog->code[prog->funcs[t->func].entry];
    size_t pc, base, operands;
    vm_value_t a, b;
    vm_status_t st;

    memcpy(t->stack, t->args, (size_t)t->nargs * sizeof *t->args);
    t->sp = (size_t)t->nargs;
    if ((st = enter(t, in, t->func, 0)) != VM_OK)
        return st;

/* Reload the frame's cached values after a call or return. */
#define LOAD_FRAME()                                                      \
    do {                                                                  \
        const vm_frame_t *fr_ = &t->frames[t->depth - 1];                 \
        base = fr_->base;                                                 \
        operands = base + (size_t)prog->funcs[fr_->func].nlocals;         \
    } while (0)

    LOAD_FRAME();
    pc = prog->funcs[t->func].entry;
    for (;;) {
        in = &prog->code[pc];
        switch ((vm_opcode_t)in->op) {
        case VM_OP_PUSH: ROOM(1); PUSH(in->arg); pc++; break;
        case VM_OP_POP: NEED(1); t->sp--; pc++; break;
        case VM_OP_DUP: NEED(1); ROOM(1); a = TOP; PUSH(a); pc++; break;
        case VM_OP_SWAP: NEED(2); a = TOP; TOP = SECOND; SECOND = a; pc++; break;
        case VM_OP_OVER: NEED(2); ROOM(1); a = SECOND; PUSH(a); pc++; break;
        case VM_OP_NEG:
            NEED(1);
            if (TOP == INT64_MIN)
                return vm_fail(t, in, "integer overflow in 'neg'");
            TOP = -TOP;
            pc++;
            break;
        case VM_OP_NOT: NEED(1); TOP = !TOP; pc++; break;
        case VM_OP_ADD: case VM_OP_SUB: case VM_OP_MUL: case VM_OP_DIV:
        case VM_OP_MOD: case VM_OP_EQ: case VM_OP_NE: case VM_OP_LT:
        case VM_OP_LE: case VM_OP_GT: case VM_OP_GE:
            NEED(2);
            b = POP();
            if ((st = arith(t, in, TOP, b, &a)) != VM_OK)
                return st;
            TOP = a;
            pc++;
            break;
        case VM_OP_JMP:
            if ((st = jump(t, in, &pc)) != VM_OK)
                return st;
            break;
        case VM_OP_JZ:
        case VM_OP_JNZ:
            NEED(1);
            a = POP();
            if ((a == 0) == (in->op == VM_OP_JZ)) {
                if ((st = jump(t, in, &pc)) != VM_OK)
                    return st;
            } else
                pc++;
            break;
        case VM_OP_LOAD: ROOM(1); PUSH(t->stack[base + (size_t)in->arg]); pc++; break;
        case VM_OP_STORE: NEED(1); t->stack[base + (size_t)in->arg] = POP(); pc++; break;
        case VM_OP_GLOAD: ROOM(1); PUSH(globals[in->arg]); pc++; break;
        case VM_OP_GSTORE: NEED(1); globals[in->arg] = POP(); pc++; break;
        case VM_OP_CALL:
            NEED(prog->funcs[in->arg].nargs);
            if ((st = enter(t, in, (int)in->arg, pc + 1)) != VM_OK)
                return st;
            LOAD_FRAME();
            pc = prog->funcs[in->arg].entry;
            /* A call is a check point: recursion has no backward jump. */
            if ((st = checkpoint(t, in)) != VM_OK)
                return st;
            break;
        case VM_OP_RET:
            NEED(1);
            a = POP();
            pc = t->frames[--t->depth].return_pc;
            t->sp = base;
            if (t->depth == 0) {
                *result = a;
                return VM_OK;
            }
            PUSH(a);
            LOAD_FRAME();
            break;
        case VM_OP_SPAWN: case VM_OP_DAEMON: case VM_OP_JOIN: case VM_OP_SLEEP: case VM_OP_CLOCK:
        case VM_OP_PRINT: case VM_OP_PUTS: case VM_OP_READ: case VM_OP_WRITE:
        case VM_OP_OPENECHO:
            if ((st = exec_system(t, in, operands)) != VM_OK)
                return st;
            pc++;
            break;
        case VM_OP_COUNT:
        default:
            return vm_fail(t, in, "internal: unknown opcode %d", in->op);
        }
    }
#undef LOAD_FRAME
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */

int vm_init(vm_t *vm, const vm_program_t *prog, gil_t *gil)
{
    memset(vm, 0, sizeof *vm);
    vm->prog = prog;
    vm->gil = gil;
    atomic_init(&vm->stopping, 0);
    atomic_init(&vm->failed, 0);
    atomic_init(&vm->interrupt_reported, 0);
    if (pipe2(vm->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("minivm: pipe2");
        return -1;
    }
    pthread_mutex_init(&vm->threads_lock, NULL);
    pthread_mutex_init(&vm->peers_lock, NULL);
    return 0;
}

static void print_error_exit(vm_t *vm)
{
    if (vm->interrupted && !atomic_exchange(&vm->interrupt_reported, 1))
        fprintf(stderr, "minivm: interrupted\n");
}

int vm_run_main(vm_t *vm, const vm_value_t *args, int nargs)
{
    vm_thread_t *main_thread = thread_alloc(vm, vm->prog->main_func, args, nargs);
    int rc;

    if (main_thread == NULL) {
        fprintf(stderr, "minivm: out of memory\n");
        return 1;
    }
    vm->threads[vm->nthreads++] = main_thread;
    main_thread->joined = 1;
    if ((rc = gil_tstate_new(vm->gil, "main", &main_thread->ts)) != 0)
        die_gil("gil_tstate_new", rc);
    thread_body(main_thread);
    join_remaining(vm);
    /* A daemon may still talk to its echo peer: peers live as long as it. */
    if (!vm_has_daemons(vm))
        vm_sys_close_peers(vm);
    print_error_exit(vm);
    if (vm->interrupted)
        return 130;
    return atomic_load(&vm->failed) ? 1 : 0;
}

int vm_has_daemons(vm_t *vm)
{
    int n = 0;

    pthread_mutex_lock(&vm->threads_lock);
    for (int i = 1; i < vm->nthreads; i++)
        n += vm->threads[i]->daemon;
    pthread_mutex_unlock(&vm->threads_lock);
    return n;
}

/* Interpreter exit with daemon threads (CPython's Py_FinalizeEx).  First
 * take the GIL: then no daemon runs bytecode, and none can get the GIL back
 * once gil_finalize has shut it down.  With GIL_FINALIZE_PARK a daemon that
 * comes back to libgil (its next check point, the end of its sleep or read,
 * its first acquire) never runs bytecode again; the GIL is freed when the
 * last of them has parked.  The VM's memory is not freed: a daemon may be
 * between a system call and its gil_restore, reading its thread and the VM
 * (the process is about to exit anyway). */
int vm_finalize(vm_t *vm, gil_finalize_report_t *report)
{
    gil_tstate_t *ts;
    int rc = gil_tstate_new(vm->gil, "finalizer", &ts);

    if (rc == 0)
        rc = gil_acquire(ts);
    if (rc != 0 && rc != GIL_ESHUTDOWN) /* GIL_ESHUTDOWN: the VM stopped; finalize anyway */
        die_gil("taking the GIL to finalize", rc);
    rc = gil_finalize(vm->gil, GIL_FINALIZE_PARK | GIL_FINALIZE_QUIET, 0, report);
    vm->gil = NULL; /* may be freed at any moment now */
    return rc;
}

void vm_destroy(vm_t *vm)
{
    for (int i = 0; i < vm->nthreads; i++)
        free(vm->threads[i]);
    vm->nthreads = 0;
    close(vm->stop_pipe[0]);
    close(vm->stop_pipe[1]);
    pthread_mutex_destroy(&vm->threads_lock);
    pthread_mutex_destroy(&vm->peers_lock);
}
