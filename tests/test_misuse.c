/*
 * test_misuse.c - every misuse returns its documented code; errors and
 * versions.  (Run against a GIL_DEBUG build with GIL_DEBUG_NOABORT=1 these
 * are the same codes; test_misuse_debug_build_aborts checks the abort.)
 */
/* Every gil_check validates its state (see gil.h). */
#define GIL_CHECKED 1
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cross {
    gil_tstate_t *victim;
    int release_rc, acquire_rc, delete_rc, check_rc;
} cross_t;

/* Another thread tries to use the main thread's state. */
static void *use_foreign_state(void *arg)
{
    cross_t *c = arg;
    c->release_rc = gil_release(c->victim);
    c->acquire_rc = gil_acquire(c->victim);
    c->delete_rc = gil_tstate_delete(c->victim);
    c->check_rc = gil_check(c->victim);
    return NULL;
}

typedef struct nonholder {
    gil_t *gil;
    int release_rc, held;
} nonholder_t;

/* A thread that does not hold the GIL releases its own state. */
static void *release_without_holding(void *arg)
{
    nonholder_t *n = arg;
    gil_tstate_t *ts;
    CHECK_EQ(gil_tstate_new(n->gil, "nonholder", &ts), 0);
    n->release_rc = gil_release(ts);
    n->held = gil_held(n->gil);
    CHECK_EQ(gil_tstate_delete(ts), 0);
    return NULL;
}

static void test_misuse_codes(void **state)
{
    (void)state;
    gil_t *gil = make_gil(5000);
    gil_tstate_t *ts, *ts2;
    assert_int_equal(gil_tstate_new(gil, "main", &ts), 0);
    assert_int_equal(gil_tstate_new(gil, "main2", &ts2), 0);

    /* Release by a non-holder, and of a state that does not hold. */
    assert_int_equal(gil_release(ts), GIL_EPERM);
    assert_int_equal(gil_acquire(ts), 0);
    nonholder_t n = {.gil = gil};
    join(spawn(release_without_holding, &n));
    assert_int_equal(n.release_rc, GIL_EPERM);
    assert_int_equal(n.held, 0);
    assert_true(gil_held(gil)); /* still ours */

    /* Another thread's state: release, acquire, delete, check. */
    cross_t c = {.victim = ts};
    join(spawn(use_foreign_state, &c));
    assert_int_equal(c.release_rc, GIL_EPERM);
    assert_int_equal(c.acquire_rc, GIL_EPERM);
    assert_int_equal(c.delete_rc, GIL_EPERM);
    assert_int_equal(c.check_rc, GIL_EPERM);
    assert_true(gil_held(gil));

    /* Double acquire, with the same state and with another of ours. */
    assert_int_equal(gil_acquire(ts), GIL_EDEADLK);
    assert_int_equal(gil_acquire(ts2), GIL_EDEADLK);
    /* Release/check with our state that does not hold. */
    assert_int_equal(gil_release(ts2), GIL_EPERM);
    assert_int_equal(gil_check(ts2), GIL_EPERM);
    /* Delete a holding state; destroy with live states. */
    assert_int_equal(gil_tstate_delete(ts), GIL_EBUSY);
    assert_int_equal(gil_destroy(gil), GIL_EBUSY);
    assert_int_equal(gil_release(ts), 0);
    assert_int_equal(gil_destroy(gil), GIL_EBUSY);

    /* Interval 0, NULL arguments, restore(NULL). */
    assert_int_equal(gil_set_switch_interval(gil, 0), GIL_EINVAL);
    assert_int_equal(gil_restore(NULL), GIL_EINVAL);
    assert_int_equal(gil_acquire(NULL), GIL_EINVAL);
    assert_int_equal(gil_release(NULL), GIL_EINVAL);
    assert_int_equal(gil_check(NULL), GIL_EINVAL);
    assert_int_equal(gil_yield(NULL), GIL_EINVAL);
    assert_int_equal(gil_tstate_delete(NULL), GIL_EINVAL);
    gil_tstate_t *none = ts;
    assert_int_equal(gil_tstate_new(NULL, "x", &none), GIL_EINVAL);
    assert_null(none); /* *out is cleared on failure */
    assert_int_equal(gil_tstate_new(gil, "x", NULL), GIL_EINVAL);
    assert_int_equal(gil_create(NULL, NULL), GIL_EINVAL);
    assert_int_equal(gil_destroy(NULL), GIL_EINVAL);
    assert_int_equal(gil_shutdown(NULL), GIL_EINVAL);
    assert_int_equal(gil_add_pending_call(NULL, NULL, NULL), GIL_EINVAL);
    assert_int_equal(gil_add_pending_call(gil, NULL, NULL), GIL_EINVAL);
    assert_int_equal(gil_tstate_interrupt(NULL, 1), GIL_EINVAL);
    assert_int_equal(gil_tstate_interrupt(ts, -1), GIL_EINVAL);
    assert_int_equal(gil_stats_get(NULL, NULL), GIL_EINVAL);
    assert_int_equal(gil_tstate_stats_get(NULL, NULL), GIL_EINVAL);
    assert_int_equal(gil_foreach_tstate(gil, NULL, NULL), GIL_EINVAL);
    gil_ensure_t es;
    assert_int_equal(gil_ensure(NULL, &es), GIL_EINVAL);
    assert_int_equal(gil_ensure(gil, NULL), GIL_EINVAL);
    assert_int_equal(gil_ensure_release(gil, GIL_ENSURE_UNLOCKED), GIL_EPERM);
    assert_int_equal(gil_ensure_release(gil, (gil_ensure_t)7), GIL_EINVAL);
    assert_null(gil_save()); /* holds nothing */
    assert_int_equal(gil_held(NULL), 0);

    /* Use after delete is detected. */
    assert_int_equal(gil_tstate_delete(ts2), 0);
    assert_int_equal(gil_tstate_delete(ts2), GIL_EINVAL);
    assert_int_equal(gil_acquire(ts2), GIL_EINVAL);
    assert_int_equal(gil_tstate_delete(ts), 0);
    assert_int_equal(gil_destroy(gil), 0);
    ASSERT_NO_CHECK_FAILURES();
}

