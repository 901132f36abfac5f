/*
 * observe/watchdog.c - the long-hold watchdog, and the waiters' periodic
 * duties.
 *
 * Layer: observe (calls core and platform only).
 *
 * Detection belongs to the waiter side.  A waiter already wakes up every
 * switch interval to decide whether to ask the holder to drop; right there
 * (gil__watchdog_poll, the observer table's waiter_poll, which each
 * policy's wait loop calls through the core with gil->mu held)
 * it can also see that a request it or another waiter made is still
 * pending.  The request is identified by the time it was made
 * (gil->drop_t0, written under mu by gil__request_drop): a request stays
 * pending, with the same drop_t0, until the holder releases (any release
 * clears the holder's GIL__BREAK_DROP bit), so "report once per episode" is
 * "report once per drop_t0 value", remembered in obs->wd_episode under mu.
 * No clock is read and nothing is stored by the holder: a C extension that
 * never reaches a check point is caught without its cooperation.
 *
 * The report callback runs with mu released (hooks and callbacks never run
 * under an internal mutex); the wait loops re-read the GIL's state after
 * the poll, as they do after gil__request_drop.  Names are copied into the
 * report under mu: the holder may release and delete its state while the
 * callback runs (state memory stays valid until gil_destroy, so the copy is
 * safe, but a name read later might be a new state's).
 *
 * The same poll advances the load averages (metrics.c, rate-limited to one
 * update per GIL__LOAD_PERIOD_NS), so a contended GIL is sampled finely even
 * if nobody reads its figures.
 */
#include "observe/observe.h"

#include <stdio.h> /* fwrite, stderr */
#include <string.h>

/* The line is formatted by the library's own formatter (platform/format.c;
 * a host may replace the printf family) into one buffer and written with
 * one fwrite: one line even when several threads report. */
/* `"<name>" (tstate <id>)` */
static void put_state(gil__fmt_t *f, const char *name, uint64_t id)
{
    gil__fmt_char(f, '"');
    gil__fmt_str(f, name);
    gil__fmt_str(f, "\" (tstate ");
    gil__fmt_u64(f, id);
    gil__fmt_char(f, ')');
}

void gil_watchdog_print(const gil_watchdog_report_t *r, void *arg)
{
    (void)arg;
    if (r == NULL)
        return;
    char line[512];
    gil__fmt_t f;
    gil__fmt_init(&f, line, sizeof line);
    gil__fmt_str(&f, "libgil: watchdog: gil \"");
    gil__fmt_str(&f, gil_name(r->gil));
    gil__fmt_str(&f, "\": ");
    put_state(&f, r->holder, r->holder_id);
    gil__fmt_str(&f, " has held the GIL for ");
    gil__fmt_duration(&f, r->held_ns);
    gil__fmt_str(&f, " and ignored a drop request for ");
    gil__fmt_duration(&f, r->ignored_ns);
    gil__fmt_str(&f, " (limit ");
    gil__fmt_duration(&f, r->limit_ns);
    gil__fmt_str(&f, "); ");
    gil__fmt_u64(&f, r->waiting);
    gil__fmt_str(&f, " waiting, ");
    put_state(&f, r->waiter, r->waiter_id);
    gil__fmt_str(&f, " noticed\n");
    if (f.len > f.used)
        line[f.used - 1] = '\n'; /* cut, but still one line */
    fwrite(line, 1, f.used, stderr);
}

/* Is the pending drop request older than the limit and not yet reported?
 * Called with mu.  Fills *r when it is. */
static bool long_hold(gil_t *gil, gil_tstate_t *waiter, uint64_t now, unsigned factor, gil_watchdog_report_t *r)
{
    gil_tstate_t *holder = gil__word_holder(atomic_load_explicit(&gil->word, memory_order_acquire));
    if (holder == NULL || !(gil__breaker_load(holder) & GIL__BREAK_DROP))
        return false;
    uint64_t asked = atomic_load_explicit(&gil->drop_t0, memory_order_relaxed);
    if (asked == 0 || asked == gil__obs(gil)->wd_episode || now <= asked)
        return false;
    uint64_t limit = (uint64_t)factor * gil_get_switch_interval(gil) * 1000u;
    if (now - asked <= limit)
        return false;
    gil__obs(gil)->wd_episode = asked;
    memset(r, 0, sizeof *r);
    r->gil = gil;
    memcpy(r->holder, holder->name, sizeof r->holder);
    r->holder[sizeof r->holder - 1] = '\0';
    r->holder_id = gil_tstate_id(holder);
    memcpy(r->waiter, waiter->name, sizeof r->waiter);
    r->waiter[sizeof r->waiter - 1] = '\0';
    r->waiter_id = gil_tstate_id(waiter);
    r->waiting = atomic_load_explicit(&gil->waiting_now, memory_order_relaxed);
    r->ignored_ns = now - asked;
    uint64_t t0 = atomic_load_explicit(&gil->hold_t0, memory_order_relaxed);
    r->held_ns = t0 != 0 && now > t0 ? now - t0 : 0;
    r->limit_ns = limit;
    return true;
}

void gil__watchdog_poll(gil_t *gil, gil_tstate_t *waiter)
{
    gil__obs_t *o = gil__obs(gil);
    gil__counter_add(&o->wd_polls, 1);
    uint64_t now = gil__now_ns();
    gil__load_update(gil, now, false);
    unsigned factor = gil->config.watchdog_factor;
    gil_watchdog_report_t r;
    if (factor == 0 || !long_hold(gil, waiter, now, factor, &r))
        return;
    gil__counter_add(&o->wd_reports, 1);
    gil__trace_watchdog(gil, waiter, r.holder_id, now);
    gil_watchdog_fn fn = gil->config.watchdog_fn != NULL ? gil->config.watchdog_fn : gil_watchdog_print;
    /* The callback runs without mu, so it must not be a cancellation point
     * of the wait we were called from (see policy/waiter.c). */
    gil__mutex_unlock(&gil->mu);
    int cancel_state = gil__cancel_disable();
    fn(&r, gil->config.watchdog_arg);
    gil__cancel_restore(cancel_state);
    gil__mutex_lock(&gil->mu);
}
