/* tests/unit/proxy/test_reqcheck.c - the raw HTTP/1 head check and the request-target normaliser (proxy/reqcheck.c), by table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "proxy/reqcheck.h"

static void test_targets(void **state)
{
    static const struct {
        const char *in;
        int flags;
        int status;
        const char *out; /* normalised path and query */
        const char *authority;
    } cases[] = {
        {"/", 0, 0, "/", NULL},
        {"/a/b", 0, 0, "/a/b", NULL},
        {"/a/b/", 0, 0, "/a/b/", NULL},
        {"/a/b/../c/", 0, 0, "/a/c/", NULL},
        {"/a/./b/.", 0, 0, "/a/b/", NULL},
        {"/a/..", 0, 0, "/", NULL},
        {"//a///b", 0, 0, "/a/b", NULL},
        {"/%61%2D%7e/x?%2f=%zz", 0, 0, "/a-~/x?%2f=%zz", NULL},
        {"/caf%c3%a9", 0, 0, "/caf%C3%A9", NULL},
        {"/a%3bb", 0, 0, "/a%3Bb", NULL},
        {"/x/%2e%2E/y", 0, 0, "/y", NULL},
        {"http://cdn/admin/secret", 0, 0, "/admin/secret", "cdn"},
        {"HTTPS://cdn:8443?x", 0, 0, "/?x", "cdn:8443"},
        {"http://cdn", 0, 0, "/", "cdn"},
        {"/a;b/c", REQCHECK_ALLOW_PARAMS, 0, "/a;b/c", NULL},
        {"/..", 0, 400, NULL, NULL},
        {"/a/../..", 0, 400, NULL, NULL},
        {"/%2e%2e/x", 0, 400, NULL, NULL},
        {"/a%2fb", 0, 400, NULL, NULL},
        {"/a%5Cb", 0, 400, NULL, NULL},
        {"/a%00b", 0, 400, NULL, NULL},
        {"/a%0d%0ab", 0, 400, NULL, NULL},
        {"/a%4", 0, 400, NULL, NULL},
        {"/a%g0", 0, 400, NULL, NULL},
        {"/a\\b", 0, 400, NULL, NULL},
        {"/a;b", 0, 400, NULL, NULL},
        {"/a b", 0, 400, NULL, NULL},
        {"/a#b", 0, 400, NULL, NULL},
        {"/a?b#c", 0, 400, NULL, NULL},
        {"/caf\xc3\xa9", 0, 400, NULL, NULL},
        {"", 0, 400, NULL, NULL},
        {"*", 0, 400, NULL, NULL},
        {"a/b", 0, 400, NULL, NULL},
        {"http://evil/x", REQCHECK_HTTP2, 400, NULL, NULL},
        {"http://user@cdn/x", 0, 400, NULL, NULL},
        {"http:///x", 0, 400, NULL, NULL},
        {"ftp://cdn/x", 0, 400, NULL, NULL},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char dst[256];
        reqcheck_target_t t;
        const char *reason = NULL;
        int st = reqcheck_target(cases[i].in, strlen(cases[i].in), cases[i].flags, dst, &t, &reason);
        if (st != cases[i].status)
            fail_msg("%s: status %d, want %d (%s)", cases[i].in, st, cases[i].status, reason != NULL ? reason : "");
        if (st != 0) {
            assert_non_null(reason);
            continue;
        }
        if (t.path_len != strlen(cases[i].out) || memcmp(dst, cases[i].out, t.path_len) != 0)
            fail_msg("%s: got %.*s, want %s", cases[i].in, (int)t.path_len, dst, cases[i].out);
        const char *q = strchr(cases[i].out, '?');
        assert_int_equal(t.query_at, q != NULL ? (size_t)(q - cases[i].out) : (size_t)-1);
        if (cases[i].authority == NULL)
            assert_null(t.authority);
        else if (t.authority == NULL || t.authority_len != strlen(cases[i].authority) ||
                 memcmp(t.authority, cases[i].authority, t.authority_len) != 0)
            fail_msg("%s: authority", cases[i].in);
    }
}

static void test_heads(void **state)
{
    static const struct {
        const char *head;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a:80\r\nX-Tab: a\tb\r\nX-Obs: caf\xc3\xa9\r\n\r\n", 0},
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nHost: a\r\n", 400},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        const char *reason = NULL;
        int st = reqcheck_http1_head(cases[i].head, strlen(cases[i].head), &reason);
        if (st != cases[i].status)
            fail_msg("case %zu: status %d, want %d (%s)", i, st, cases[i].status, reason != NULL ? reason : "");
        if (st != 0)
            assert_non_null(reason);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_targets), cmocka_unit_test(test_heads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
