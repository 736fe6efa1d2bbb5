/* tests/unit/hooks/test_examples.c - every example hook (Lua and C) on a targeted event, and `edgehook invoke` on the sample
 * events. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include "tests/unit/hooks/helpers.h"

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

static hook_status_t run(hook_fn_t *fn, hook_event_t *ev)
{
    hook_report_t rep;
    hook_status_t st = hook_run(T, fn, ev, &pool, &rep);
    if (rep.error != NULL && getenv("EDGE_TEST_VERBOSE") != NULL)
        fprintf(stderr, "%s\n", rep.error);
    return st;
}

static void test_redirect(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/redirect.lua",
                              "{\"moves\":{\"/old/\":\"/new/\"},\"mobile_host\":\"m.example.com\"}", -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/old/page", "a=1", "Host", "www.example.com", NULL);
    assert_int_equal(run(fn, &ev), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 301);
    assert_string_equal(hval(&ev.response.headers, "location"), "/new/page?a=1");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "www.example.com", "User-Agent", "Mozilla/5.0 (iPhone) Mobile",
               NULL);
    assert_int_equal(run(fn, &ev), HOOK_RESPOND);
    assert_string_equal(hval(&ev.response.headers, "location"), "https://m.example.com/");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "www.example.com", "User-Agent", "curl/8", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    hook_fn_release(fn);
}

static void test_ab_test(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/ab_test.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/experiment-pixel.jpg", "", "Host", "x", "Cookie", "a=1; X-Experiment-Name=B",
               NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/experiment-group/treatment-pixel.jpg"));
    assert_string_equal(hval(&ev.request.headers, "x-experiment-group"), "B");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/experiment-pixel.jpg", "", "Host", "x", "Cookie", "X-Experiment-Name=A", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/experiment-group/control-pixel.jpg"));
    /* no cookie: a stable group from the client address */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/experiment-pixel.jpg", "", "Host", "x", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    const char *g = hval(&ev.request.headers, "x-experiment-group");
    assert_true(strcmp(g, "A") == 0 || strcmp(g, "B") == 0);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/other", "", "Host", "x", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/other"));
    hook_fn_release(fn);
}

static void test_normalize_query(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/normalize_query.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/p", "utm_source=x&Size=L&color=red&b=2&b=1", "Host", "x", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.querystring, "b=2&b=1&color=red&size=L"));
    hook_fn_release(fn);
}

static void test_origin_by_header(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/origin_by_header.lua", "{\"eu_origin\":\"eu.example.com\"}", -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/page", "", "Host", "example.com", "CloudFront-Viewer-Country", "DE", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_int_equal(ev.request.origin.kind, HOOK_ORIGIN_CUSTOM);
    assert_true(iov_is(ev.request.origin.domain_name, "eu.example.com"));
    assert_string_equal(hval(&ev.request.headers, "host"), "eu.example.com");
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/media/cat.jpg", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_int_equal(ev.request.origin.kind, HOOK_ORIGIN_S3);
    assert_true(iov_is(ev.request.origin.region, "eu-west-1"));
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/page", "", "Host", "example.com", "CloudFront-Viewer-Country", "US", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_false(ev.request.origin.changed);
    hook_fn_release(fn);
}

/* --- C examples --- */

static void test_c_security_headers(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("examples/hooks/c", "security_headers"), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "x-content-type-options"), "nosniff");
    assert_string_equal(hval(&ev.response.headers, "strict-transport-security"), "max-age=63072000; includeSubdomains; preload");
    /* it declared response events only: a request event passes through untouched */
    assert_false(hook_fn_handles(fn, HOOK_VIEWER_REQUEST));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    hook_fn_release(fn);
}

static void token_for(const char *secret, const char *uri, long long expires, char hex[65])
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s:%lld", uri, expires);
    unsigned char mac[32];
    size_t maclen = 0;
    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret), (unsigned char *)msg, (size_t)n, mac, sizeof(mac),
              &maclen);
    for (size_t i = 0; i != maclen; ++i)
        snprintf(hex + i * 2, 3, "%02x", mac[i]);
}

