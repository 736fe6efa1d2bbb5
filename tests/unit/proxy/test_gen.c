/* tests/unit/proxy/test_gen.c - behaviour path patterns (gen_pattern_match): CloudFront's `*` and `?`, by table, and a hostile
 * pattern/path pair that a backtracking matcher would take exponential time on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "proxy/gen.h"

static int match(const char *pat, const char *path)
{
    return gen_pattern_match(pat, strlen(pat), path, strlen(path));
}

static void test_table(void **state)
{
    static const struct {
        const char *pattern, *path;
        int want;
    } cases[] = {
        {"*", "/", 1},
        {"*", "/any/thing.jpg", 1},
        {"/images/*", "/images/a.jpg", 1},
        {"/images/*", "/images/a/b/c.jpg", 1}, /* `*` takes `/` too */
        {"/images/*", "/images/", 1},
        {"/images/*", "/images", 0},
        {"/images/*", "/Images/a.jpg", 0}, /* case-sensitive */
        {"/images/*", "/x/images/a.jpg", 0},
        {"*.jpg", "/a/b.jpg", 1},
        {"*.jpg", "/a/b.jpeg", 0},
        {"*.jpg", "/a/b.jpg/x", 0},
        {"/api/v?/*", "/api/v1/users", 1},
        {"/api/v?/*", "/api/v10/users", 0},
        {"/api/v?/*", "/api/v/users", 0},
        {"/a*b*c", "/aXXbYYc", 1},
        {"/a*b*c", "/aXXbYY", 0},
        {"/exact", "/exact", 1},
        {"/exact", "/exact/", 0},
        {"/exact", "/exac", 0},
        {"/**", "/x", 1},
        {"/?", "/", 0},
        {"", "", 1},
        {"", "/", 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        if (match(cases[i].pattern, cases[i].path) != cases[i].want)
            fail_msg("%s ~ %s: want %d", cases[i].pattern, cases[i].path, cases[i].want);
}

static void test_hostile_is_fast(void **state)
{
    /* the pattern "/" + 30 times "*a" + "*b" against "/" + 20,000 "a" (no b): a recursive matcher tries every split; this
     * one stays near-linear */
    size_t n = 20000;
    char *pat = malloc(2 * 30 + 3), *path = malloc(n + 2);
    size_t p = 0;
    pat[p++] = '/';
    for (int i = 0; i != 30; ++i) {
        pat[p++] = '*';
        pat[p++] = 'a';
    }
    pat[p++] = '*';
    pat[p++] = 'b';
    path[0] = '/';
    memset(path + 1, 'a', n);
    assert_int_equal(gen_pattern_match(pat, p, path, n + 1), 0);
    path[n] = 'b';
    assert_int_equal(gen_pattern_match(pat, p, path, n + 1), 1);
    free(pat);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table), cmocka_unit_test(test_hostile_is_fast)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
