/* tests/unit/hooks/test_stdlib.c - the hooks' standard library (hooks/stdlib_lua.c and the prelude's wrappers): known vectors (FIPS
 * 180-2, RFC 4231, ECMAScript's encodeURIComponent set), hostile input (wrong types, binary, truncated and bomb gzip, deep and
 * huge JSON) under the memory cap, and header arrays that accept [0] wherever they came from. The checks are Lua, in
 * tests/hooks/stdlib.lua; each runs as one hook call that must end with x-result "ok NAME". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "hooks/internal.h"
#include "tests/unit/hooks/helpers.h"

/* the checks' wall-clock budget: they test results, not speed, and a loaded machine running ASan can take longer than the
 * viewer events' 5 s default over the bomb and the million-value document (seen once) */
#define STDLIB_TIMEOUT_MS 120000

static hook_thread_t *T;
static h2o_mem_pool_t pool;

static int setup(void **state)
{
    log_open("-", getenv("EDGE_TEST_VERBOSE") != NULL ? LOG_DEBUG : -1);
    T = hook_thread_new();
    h2o_mem_init_pool(&pool);
    return T == NULL;
}

static int teardown(void **state)
{
    hook_thread_free(T);
    h2o_mem_clear_pool(&pool);
    return 0;
}

/* runs the check `name` of tests/hooks/stdlib.lua in fn; fails with the hook's error unless it answered ok */
static void check(hook_fn_t *fn, const char *name)
{
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", name, "X-Copy-From", "from", NULL);
    hook_status_t st = hook_run(T, fn, &ev, &pool, &rep);
    char want[64];
    snprintf(want, sizeof(want), "ok %s", name);
    const char *got = hval(&ev.request.headers, "x-result");
    if (st != HOOK_CONTINUE || got == NULL || strcmp(got, want) != 0)
        fail_msg("check %s: status %d (http %d): %s", name, st, rep.http_status, rep.error != NULL ? rep.error : "no error");
}

static void test_vectors(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/stdlib.lua", NULL, STDLIB_TIMEOUT_MS, 0, NULL, 0);
    check(fn, "sha256");
    check(fn, "hmac");
    check(fn, "uri");
    check(fn, "query");
    check(fn, "uuid");
    check(fn, "gzip");
    check(fn, "json");
    check(fn, "bomb");
    hook_fn_release(fn);
}

/* under an 8 MB cap: the bomb and the million-value document are refused (nil and a reason), the state is not rebuilt */
static void test_bounded_under_a_small_cap(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/stdlib.lua", NULL, STDLIB_TIMEOUT_MS, 8u << 20, NULL, 0);
    check(fn, "bomb");
    check(fn, "json_big");
    check(fn, "gzip");
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.oom, 0);
    hook_fn_release(fn);
}

static void test_header_arrays_accept_0(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/stdlib.lua", NULL, STDLIB_TIMEOUT_MS, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "arrays", "X-Copy-From", "from", NULL);
    assert_int_equal(hook_run(T, fn, &ev, &pool, &rep), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-built"), "c");
    assert_string_equal(hval(&ev.request.headers, "x-zero"), "z");
    /* the copied entry's key (X-Copy-From) is ignored: the header is x-copied, Title-Cased */
    assert_string_equal(hval(&ev.request.headers, "x-copied"), "from");
    ssize_t i = hook_headers_find(&ev.request.headers, "x-copied", 8, 0);
    assert_true(i >= 0 && iov_is(ev.request.headers.entries[i].key, "X-Copied"));
    assert_string_equal(hval(&ev.request.headers, "x-copy-from"), "from");
    assert_int_equal(hcount(&ev.request.headers, "x-new"), 0); /* the map it replaced was put back */
    hook_fn_release(fn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_bounded_under_a_small_cap),
        cmocka_unit_test(test_header_arrays_accept_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
