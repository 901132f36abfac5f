/*
 * main.c - minivm's command line: options, the GIL's creation and
 * destruction, SIGINT, and the --stats summary.
 *
 *   minivm [--policy NAME] [--interval USEC] [--stats] PROGRAM.s [ARG...]
 *   minivm --check PROGRAM.s
 *   minivm --list-policies
 *
 * Exit status: 0, 1 runtime error, 2 usage or assembly error, 130 SIGINT.
 */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    gil_policy_t policy;
    unsigned long interval_us;
    int stats;
    int check_only;
    const char *path;
    char **args;
    int nargs;
} options_t;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: minivm [OPTIONS] PROGRAM.s [ARG...]\n"
            "  --policy NAME     GIL scheduling policy (see --list-policies)\n"
            "  --interval USEC   GIL switch interval in microseconds (default %d)\n"
            "  --stats           print a GIL summary on stderr at exit\n"
            "  --check           assemble only: report errors, do not run\n"
            "  --list-policies   print the policies this libgil offers\n"
            "ARGs are integers passed to main's arguments (missing ones are 0).\n",
            5000);
}

/* Every policy the linked libgil knows, from the library itself: new
 * policies appear here without a change to minivm. */
static void list_policies(FILE *to, const char *sep)
{
    const char *name;

    for (int p = 0; (name = gil_policy_name((gil_policy_t)p)) != NULL; p++)
        fprintf(to, "%s%s", p ? sep : "", name);
}

static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;

    errno = 0;
    if (*s == '-')
        return -1;
    *out = strtoul(s, &end, 10);
    return end == s || *end != '\0' || errno == ERANGE ? -1 : 0;
}

/* Returns -1 to exit 2, 1 to exit 0 (e.g. --help), 0 to run. */
static int parse_options(int argc, char **argv, options_t *o)
{
    int i;

    o->policy = GIL_POLICY_CPYTHON;
    o->interval_us = 5000;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        } else if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(opt, "--list-policies") == 0) {
            list_policies(stdout, "\n");
            putchar('\n');
            return 1;
        } else if (strcmp(opt, "--stats") == 0) {
            o->stats = 1;
        } else if (strcmp(opt, "--check") == 0) {
            o->check_only = 1;
        } else if (strcmp(opt, "--policy") == 0 && i + 1 < argc) {
            if (gil_policy_from_name(argv[++i], &o->policy) != 0) {
                fprintf(stderr, "minivm: unknown policy '%s' (known: ", argv[i]);
                list_policies(stderr, ", ");
                fprintf(stderr, ")\n");
                return -1;
            }
        } else if (strcmp(opt, "--interval") == 0 && i + 1 < argc) {
            if (parse_ulong(argv[++i], &o->interval_us) < 0 || o->interval_us == 0) {
                fprintf(stderr, "minivm: --interval wants microseconds > 0, not '%s'\n",
                        argv[i]);
                return -1;
            }
        } else {
            fprintf(stderr, "minivm: unknown option or missing value: %s\n", opt);
            usage(stderr);
            return -1;
        }
    }
    if (i == argc) {
        usage(stderr);
        return -1;
    }
    o->path = argv[i];
    o->args = argv + i + 1;
    o->nargs = argc - i - 1;
    return 0;
}

