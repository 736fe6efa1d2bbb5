/* tests/unit/base/test_assert.c - EDGE_ASSERT and the magic-number checks stay on in release builds and stop the process with
 * the file, line and expression; each check runs in a forked child whose end (SIGABRT or exit 0) and stderr are examined. */
#define NDEBUG 1 /* as in a release build: assert() is gone, EDGE_ASSERT must not be */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/assert.h"

#define TEST_MAGIC 0x7e57c0deu

typedef struct shared {
    unsigned magic;
    int value;
} shared_t;

/* runs fn in a child with its stderr in err; returns the wait status */
static int run_child(void (*fn)(void *), void *arg, char *err, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_aborted(int status)
{
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void assert_exited_0(int status)
{
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void broken_invariant(void *arg)
{
    int *two = arg;
    EDGE_ASSERT(*two + *two == 5);
}
static const int broken_line = __LINE__ - 2; /* the EDGE_ASSERT line above */

static void kept_invariant(void *arg)
{
    int *two = arg;
    EDGE_ASSERT(*two + *two == 4);
}

static void test_edge_assert_aborts_with_file_line_and_expression(void **state)
{
    int two = 2;
    char err[512], want[256];
    assert_aborted(run_child(broken_invariant, &two, err, sizeof(err)));
    snprintf(want, sizeof(want), "test_assert.c:%d: check failed: *two + *two == 5\n", broken_line);
    assert_non_null(strstr(err, want));
    assert_exited_0(run_child(kept_invariant, &two, err, sizeof(err)));
    assert_string_equal(err, "");
}

static int evaluations;
static int count_true(void)
{
    return ++evaluations > 0;
}

static void test_edge_assert_evaluates_once(void **state)
{
    evaluations = 0;
    EDGE_ASSERT(count_true());
    assert_int_equal(evaluations, 1);
}

static void check_shared(void *arg)
{
    shared_t *p = arg;
    EDGE_CHECK_OBJ(p, TEST_MAGIC);
    p->value++;
}

static void check_null(void *arg)
{
    shared_t *p = NULL;
    (void)arg;
    EDGE_CHECK_OBJ(p, TEST_MAGIC);
}

static void check_or_null(void *arg)
{
    shared_t *p = NULL;
    (void)arg;
    EDGE_CHECK_OBJ_OR_NULL(p, TEST_MAGIC);
    EDGE_CHECK_OBJ_OR_NULL((shared_t *)arg, TEST_MAGIC);
}

static void test_wrong_magic_is_caught(void **state)
{
    char err[512];
    shared_t s = {TEST_MAGIC, 1};
    assert_exited_0(run_child(check_shared, &s, err, sizeof(err)));
    assert_string_equal(err, "");
    /* another type's object, or garbage */
    s.magic = 0x0b1ec7c5u;
    assert_aborted(run_child(check_shared, &s, err, sizeof(err)));
    assert_non_null(strstr(err, "test_assert.c:"));
    assert_non_null(strstr(err, ": check failed: (p)->magic == TEST_MAGIC\n"));
    assert_aborted(run_child(check_null, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "check failed: (p)->magic == TEST_MAGIC"));
    /* EDGE_CHECK_OBJ_OR_NULL lets NULL through but not a wrong object */
    s.magic = TEST_MAGIC;
    assert_exited_0(run_child(check_or_null, &s, err, sizeof(err)));
    s.magic = 1;
    assert_aborted(run_child(check_or_null, &s, err, sizeof(err)));
}

static void free_then_use(void *arg)
{
    shared_t *p = arg;
    EDGE_FREE_OBJ(p, TEST_MAGIC); /* what a destructor does just before free() */
    assert_int_equal(p->magic, 0);
    check_shared(p); /* a stale pointer used afterwards */
}

static void test_freed_object_is_caught(void **state)
{
    char err[512];
    shared_t s = {TEST_MAGIC, 1};
    assert_aborted(run_child(free_then_use, &s, err, sizeof(err)));
    assert_non_null(strstr(err, "check failed: (p)->magic == TEST_MAGIC"));
    /* freeing an object that is not (or no longer) one is caught too */
    s.magic = 0;
    assert_aborted(run_child(free_then_use, &s, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_assert_aborts_with_file_line_and_expression),
        cmocka_unit_test(test_edge_assert_evaluates_once),
        cmocka_unit_test(test_wrong_magic_is_caught),
        cmocka_unit_test(test_freed_object_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
