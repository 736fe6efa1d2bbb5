/* tests/unit/cache/test_magic.c - a cache object's magic number: set by cache_obj_new, checked by the functions that take an
 * object, so that a pointer to something else (or to a freed object, whose magic is cleared) stops the process (SIGABRT). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cache/object.h"

/* runs fn(obj) in a child with its stderr in err; returns the wait status */
static int run_child(void (*fn)(cache_obj_t *), cache_obj_t *obj, char *err, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(obj);
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

static void addref_release(cache_obj_t *obj)
{
    cache_obj_addref(obj);
    cache_obj_release(obj);
}

static void append(cache_obj_t *obj)
{
    cache_obj_append(obj, "x", 1);
}

static void test_object_magic(void **state)
{
    char err[512];
    cache_obj_t *obj = cache_obj_new(42, h2o_iovec_init(H2O_STRLIT("GET\nexample.com/a")), h2o_iovec_init(NULL, 0));
    assert_int_equal(obj->magic, CACHE_OBJ_MAGIC);
    int status = run_child(addref_release, obj, err, sizeof(err));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* what a stale or wrong pointer looks like to the object's functions: another magic (the child's copy of the object) */
    obj->magic = 0;
    status = run_child(addref_release, obj, err, sizeof(err));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(err, "cache/object.h:"));
    assert_non_null(strstr(err, "check failed: (obj)->magic == CACHE_OBJ_MAGIC"));
    status = run_child(append, obj, err, sizeof(err));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(err, "cache/object.c:"));
    obj->magic = CACHE_OBJ_MAGIC;
    cache_obj_release(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_magic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