/* main's arguments from the command line; missing ones are 0. */
static int parse_main_args(const options_t *o, const vm_func_t *main_fn,
                           vm_value_t *args)
{
    if (o->nargs > main_fn->nargs) {
        fprintf(stderr, "minivm: %s: main takes %d argument%s, %d given\n", o->path,
                main_fn->nargs, main_fn->nargs == 1 ? "" : "s", o->nargs);
        return -1;
    }
    for (int i = 0; i < main_fn->nargs; i++) {
        char *end;
        args[i] = 0;
        if (i >= o->nargs)
            continue;
        errno = 0;
        args[i] = strtoll(o->args[i], &end, 0);
        if (end == o->args[i] || *end != '\0' || errno == ERANGE) {
            fprintf(stderr, "minivm: argument %d: '%s' is not an integer\n", i + 1,
                    o->args[i]);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* SIGINT                                                                   */

static vm_t *signal_vm;

static void on_sigint(int sig)
{
    (void)sig;
    vm_signal_interrupt(signal_vm);
}

static void set_signals(vm_t *vm)
{
    struct sigaction sa;

    signal_vm = vm;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESETHAND: a second SIGINT (a shell or `timeout` may deliver
     * the same one to the process and to its group) only queues another
     * pending call; every blocking instruction wakes on the stop pipe, so
     * there is no wedged state that would need the default action. */
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) < 0)
        perror("minivm: sigaction(SIGINT)");
    /* A write to a closed pipe becomes an EPIPE error at its line. */
    signal(SIGPIPE, SIG_IGN);
}

/* Once the VM is finished its state goes away: a late SIGINT must not reach
 * the handler, and the process exits in a moment anyway. */
static void reset_signals(void)
{
    signal(SIGINT, SIG_IGN);
    signal_vm = NULL;
}

/* ------------------------------------------------------------------------ */
/* --stats                                                                  */

static const char *fmt_ns(uint64_t ns, char *buf, size_t cap)
{
    if (ns < 1000)
        snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(buf, cap, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, cap, "%.2f s", (double)ns / 1e9);
    return buf;
}

static void print_hist(const char *what, const gil_hist_summary_t *h, const char *unit)
{
    char a[24], b[24], c[24], d[24];

    fprintf(stderr, "  %-12s p50 %-9s p90 %-9s p99 %-9s max %-9s (%llu %s)\n", what,
            fmt_ns(h->p50_ns, a, sizeof a), fmt_ns(h->p90_ns, b, sizeof b),
            fmt_ns(h->p99_ns, c, sizeof c), fmt_ns(h->max_ns, d, sizeof d),
            (unsigned long long)h->count, unit);
}

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_thread_stats(const vm_t *vm)
{
    char a[24], b[24], c[24];

    fprintf(stderr, "  %-3s %-12s %10s %10s %8s %8s %10s %10s %10s\n", "id", "thread",
            "acquired", "contended", "requests", "forced", "wait p50", "wait p99",
            "held");
    for (int i = 0; i < vm->nthreads; i++) {
        const vm_thread_t *t = vm->threads[i];
        const gil_tstate_stats_t *s = &t->stats;
        if (!t->have_stats)
            continue;
        fprintf(stderr, "  %-3d %-12s %10llu %10llu %8llu %8llu %10s %10s %10s\n", t->id,
                vm->prog->funcs[t->func].name, (unsigned long long)s->acquisitions,
                (unsigned long long)s->contended, (unsigned long long)s->drop_requests,
                (unsigned long long)s->forced_switches,
                fmt_ns(s->wait.p50_ns, a, sizeof a), fmt_ns(s->wait.p99_ns, b, sizeof b),
                fmt_ns(s->hold_ns, c, sizeof c));
    }
}

static void print_stats(const vm_t *vm)
{
    gil_stats_t s;
    char total[24];
    int rc = gil_stats_get(vm->gil, &s);

    if (rc != 0) {
        fprintf(stderr, "minivm: gil_stats_get: %s\n", gil_strerror(rc));
        return;
    }
    fprintf(stderr, "--- gil stats: policy %s, switch interval %lu us\n",
            gil_policy_name(gil_get_policy(vm->gil)), gil_get_switch_interval(vm->gil));
    fprintf(stderr, "  acquisitions %llu, contended %llu (%.1f%%), switches %llu\n",
            (unsigned long long)s.acquisitions, (unsigned long long)s.contended,
            percent(s.contended, s.acquisitions), (unsigned long long)s.switches);
    fprintf(stderr, "  drop requests %llu, forced switches %llu, pending calls run %llu\n",
            (unsigned long long)s.drop_requests, (unsigned long long)s.forced_switches,
            (unsigned long long)s.pending_calls_run);
    fprintf(stderr, "  waited %s in total\n", fmt_ns(s.wait_ns, total, sizeof total));
    print_hist("wait", &s.wait, "waits");
    print_hist("hold", &s.hold, "timed holds");
    print_hist("drop latency", &s.drop_latency, "requests honoured");
    print_thread_stats(vm);
}

/* ------------------------------------------------------------------------ */

/* Daemon threads may still run: gil_finalize parks them (see vm_finalize);
 * the VM is left allocated for them. */
static int finalize_with_daemons(vm_t *vm, int stats, int status)
{
    gil_finalize_report_t r;
    int rc = vm_finalize(vm, &r);

    if (rc != 0) {
        fprintf(stderr, "minivm: gil_finalize: %s\n", gil_strerror(rc));
        return 1;
    }
    if (stats)
        fprintf(stderr,
                "minivm: exit with %d daemon thread(s): gil_finalize deleted %u state(s), %u left running "
                "(they park when they come back), GIL %s\n",
                vm_has_daemons(vm), r.deleted, r.running + r.stuck, r.freed ? "freed" : "freed by the last of them");
    return status;
}

static int run(const options_t *o, const vm_program_t *prog)
{
    vm_value_t args[VM_MAX_ARGS];
    gil_config_t cfg;
    gil_t *gil;
    static vm_t vm; /* outlives run(): daemon threads may still read it */
    int rc, status;

    if (parse_main_args(o, &prog->funcs[prog->main_func], args) < 0)
        return 2;
    gil_config_init(&cfg);
    cfg.policy = o->policy;
    cfg.switch_interval_us = o->interval_us;
    cfg.name = "minivm";
    if ((rc = gil_create(&gil, &cfg)) != 0) {
        fprintf(stderr, "minivm: gil_create: %s\n", gil_strerror(rc));
        return 1;
    }
    if (vm_init(&vm, prog, gil) < 0) {
        gil_destroy(gil);
        return 1;
    }
    set_signals(&vm);
    status = vm_run_main(&vm, args, prog->funcs[prog->main_func].nargs);
    reset_signals();
    if (o->stats)
        print_stats(&vm);
    if (vm_has_daemons(&vm))
        return finalize_with_daemons(&vm, o->stats, status);
    vm_destroy(&vm);
    /* Every thread state is gone by now (each thread deleted its own). */
    if ((rc = gil_destroy(gil)) != 0) {
        fprintf(stderr, "minivm: gil_destroy: %s\n", gil_strerror(rc));
        return 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    options_t o;
    vm_program_t prog;
    int rc;

    memset(&o, 0, sizeof o);
    if ((rc = parse_options(argc, argv, &o)) != 0)
        return rc > 0 ? 0 : 2;
    if (vm_assemble(o.path, &prog) < 0)
        return 2;
    if (o.check_only) {
        printf("%s: ok, %zu functions, %zu instructions\n", o.path, prog.nfuncs,
               prog.ncode);
        vm_program_free(&prog);
        return 0;
    }
    rc = run(&o, &prog);
    vm_program_free(&prog);
    return rc;
}