static void test_c_hmac_token(void **state)
{
    char err[512];
    assert_null(load_hook(plugin_path("examples/hooks/c", "hmac_token"), "{}", -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "needs \"secret\""));
    hook_fn_t *fn = load_hook(plugin_path("examples/hooks/c", "hmac_token"), "{\"secret\":\"k3y\"}", -1, 0, NULL, 0);
    long long exp = (long long)time(NULL) + 600;
    char tok[65], qs[256];
    token_for("k3y", "/video/1.mp4", exp, tok);
    snprintf(qs, sizeof(qs), "expires=%lld&token=%s", exp, tok);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/video/1.mp4", qs, NULL);
    assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/video/2.mp4", qs, NULL); /* token for another uri */
    assert_int_equal(run(fn, &ev), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 403);
    assert_true(iov_is(ev.response.body, "bad token\n"));
    token_for("k3y", "/video/1.mp4", 1000, tok);
    snprintf(qs, sizeof(qs), "expires=1000&token=%s", tok);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/video/1.mp4", qs, NULL);
    assert_int_equal(run(fn, &ev), HOOK_RESPOND);
    assert_true(iov_is(ev.response.body, "expired\n"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/video/1.mp4", "", NULL);
    assert_int_equal(run(fn, &ev), HOOK_RESPOND);
    hook_fn_release(fn);
}

static void test_c_uri_rewrite(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("examples/hooks/c", "uri_rewrite"), NULL, -1, 0, NULL, 0);
    static const char *const cases[][2] = {{"/about/", "/about/index.html"},
                                           {"/about", "/about/index.html"},
                                           {"/app.js", "/app.js"},
                                           {"/blog/2024/post", "/articles/2024/post/index.html"},
                                           {"/blog/feed.xml", "/articles/feed.xml"}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        hook_event_t ev;
        make_event(&pool, &ev, i % 2 ? HOOK_ORIGIN_REQUEST : HOOK_VIEWER_REQUEST, cases[i][0], "", NULL);
        assert_int_equal(run(fn, &ev), HOOK_CONTINUE);
        if (!iov_is(ev.request.uri, cases[i][1]))
            fail_msg("%s -> %.*s, expected %s", cases[i][0], (int)ev.request.uri.len, ev.request.uri.base, cases[i][1]);
    }
    hook_fn_release(fn);
}

/* --- edgehook invoke --- */

typedef struct captured {
    int status;
    char out[65536], err[65536];
} captured_t;

static void slurp(int fd, char *buf, size_t cap)
{
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

static void invoke(captured_t *c, ...)
{
    char *argv[32] = {"invoke"};
    int argc = 1;
    va_list ap;
    va_start(ap, c);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    char outp[] = "/tmp/edgehook-invoke-out-XXXXXX", errp[] = "/tmp/edgehook-invoke-err-XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    unlink(outp);
    unlink(errp);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(ofd, 1);
    dup2(efd, 2);
    c->status = hooks_invoke_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    log_open("-", getenv("EDGE_TEST_VERBOSE") != NULL ? LOG_DEBUG : -1);
    slurp(ofd, c->out, sizeof(c->out));
    slurp(efd, c->err, sizeof(c->err));
}

static void test_invoke(void **state)
{
    static captured_t c;
    invoke(&c, "--hook", "examples/hooks/lua/security_headers.lua", "--event", "examples/hooks/events/viewer-response.json", NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "\"x-frame-options\": [\n      {\"key\": \"X-Frame-Options\", \"value\": \"DENY\"}"));
    assert_non_null(strstr(c.err, "REPORT RequestId: 4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==\tDuration: "));
    assert_non_null(strstr(c.err, "Init Duration: "));
    assert_non_null(strstr(c.err, "Max Memory Used: 1 MB"));

    invoke(&c, "--hook", "examples/hooks/lua/basic_auth.lua", "--event", "examples/hooks/events/viewer-request.json", "--config",
           "{\"user\":\"u\",\"password\":\"p\"}", NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "\"status\": \"401\""));
    assert_non_null(strstr(c.out, "\"body\": \"Unauthorized\""));

    /* --type overrides the event's eventType */
    invoke(&c, "--hook", "examples/hooks/lua/pretty_urls.lua", "--event", "examples/hooks/events/viewer-request.json", "--type",
           "origin-request", NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "\"uri\": \"/docs/index.html\""));

    invoke(&c, "--hook", "examples/hooks/lua/origin_by_header.lua", "--event", "examples/hooks/events/origin-request.json", NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "\"domainName\": \"eu.example.com\""));

    invoke(&c, "--hook", plugin_path("examples/hooks/c", "uri_rewrite"), "--event", "examples/hooks/events/viewer-request.json",
           NULL);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "\"uri\": \"/docs/index.html\""));

    /* failures: exit 1 with the mapped status */
    invoke(&c, "--hook", "tests/hooks/throw.lua", "--event", "tests/hooks/events/viewer-request.json", NULL);
    assert_int_equal(c.status, 1);
    assert_non_null(strstr(c.out, "\"status\": 503"));
    assert_non_null(strstr(c.out, "\"errorType\": \"ExecutionError\""));
    assert_non_null(strstr(c.err, "failed: 503"));
    invoke(&c, "--hook", "tests/hooks/disallowed.lua", "--event", "tests/hooks/events/viewer-request.json", NULL);
    assert_int_equal(c.status, 1);
    assert_non_null(strstr(c.out, "\"status\": 502"));
