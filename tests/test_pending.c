/*
 * test_pending.c - pending calls (from threads and signal handlers) and
 * interrupts.
 */
#include "helpers.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 4

typedef struct ledger {
    gil_t *gil;
    long per_producer;
    long next_seq[PRODUCERS]; /* written by the calls, with the GIL held */
    long ran;                 /* idem */
    long accepted[PRODUCERS]; /* written by each producer */
    long rejected[PRODUCERS];
    _Atomic int producers_done;
    int order_errors, outside_gil;
} ledger_t;

typedef struct call {
    ledger_t *l;
    int producer;
    long seq;
} call_t;

static int record_call(void *arg)
{
    call_t *c = arg;
    ledger_t *l = c->l;
    if (!gil_held(l->gil))
        l->outside_gil++;
    if (l->next_seq[c->producer] != c->seq)
        l->order_errors++;
    l->next_seq[c->producer] = c->seq + 1;
    l->ran++;
    return 0;
}

typedef struct producer_arg {
    ledger_t *l;
    int id;
    call_t *calls;
} producer_arg_t;

/* Adds its calls in order, without the GIL; retries when the queue is full
 * (never silently dropped: each EAGAIN is counted). */
static void *producer(void *arg)
{
    producer_arg_t *p = arg;
    for (long i = 0; i < p->l->per_producer; i++) {
        p->calls[i] = (call_t){p->l, p->id, i};
        int rc;
        while ((rc = gil_add_pending_call(p->l->gil, record_call, &p->calls[i])) == GIL_EAGAIN) {
            p->l->rejected[p->id]++;
            sched_yield();
        }
        CHECK_EQ(rc, 0);
        p->l->accepted[p->id]++;
    }
    atomic_fetch_add(&p->l->producers_done, 1);
    return NULL;
}

static void test_pending_from_four_threads(void **state)
{
    (void)state;
    ledger_t *l = calloc(1, sizeof *l);
    gil_config_t cfg;
    test_config_init(&cfg, 5000);
    cfg.pending_capacity = 64; /* small: producers will meet a full queue */
    l->gil = make_gil_cfg(&cfg);
    l->per_producer = scaled(20000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(l->gil, "consumer", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    producer_arg_t args[PRODUCERS];
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg_t){l, i, calloc((size_t)l->per_producer, sizeof(call_t))};
        t[i] = spawn(producer, &args[i]);
    }
    /* The consumer is the GIL holder's check point; it lets go now and then
     * so that the acquire path runs calls too. */
    for (long spin = 0; atomic_load(&l->producers_done) < PRODUCERS || l->ran < PRODUCERS * l->per_producer; spin++) {
        assert_int_equal(gil_check(ts), 0);
        if (spin % 1000 == 0) {
            GIL_BEGIN_ALLOW_THREADS
            sched_yield();
            GIL_END_ALLOW_THREADS
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        join(t[i]);
    ASSERT_NO_CHECK_FAILURES();
    long accepted = 0, rejected = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        accepted += l->accepted[i];
        rejected += l->rejected[i];
        assert_int_equal(l->next_seq[i], l->per_producer);
    }
    assert_int_equal(l->ran, accepted); /* every accepted call ran exactly once */
    assert_int_equal(l->order_errors, 0);
    assert_int_equal(l->outside_gil, 0);
    gil_stats_t st;
    assert_int_equal(gil_stats_get(l->gil, &st), 0);
    assert_int_equal(st.pending_calls_run, (uint64_t)accepted);
    assert_int_equal(st.pending_calls_rejected, (uint64_t)rejected);
    assert_int_equal(gil_check(ts), 0); /* nothing left */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(l->gil), 0);
    for (int i = 0; i < PRODUCERS; i++)
        free(args[i].calls);
    free(l);
}

/* ---- from a signal handler --------------------------------------------- */

#define SIGNALS 10000

static gil_t *sig_gil;
static _Atomic long sig_handled, sig_accepted, sig_rejected, sig_ran;
static long sig_next; /* checked by the calls, with the GIL held */
static long sig_order_errors;
static long sig_seq_of[SIGNALS];

static int signal_call(void *arg)
{
    long seq = *(long *)arg;
    if (seq != sig_next)
        sig_order_errors++;
    sig_next = seq + 1;
    atomic_fetch_add(&sig_ran, 1);
    return 0;
}

/* The handler: async-signal-safe libgil call only. */
static void on_usr1(int sig)
{
    (void)sig;
    long n = atomic_load(&sig_accepted);
    sig_seq_of[n % SIGNALS] = n;
    if (gil_add_pending_call(sig_gil, signal_call, &sig_seq_of[n % SIGNALS]) == 0)
        atomic_fetch_add(&sig_accepted, 1);
    else
        atomic_fetch_add(&sig_rejected, 1);
    atomic_fetch_add(&sig_handled, 1);
}

