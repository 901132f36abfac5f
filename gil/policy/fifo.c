/*
 * policy/fifo.c - GIL_POLICY_FIFO: Ruby 3.3's GVL.
 *
 * Layer: policy (calls core and platform only).
 *
 * Waiters queue in arrival order; a release hands ownership straight to the
 * head of the queue (no barging: a thread that arrives while others wait
 * queues behind them even if it catches the GIL between two holders).  The
 * holder is asked to yield only while someone waits: the head of the queue
 * waits one switch interval and then makes a drop request, which the holder
 * honours at its next check point, queueing up again at the tail.
 * Ruby's quantum is 100 ms (a 10 ms timer thread); here it is the switch
 * interval, so `--interval 100000` reproduces Ruby's long I/O waits.
 * The machinery is handoff.c's, with a single class and no spinning.
 */
#include "policy/policy.h"

static const gil__wait_params_t fifo_params = {
    .klass = 1, .spin = GIL__SPIN_NONE, .spin_cap_ns = 0, .ask_at_once = false, .resume = false};

static int fifo_take(gil_t *gil, gil_tstate_t *ts)
{
    return gil__handoff_take(gil, ts, &fifo_params);
}

static void fifo_drop(gil_t *gil, gil_tstate_t *ts, gil_reason_t why, bool force)
{
    (void)why;
    (void)force; /* a handoff never gives the GIL back to the releaser */
    gil__handoff_drop(gil, ts);
}

static int fifo_yield(gil_t *gil, gil_tstate_t *ts)
{
    return gil__handoff_yield(gil, ts, &fifo_params);
}

const gil__policy_ops_t gil__policy_fifo = {
    .name = "fifo",
    .id = GIL_POLICY_FIFO,
    .flags = 0,
    .tstate_size = sizeof(gil__handoff_waiter_t),
    .init = gil__handoff_init,
    .fini = gil__handoff_fini,
    .tstate_init = gil__handoff_tstate_init,
    .tstate_fini = gil__handoff_tstate_fini,
    .take = fifo_take,
    .drop = fifo_drop,
    .yield = fifo_yield,
    .check = NULL,
    .wake_all = gil__handoff_wake_all,
    .after_fork_child = gil__handoff_after_fork_child,
    .tstate_after_fork_child = gil__handoff_tstate_after_fork_child,
};