#ifndef EDGE_TSAN /* TSAN_LOOP_REASON (helpers.h) */
    invoke(&c, "--hook", "tests/hooks/loop.lua", "--event", "tests/hooks/events/viewer-request.json", "--timeout", "100", NULL);
    assert_int_equal(c.status, 1);
    assert_non_null(strstr(c.out, "\"errorType\": \"TimeoutError\""));
#else
    print_message("skipped under ThreadSanitizer: invoke on a looping hook (%s)\n", TSAN_LOOP_REASON);
#endif

    /* usage and input errors: exit 2 with a clear message */
    invoke(&c, "--hook", "tests/hooks/throw.lua", NULL);
    assert_int_equal(c.status, 2);
    assert_non_null(strstr(c.err, "usage: edgehook invoke"));
    invoke(&c, "--hook", "tests/hooks/throw.lua", "--event", "tests/hooks/events/malformed.json", NULL);
    assert_int_equal(c.status, 2);
    assert_non_null(strstr(c.err, "tests/hooks/events/malformed.json:"));
    invoke(&c, "--hook", "tests/hooks/syntax_error.lua", "--event", "tests/hooks/events/viewer-request.json", NULL);
    assert_int_equal(c.status, 2);
    assert_non_null(strstr(c.err, "syntax_error.lua:4"));
    invoke(&c, "--hook", plugin_path("tests/hooks", "abi_major"), "--event", "tests/hooks/events/viewer-request.json", NULL);
    assert_int_equal(c.status, 2);
    assert_non_null(strstr(c.err, "different major"));
    /* any other JSON is a generic invocation: a hook without handler() takes none */
    invoke(&c, "--hook", "tests/hooks/triggers.lua", "--event", "tests/hooks/events/not-an-event.json", NULL);
    assert_int_equal(c.status, 2);
    assert_non_null(strstr(c.err, "not a Lambda@Edge event"));
    assert_non_null(strstr(c.err, "takes no generic invocation"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect),           cmocka_unit_test(test_ab_test),
        cmocka_unit_test(test_normalize_query),    cmocka_unit_test(test_origin_by_header),
        cmocka_unit_test(test_c_security_headers), cmocka_unit_test(test_c_hmac_token),
        cmocka_unit_test(test_c_uri_rewrite),      cmocka_unit_test(test_invoke),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