static void test_misuse_bad_config(void **state)
{
    (void)state;
    gil_config_t cfg;
    gil_t *gil = (gil_t *)&cfg;
    gil_config_init(&cfg);
    assert_int_equal(cfg.switch_interval_us, 5000);
    assert_int_equal(cfg.policy, GIL_POLICY_CPYTHON);
    cfg.switch_interval_us = 0;
    assert_int_equal(gil_create(&gil, &cfg), GIL_EINVAL);
    assert_null(gil);
    gil_config_init(&cfg);
    cfg.policy = (gil_policy_t)99;
    assert_int_equal(gil_create(&gil, &cfg), GIL_EINVAL);
    gil_config_init(&cfg);
    cfg.pending_capacity = 0;
    assert_int_equal(gil_create(&gil, &cfg), GIL_EINVAL);
    gil_config_init(&cfg);
    cfg.timing = (gil_timing_t)5;
    assert_int_equal(gil_create(&gil, &cfg), GIL_EINVAL);
    assert_int_equal(gil_create(&gil, NULL), 0);
    assert_string_equal(gil_name(gil), "gil");
    assert_int_equal(gil_get_switch_interval(gil), 5000);
    assert_int_equal(gil_destroy(gil), 0);
}

static void test_misuse_error_names(void **state)
{
    (void)state;
    assert_string_equal(gil_err_name(GIL_EPERM), "EPERM");
    assert_string_equal(gil_err_name(GIL_ESHUTDOWN), "ESHUTDOWN");
    assert_string_equal(gil_err_name(12345), "UNKNOWN");
    assert_int_equal(GIL_EINVAL, -EINVAL);
    assert_string_equal(gil_strerror(GIL_EAGAIN), "the pending-call queue is full, try again");
    assert_string_equal(gil_strerror(1), "unknown error");
#define CHECK_ONE(name, val, msg)                                   \
    assert_string_equal(gil_err_name(GIL_##name), #name);          \
    assert_string_equal(gil_strerror(GIL_##name), msg);
    GIL_ERRNO_MAP(CHECK_ONE)
#undef CHECK_ONE
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", GIL_VERSION_MAJOR, GIL_VERSION_MINOR, GIL_VERSION_PATCH);
    assert_string_equal(gil_version_string(), expect);
    assert_int_equal(gil_version(), GIL_VERSION_HEX);
    gil_policy_t p;
    assert_int_equal(gil_policy_from_name("CPython", &p), 0);
    assert_int_equal(p, GIL_POLICY_CPYTHON);
    assert_string_equal(gil_policy_name(GIL_POLICY_CPYTHON), "cpython");
    assert_int_equal(gil_policy_from_name("nope", &p), GIL_EINVAL);
    assert_null(gil_policy_name((gil_policy_t)99));
    int policies = 0;
    for (int i = 0; gil_policy_name((gil_policy_t)i) != NULL; i++, policies++) {
        assert_int_equal(gil_policy_from_name(gil_policy_name((gil_policy_t)i), &p), 0);
        assert_int_equal(p, i);
    }
    assert_int_equal(policies, GIL_POLICY_PRIORITY + 1); /* every policy has a name */
}

/* The checker build aborts on misuse with a message naming the function.
 * Meaningful only when the library was built with -DGIL_DEBUG (make debug):
 * the child is run without GIL_DEBUG_NOABORT and must die of SIGABRT. */
static void test_misuse_debug_build_aborts(void **state)
{
    (void)state;
    const char *variant = getenv("GIL_TEST_VARIANT");
    if (variant == NULL || strcmp(variant, "debug") != 0)
        skip();
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("GIL_DEBUG_NOABORT");
        dup2(pipefd[1], 2);
        gil_t *gil = make_gil(5000);
        gil_tstate_t *ts;
        gil_tstate_new(gil, "x", &ts);
        gil_release(ts); /* misuse: not held */
        _exit(0);
    }
    close(pipefd[1]);
    char buf[512] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(pipefd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(buf, "gil_release"));
    assert_non_null(strstr(buf, "EPERM"));
    assert_non_null(strstr(buf, "thread"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GUARDED_TEST(test_misuse_codes, 30),
        GUARDED_TEST(test_misuse_bad_config, 30),
        GUARDED_TEST(test_misuse_error_names, 30),
        GUARDED_TEST(test_misuse_debug_build_aborts, 30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