typedef struct sender {
    pthread_t target;
    long count;
} sender_t;

/* One signal at a time (signals of one kind coalesce while pending). */
static void *signal_sender(void *arg)
{
    sender_t *s = arg;
    for (long i = 0; i < s->count; i++) {
        long before = atomic_load(&sig_handled);
        pthread_kill(s->target, SIGUSR1);
        while (atomic_load(&sig_handled) == before)
            sched_yield();
    }
    return NULL;
}

static void test_pending_from_signal_handler(void **state)
{
    (void)state;
    sig_gil = make_gil(5000);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(sig_gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    sender_t s = {pthread_self(), scaled(SIGNALS)};
    pthread_t t = spawn(signal_sender, &s);
    while (atomic_load(&sig_handled) < s.count || atomic_load(&sig_ran) < atomic_load(&sig_accepted))
        assert_int_equal(gil_check(ts), 0);
    join(t);
    signal(SIGUSR1, SIG_DFL);
    assert_int_equal(atomic_load(&sig_handled), s.count);
    assert_int_equal(atomic_load(&sig_accepted) + atomic_load(&sig_rejected), s.count);
    assert_int_equal(atomic_load(&sig_ran), atomic_load(&sig_accepted));
    assert_int_equal(sig_order_errors, 0);
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(sig_gil), 0);
}

/* ---- queue limits, failures, delivery at acquire ---------------------- */

static int count_up(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static int fail_42(void *arg)
{
    (*(int *)arg)++;
    return 42;
}

static void test_pending_full_queue_returns_eagain(void **state)
{
    (void)state;
    gil_config_t cfg;
    test_config_init(&cfg, 5000);
    cfg.pending_capacity = 4;
    gil_t *gil = make_gil_cfg(&cfg);
    int ran = 0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(gil_add_pending_call(gil, count_up, &ran), 0);
    assert_int_equal(gil_add_pending_call(gil, count_up, &ran), GIL_EAGAIN);
    assert_int_equal(ran, 0);
    /* Acquiring runs them (nobody held the GIL when they were added). */
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(ran, 4);
    gil_stats_t st;
    assert_int_equal(gil_stats_get(gil, &st), 0);
    assert_int_equal(st.pending_calls_rejected, 1);
    assert_int_equal(st.pending_calls_run, 4);
    /* Room again. */
    assert_int_equal(gil_add_pending_call(gil, count_up, &ran), 0);
    assert_int_equal(gil_check(ts), 0);
    assert_int_equal(ran, 5);
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_pending_failure_is_returned_by_check(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    int ran = 0;
    assert_int_equal(gil_add_pending_call(gil, count_up, &ran), 0);
    assert_int_equal(gil_add_pending_call(gil, fail_42, &ran), 0);
    assert_int_equal(gil_add_pending_call(gil, count_up, &ran), 0);
    assert_int_equal(gil_check(ts), 42);
    assert_int_equal(ran, 2); /* stopped at the failing call */
    assert_int_equal(gil_check(ts), 0);
    assert_int_equal(ran, 3); /* the rest ran at the next check point */
    /* A failure at acquire is reported by the next check point. */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_add_pending_call(gil, fail_42, &ran), 0);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(ran, 4);
    assert_int_equal(gil_check(ts), 42);
    assert_int_equal(gil_check(ts), 0);
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

/* ---- interrupts -------------------------------------------------------- */

typedef struct interrupter {
    gil_tstate_t *target;
    int code;
} interrupter_t;

static void *interrupt_from_thread(void *arg)
{
    interrupter_t *i = arg;
    CHECK_EQ(gil_tstate_interrupt(i->target, i->code), 0);
    return NULL;
}

static void test_pending_interrupt_delivered_once(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_check(ts), 0);
    interrupter_t i = {ts, 7};
    join(spawn(interrupt_from_thread, &i));
    assert_int_equal(gil_check(ts), 7);
    assert_int_equal(gil_check(ts), 0);
    assert_int_equal(gil_check(ts), 0);
    /* 0 clears an undelivered interrupt. */
    assert_int_equal(gil_tstate_interrupt(ts, 5), 0);
    assert_int_equal(gil_tstate_interrupt(ts, 0), 0);
    assert_int_equal(gil_check(ts), 0);
    /* Delivered even if set while not holding: at the next check point. */
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_interrupt(ts, 9), 0);
    assert_int_equal(gil_acquire(ts), 0);
    assert_int_equal(gil_check(ts), 9);
    assert_int_equal(gil_check(ts), 0);
    ASSERT_NO_CHECK_FAILURES();
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_pending_from_four_threads, 120),
        GUARDED_TEST(test_pending_from_signal_handler, 120),
        GUARDED_TEST(test_pending_full_queue_returns_eagain, 30),
        GUARDED_TEST(test_pending_failure_is_returned_by_check, 30),
        GUARDED_TEST(test_pending_interrupt_delivered_once, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
