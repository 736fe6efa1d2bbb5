/* tests/unit/hooks/test_json.c - the JSON parser and emitter of hooks/json.c, on valid and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "hooks/json.h"

static hook_json_t *parse(const char *s, char *err, size_t errlen)
{
    return hook_json_parse(s, strlen(s), err, errlen);
}

static void test_valid(void **state)
{
    char err[256];
    hook_json_t *v =
        parse(" {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\", \"o\": {}} ", err, sizeof(err));
    assert_non_null(v);
    assert_int_equal(v->type, HOOK_JSON_OBJECT);
    const hook_json_t *a = hook_json_get(v, "a");
    assert_int_equal(a->type, HOOK_JSON_ARRAY);
    assert_int_equal(a->count, 5);
    assert_true(a->items[1]->number == -2500);
    assert_int_equal(a->items[2]->type, HOOK_JSON_TRUE);
    assert_int_equal(a->items[4]->type, HOOK_JSON_NULL);
    size_t len;
    const char *s = hook_json_string(hook_json_get(v, "s"), &len);
    assert_int_equal(len, 1 + 2 + 4 + 2);
    assert_memory_equal(s, "x\xc3\xa9\xf0\x9f\x98\x80\n\"", len);
    assert_int_equal(hook_json_get(v, "o")->count, 0);
    assert_null(hook_json_get(v, "missing"));
    hook_buf_t b = {0};
    hook_buf_json(&b, v, 0);
    assert_string_equal(b.base, "{\"a\":[1,-2500,true,false,null],\"s\":\"x\xc3\xa9\xf0\x9f\x98\x80\\n\\\"\",\"o\":{}}");
    hook_buf_free(&b);
    hook_json_free(v);
}

static void test_embedded_nul_and_controls(void **state)
{
    char err[256];
    hook_json_t *v = parse("\"a\\u0000b\"", err, sizeof(err));
    assert_non_null(v);
    assert_int_equal(v->len, 3);
    hook_buf_t b = {0};
    hook_buf_json(&b, v, 0);
    assert_string_equal(b.base, "\"a\\u0000b\"");
    hook_buf_free(&b);
    hook_json_free(v);
}

static void test_hostile(void **state)
{
    static const char *const bad[] = {"",
                                      "{",
                                      "[1,2",
                                      "{\"a\" 1}",
                                      "{\"a\":}",
                                      "[1,]",
                                      "{,}",
                                      "\"unterminated",
                                      "\"bad \\q escape\"",
                                      "\"\\u12\"",
                                      "\"\\u12",
                                      "\"\\",
                                      "\"a\nb\"",
                                      "01",
                                      "-",
                                      "1.",
                                      "1e",
                                      "tru",
                                      "nul",
                                      "[1] x",
                                      "{\"a\":1}}",
                                      "\"\\ud800\\u0041\"",
                                      NULL};
    char err[256];
    for (const char *const *p = bad; *p != NULL; ++p) {
        hook_json_t *v = parse(*p, err, sizeof(err));
        if (v != NULL)
            fail_msg("accepted %s", *p);
        assert_non_null(strchr(err, ':')); /* line:col: reason */
    }
    /* nesting is bounded: no stack overflow on deep input */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_null(hook_json_parse(deep, n, err, sizeof(err)));
    assert_non_null(strstr(err, "nested too deep"));
    free(deep);
    /* at the bound it works */
    char ok[2 * HOOK_JSON_MAX_DEPTH + 3];
    memset(ok, '[', HOOK_JSON_MAX_DEPTH + 1);
    memset(ok + HOOK_JSON_MAX_DEPTH + 1, ']', HOOK_JSON_MAX_DEPTH + 1);
    hook_json_t *v = hook_json_parse(ok, 2 * HOOK_JSON_MAX_DEPTH + 2, err, sizeof(err));
    assert_non_null(v);
    hook_json_free(v);
    /* not NUL-terminated input is read within its length only */
    char raw[4] = {'[', '1', ']', 'x'};
    v = hook_json_parse(raw, 3, err, sizeof(err));
    assert_non_null(v);
    hook_json_free(v);
    /* a lone high surrogate decodes to U+FFFD */
    v = parse("\"\\ud800\"", err, sizeof(err));
    assert_non_null(v);
    assert_memory_equal(v->str, "\xef\xbf\xbd", 3);
    hook_json_free(v);
}

static void test_fuzzish(void **state)
{
    /* random mutations of a valid document never crash and never leak (ASan checks) */
    const char *seed =
        "{\"Records\":[{\"cf\":{\"config\":{\"eventType\":\"viewer-request\"},\"request\":{\"headers\":{\"host\":[{\"key\":"
        "\"Host\",\"value\":\"x\\u0041\"}]},\"uri\":\"/\",\"n\":-1.5e+3}}}]}";
    size_t len = strlen(seed);
    char *buf = malloc(len);
    char err[256];
    int accepted = 0, refused = 0;
    srand(42);
    for (int i = 0; i != 20000; ++i) {
        memcpy(buf, seed, len);
        int mutations = 1 + rand() % 4;
        for (int k = 0; k < mutations; ++k)
            buf[rand() % len] = (char)(rand() % 256);
        size_t cut = (size_t)rand() % (len + 1);
        err[0] = '\0';
        hook_json_t *v = hook_json_parse(buf, cut, err, sizeof(err));
        if (v != NULL) {
            /* what was accepted writes out as JSON that parses again to the same text */
            hook_buf_t b = {0}, b2 = {0};
            hook_buf_json(&b, v, 0);
            hook_json_t *again = hook_json_parse(b.base != NULL ? b.base : "", b.len, err, sizeof(err));
            if (again == NULL)
                fail_msg("accepted input %d wrote JSON that does not parse: %s", i, err);
            hook_buf_json(&b2, again, 0);
            assert_int_equal(b.len, b2.len);
            assert_memory_equal(b.base, b2.base, b.len);
            hook_json_free(again);
            hook_buf_free(&b);
            hook_buf_free(&b2);
            ++accepted;
        } else {
            assert_true(err[0] != '\0'); /* a refusal says why */
            ++refused;
        }
        hook_json_free(v);
    }
    /* both outcomes were exercised (srand(42) and glibc's rand: 28 accepted, 19972 refused) */
    assert_true(accepted >= 10);
    assert_true(refused >= 1000);
    free(buf);
}

static void test_pretty(void **state)
{
    char err[64];
    hook_json_t *v = parse("{\"a\":[1,{\"b\":\"c\"}]}", err, sizeof(err));
    hook_buf_t b = {0};
    hook_buf_json(&b, v, 2);
    assert_string_equal(b.base, "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"c\"\n    }\n  ]\n}");
    hook_buf_free(&b);
    hook_json_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),   cmocka_unit_test(test_embedded_nul_and_controls),
        cmocka_unit_test(test_hostile), cmocka_unit_test(test_fuzzish),
        cmocka_unit_test(test_pretty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
