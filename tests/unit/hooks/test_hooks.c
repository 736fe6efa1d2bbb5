/* tests/unit/hooks/test_hooks.c - the hooks runtime: triggers, rewrites, generated responses, 502/503 mapping, limits, ABI,
 * counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <lauxlib.h>
#include <lualib.h>
#include "hooks/internal.h"
#include "tests/unit/hooks/helpers.h"

extern const char hook_lua_prelude[];
extern const size_t hook_lua_prelude_len;

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

static hook_status_t run(hook_fn_t *fn, hook_event_t *ev, hook_report_t *rep)
{
    hook_report_t dummy;
    return hook_run(T, fn, ev, &pool, rep != NULL ? rep : &dummy);
}

/* --- Lua: each trigger type --- */

static void test_viewer_request_rewrite(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/pretty_urls.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/docs/", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/docs/index.html"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/about", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/about/index.html"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/app.js", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/app.js"));
    hook_fn_release(fn);
}

static void test_viewer_request_generated(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/basic_auth.lua", "{\"user\":\"alice\",\"password\":\"s3cret\"}", -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/private", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 401);
    assert_true(iov_is(ev.response.status_description, "Unauthorized"));
    assert_string_equal(hval(&ev.response.headers, "www-authenticate"), "Basic realm=\"edge\"");
    assert_true(ev.response.has_body && iov_is(ev.response.body, "Unauthorized"));
    assert_string_equal(rep.name, "examples/hooks/lua/basic_auth.lua");
    /* the right credentials continue */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/private", "", "Host", "example.com", "Authorization", "Basic YWxpY2U6czNjcmV0",
               NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.response.status, 0);
    hook_fn_release(fn);
}

static void test_origin_request_origin_selection(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/rich.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/x", "", "Host", "example.com", "X-Test", "custom", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    hook_origin_t *o = &ev.request.origin;
    assert_int_equal(o->kind, HOOK_ORIGIN_CUSTOM);
    assert_true(o->changed);
    assert_true(iov_is(o->domain_name, "other.example.com"));
    assert_int_equal(o->port, 8443);
    assert_true(iov_is(o->path, "/base"));
    assert_int_equal(o->read_timeout_s, 10);
    assert_string_equal(hval(&o->custom_headers, "x-origin-key"), "k");
    assert_string_equal(hval(&ev.request.headers, "host"), "other.example.com");

    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/x", "", "Host", "example.com", "X-Test", "s3", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.request.origin.kind, HOOK_ORIGIN_S3);
    assert_true(iov_is(ev.request.origin.region, "eu-west-1"));
    assert_true(iov_is(ev.request.origin.auth_method, "origin-access-identity"));
    assert_true(iov_is(ev.request.origin.path, "/photos"));

    /* reading the origin without changing it leaves it alone */
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/x", "", "Host", "example.com", "X-Test", "query", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_false(ev.request.origin.changed);
    assert_true(iov_is(ev.request.querystring, "b=2&a=1"));
    hook_fn_release(fn);
}

static void test_origin_response(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/rich.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/x", "", "Host", "example.com", NULL);
    ev.response.status = 404;
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.response.status, 200);
    assert_string_equal(hval(&ev.response.headers, "cache-control"), "max-age=60");
    assert_true(ev.response.has_body && iov_is(ev.response.body, "replaced"));
    hook_fn_release(fn);

    fn = load_hook("examples/hooks/lua/cache_control.lua", NULL, -1, 0, NULL, 0);
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/static/app.css", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "cache-control"), "public, max-age=31536000");
    hook_fn_release(fn);
}

static void test_viewer_response(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "x-frame-options"), "DENY");
    assert_string_equal(hval(&ev.response.headers, "content-type"), "text/html");
    assert_int_equal(ev.response.headers.size, 8);
    /* the same hook again on the same state: no state leaks between calls */
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.response.headers.size, 8);
    assert_int_equal(hcount(&ev.response.headers, "strict-transport-security"), 1);
    hook_fn_release(fn);
}

static void test_status_rules(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/status.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.response.status, 404);
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_int_equal(rep.http_status, 502);
    assert_non_null(strstr(rep.error, "read-only"));
    hook_fn_release(fn);
}

static void test_records0_and_callback(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/callback.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-host-seen"), "example.com");
    /* context as Lambda sets it: awsRequestId a UUID of its own (not the request id), the same on every read; the static fields */
    const char *uuid = hval(&ev.request.headers, "x-aws-request-id");
    assert_int_equal(strlen(uuid), 36);
    for (size_t i = 0; i != 36; ++i)
        assert_true(i == 8 || i == 13 || i == 18 || i == 23 ? uuid[i] == '-' : strchr("0123456789abcdef", uuid[i]) != NULL);
    assert_int_equal(uuid[14], '4');
    assert_non_null(strchr("89ab", uuid[19]));
    assert_string_equal(hval(&ev.request.headers, "x-aws-request-id-again"), uuid);
    assert_string_equal(
        hval(&ev.request.headers, "x-context"),
        "tests/hooks/callback.lua|$LATEST|64|arn:aws:lambda:us-east-1:000000000000:function:tests/hooks/callback.lua|"
        "/aws/lambda/us-east-1.tests/hooks/callback.lua|string");
    const char *stream = hval(&ev.request.headers, "x-log-stream");
    assert_int_equal(strlen(stream), strlen("2026/12/02/[$LATEST]") + 32);
    assert_non_null(strstr(stream, "/[$LATEST]"));
    /* another invocation (another request id) has another awsRequestId */
    char first[37];
    memcpy(first, uuid, 37);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", NULL);
    ev.request_id = h2o_iovec_init("req-456", 7);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_not_equal(hval(&ev.request.headers, "x-aws-request-id"), first);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/error", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_int_equal(rep.http_status, 503);
    assert_non_null(strstr(rep.error, "refused by callback"));
    hook_fn_release(fn);
}

static void test_generated_variants(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/rich.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "base64", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 200);
    assert_int_equal(ev.response.body.len, 9);
    assert_memory_equal(ev.response.body.base, "binary\0ok", 9);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "redirect", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 302); /* a number works as well as a string */
    assert_string_equal(hval(&ev.response.headers, "location"), "https://example.com/new");
    assert_true(iov_is(ev.response.headers.entries[0].key, "Location")); /* an omitted key is Title-Cased */
    /* a request rebuilt as a new table, and the request body replaced */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/old", "q=1", "Host", "example.com", "X-Test", "newtable", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/fresh"));
    assert_true(iov_is(ev.request.querystring, ""));
    assert_null(hval(&ev.request.headers, "x-test"));
    assert_string_equal(hval(&ev.request.headers, "host"), "example.com");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/upload", "", "Host", "example.com", "X-Test", "body", NULL);
    ev.request.body.present = 1;
    ev.request.body.data = h2o_iovec_init("old", 3);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(ev.request.body.replaced && iov_is(ev.request.body.data, "new body"));
    hook_fn_release(fn);
}

static void test_trigger_named_functions(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/triggers.lua", NULL, -1, 0, NULL, 0);
    assert_true(hook_fn_handles(fn, HOOK_VIEWER_REQUEST));
    assert_false(hook_fn_handles(fn, HOOK_ORIGIN_REQUEST));
    assert_false(hook_fn_handles(fn, HOOK_ORIGIN_RESPONSE));
    assert_true(hook_fn_handles(fn, HOOK_VIEWER_RESPONSE));
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-trigger"), "viewer-request");
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "x-trigger"), "viewer-response");
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE); /* not handled: untouched */
    assert_null(hval(&ev.request.headers, "x-trigger"));
    hook_fn_release(fn);
    fn = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    for (int type = 0; type != HOOK_NUM_EVENTS; ++type)
        assert_true(hook_fn_handles(fn, type));
    hook_fn_release(fn);
}

/* --- validation: 502 --- */

static void expect_invalid(hook_fn_t *fn, int type, const char *test, const char *needle)
{
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, type, "/", "", "Host", "example.com", "X-Test", test, NULL);
    hook_status_t st = run(fn, &ev, &rep);
    if (st != HOOK_INVALID || rep.http_status != 502 || strstr(rep.error, needle) == NULL)
        fail_msg("x-test %s: status %d http %d error \"%s\", expected 502 with \"%s\"", test, st, rep.http_status,
                 rep.error != NULL ? rep.error : "", needle);
}

static void test_lua_garbage(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/garbage.lua", NULL, -1, 0, NULL, 0);
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "number", "returned a number");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "table", "neither a request");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "status", "status must be");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "range", "not in 200-599");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "value", "must be a string");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "base64", "base64");
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "big", "over the limit");
    /* a key that names another header is ignored, as CloudFront does: the header is the map's name, in Title-Case */
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "key", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-a"), "1");
    assert_int_equal(hcount(&ev.request.headers, "x-b"), 0);
    ssize_t i = hook_headers_find(&ev.request.headers, "x-a", 3, 0);
    assert_true(i >= 0 && iov_is(ev.request.headers.entries[i].key, "X-A"));
    hook_fn_release(fn);
}

static void test_lua_big_origin_request_ok(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/garbage.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    /* 41 KB is over viewer-request's 40 KB but fine for origin-request's 1 MB */
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "X-Test", "big", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_RESPOND);
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "X-Test", "nobody204", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_INVALID);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Test", "nil", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_INVALID);
    hook_fn_release(fn);
}

static void test_hostile_results(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/weird.lua", NULL, -1, 0, NULL, 0);
    static const char *const cases[][2] = {{"numkey", "header names must be strings"},
                                           {"boolarr", "must be an array"},
                                           {"entry", "must be a table"},
                                           {"upper", "must be lowercase"},
                                           {"crlf", "CR, LF or NUL"},
                                           {"badname", "invalid header name"},
                                           {"uri", "must start with '/'"},
                                           {"urispace", "no spaces"},
                                           {"uritype", "must be a string"},
                                           {"bomb", "neither a request"},
                                           {"bombheaders", "metamethod bomb"},
                                           {"origin", "port must be"},
                                           {"origin2", "exactly one of custom or s3"},
                                           {"status", "status must be"},
                                           {"desc", "CR, LF or NUL"},
                                           {"bodytype", "body must be a string"},
                                           {"encoding", "bodyEncoding must be"}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        expect_invalid(fn, i == 11 || i == 12 ? HOOK_ORIGIN_REQUEST : HOOK_VIEWER_REQUEST, cases[i][0], cases[i][1]);
    hook_event_t ev;
    hook_report_t rep;
    /* a 100 KB header value is over the request head's cap (limits.max_request_header_size, 64 KB by default)... */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Test", "huge", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "limits.max_request_header_size"));
    /* ...and goes through whole under a larger one */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Test", "huge", NULL);
    ev.limits.request_bytes = 1 << 20;
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(strlen(hval(&ev.request.headers, "x-h")), 100000);
    hook_fn_release(fn);
}

/* the name check that runs on every header of every event (Lambda@Edge's list): every listed name, both prefixes, and
 * look-alikes that must pass */
static void test_disallowed_names(void **state)
{
    static const char *const yes[] = {"connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
                                      "proxy-connection", "trailer", "upgrade", "x-accel-buffering", "x-accel-charset",
                                      "x-accel-limit-rate", "x-accel-redirect", "x-amzn-auth", "x-amzn-cf-billing", "x-amzn-cf-id",
                                      "x-amzn-cf-xff", "x-amzn-errortype", "x-amzn-fle-profile", "x-amzn-header-count",
                                      "x-amzn-header-order", "x-amzn-lambda-integration-tag", "x-amzn-requestid", "x-cache",
                                      "x-forwarded-proto", "x-real-ip", "x-amz-cf-pop", "x-amz-cf-", "x-edge-location", "x-edge-"};
    static const char *const no[] = {"", "c", "content-type", "cache-control", "connections", "expects", "keep-alive2", "proxy",
                                     "proxy-status", "trailers", "upgrade-insecure-requests", "x-cache-status", "x-caches",
                                     "x-request-id", "x-real-ip2", "x-forwarded-for", "x-forwarded-host", "x-amz-meta-a",
                                     "x-amzn-other", "x-edge", "x-accel", "xx-cache", "x_cache", "via", "age", "etag", "server"};
    for (size_t i = 0; i != sizeof(yes) / sizeof(yes[0]); ++i)
        assert_true(hook_header_is_disallowed(yes[i], strlen(yes[i])));
    for (size_t i = 0; i != sizeof(no) / sizeof(no[0]); ++i) {
        if (hook_header_is_disallowed(no[i], strlen(no[i])))
            fail_msg("%s is not disallowed", no[i]);
    }
}

static void test_disallowed_and_readonly(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/disallowed.lua", NULL, -1, 0, NULL, 0);
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "-", "disallowed");
    hook_fn_release(fn);
    fn = load_hook("tests/hooks/readonly.lua", NULL, -1, 0, NULL, 0);
    expect_invalid(fn, HOOK_VIEWER_REQUEST, "-", "read-only header \"Host\"");
    expect_invalid(fn, HOOK_VIEWER_RESPONSE, "-", "read-only header \"Via\"");
    /* a disallowed header the pipeline passed may be dropped by rebuilding the headers, but not changed */
    hook_fn_t *rich = load_hook("tests/hooks/rich.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev2;
    make_event(&pool, &ev2, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Forwarded-Proto", "https", "X-Test", "newtable",
               NULL);
    assert_int_equal(run(rich, &ev2, NULL), HOOK_CONTINUE);
    assert_null(hval(&ev2.request.headers, "x-forwarded-proto"));
    hook_fn_release(rich);
    /* Host is not read-only in origin-request */
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "Host", "example.com", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "host"), "evil.example");
    hook_fn_release(fn);
}

/* --- exceptions: 503 --- */

static void test_throw(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/throw.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/boom", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_int_equal(rep.http_status, 503);
    assert_non_null(strstr(rep.error, "boom: no way to handle /boom"));
    assert_non_null(strstr(rep.error, "stack traceback"));
    assert_non_null(strstr(rep.error, "tests/hooks/throw.lua:3"));
    assert_non_null(strstr(rep.error, "in function 'check'"));
    hook_fn_release(fn);
}

static void test_load_errors(void **state)
{
    char err[1024];
    assert_null(load_hook("tests/hooks/syntax_error.lua", NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "tests/hooks/syntax_error.lua:4"));
    assert_null(load_hook("tests/hooks/no_handler.lua", NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "no function handler"));
    assert_null(load_hook("tests/hooks/loop_toplevel.lua", NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "top-level code runs too long"));
    assert_null(load_hook("tests/hooks/nope.lua", NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "tests/hooks/nope.lua: cannot open"));
}

/* --- limits --- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* a stop that never comes would loop forever: these bounds only turn that into a failure. They are not latency figures (a
 * loaded machine may take seconds): bench/latency.py measures how soon a loop is stopped */
#define HANG_GUARD_MS 30000

static void test_infinite_loop_jit(void **state)
{
    SKIP_UNDER_TSAN(TSAN_LOOP_REASON);
    hook_fn_t *loop = load_hook("tests/hooks/loop.lua", NULL, 100, 0, NULL, 0);
    hook_fn_t *ok = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    for (int round = 0; round != 3; ++round) {
        hook_event_t ev;
        hook_report_t rep;
        make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
        uint64_t t0 = wall_ms();
        assert_int_equal(run(loop, &ev, &rep), HOOK_FAILED);
        uint64_t took = wall_ms() - t0;
        assert_int_equal(rep.http_status, 503);
        assert_true(rep.timed_out);
        assert_non_null(strstr(rep.error, "timed out after 100 ms"));
        /* the first stop is hard (compiled loop); the state comes back interpreted, where the debug hook stops it softly -
         * unless the thread was not scheduled within the 50 ms between the soft and the hard stop (a loaded machine): then
         * it is stopped hard again, which is as good an answer. Which one it was is printed, not asserted */
        if (round == 0)
            assert_non_null(strstr(rep.error, "stopped hard"));
        else if (strstr(rep.error, "hook timed out") == NULL) {
            assert_non_null(strstr(rep.error, "stopped hard"));
            print_message("round %d: stopped hard, not softly (the thread was late for the soft stop)\n", round);
        }
        assert_true(took >= 100);
        assert_true(took < HANG_GUARD_MS);
        /* the same thread serves another hook right away */
        make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
        assert_int_equal(run(ok, &ev, NULL), HOOK_CONTINUE);
        assert_string_equal(hval(&ev.response.headers, "x-frame-options"), "DENY");
    }
    hook_stats_t s;
    hook_fn_stats(loop, &s);
    assert_int_equal(s.invocations, 3);
    assert_int_equal(s.timeouts, 3);
    assert_int_equal(s.errors, 3);
    hook_fn_release(loop);
    hook_fn_release(ok);
}

/* --- calls moved to another thread (hook_call_t) --- */

typedef struct continuation {
    hook_call_t *call;
    int finished;
} continuation_t;

static void *continue_call(void *arg)
{
    continuation_t *k = arg;
    hook_thread_t *t = hook_thread_new();
    assert_non_null(t);
    k->finished = hook_call_run(t, k->call, 0);
    hook_thread_free(t);
    return NULL;
}

static void test_call_moves_to_another_thread(void **state)
{
#ifdef EDGE_TSAN
    /* the move of a compiled loop is made by the watchdog's signal, which ThreadSanitizer holds back until the thread enters
     * one of its interceptors (never, in this loop) */
    skip();
#endif
    hook_fn_t *fn = load_hook("tests/hooks/moves.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", NULL);
    /* 5 ms on this thread, then suspended in the middle of its loop */
    hook_call_t *c = hook_call_new(T, fn, &ev, &pool);
    assert_int_equal(hook_call_run(T, c, 5), 0);
    assert_true(hook_call_remaining_ms(c) > 1000); /* its own 5 s timeout, not the budget */
    /* another thread goes on from there to the end */
    continuation_t k = {c, 0};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, continue_call, &k), 0);
    pthread_join(tid, NULL);
    assert_int_equal(k.finished, 1);
    assert_int_equal(hook_call_result(c, &rep), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-calls"), "1"); /* started once */
    assert_true(rep.duration_ns >= 60000000u);
    hook_call_free(c); /* its state comes back to this thread */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/b", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-calls"), "2"); /* the same state: one call before this one */

    /* a suspended call can be given memory of its own, ended as a timeout without going on, or abandoned */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/c", "", "X-Old", "v", NULL);
    c = hook_call_new(T, fn, &ev, &pool);
    assert_int_equal(hook_call_run(T, c, 5), 0);
    h2o_mem_pool_t own;
    hook_event_t moved;
    h2o_mem_init_pool(&own);
    hook_call_move_memory(c, &moved, &own);
    assert_ptr_not_equal(moved.request.headers.entries, ev.request.headers.entries);
    assert_string_equal(hval(&moved.request.headers, "x-old"), "v");
    hook_call_expire(T, c, "a test");
    assert_int_equal(hook_call_result(c, &rep), HOOK_FAILED);
    assert_true(rep.timed_out && rep.http_status == 503);
    hook_call_free(c);
    h2o_mem_clear_pool(&own);
    c = hook_call_new(T, fn, &ev, &pool);
    assert_int_equal(hook_call_run(T, c, 5), 0);
    hook_call_free(c);
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.moved, 3);
    /* the thread goes on working: the states of the abandoned calls were freed (ASan checks), a new one is built */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/d", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    hook_fn_release(fn);
}

/* a call moved while it reads the caller's strings: the prelude's getters hand it copies in its Lua state's memory, so nothing
 * it reads after the move is the caller's, which is freed here before it goes on (ASan would see the read otherwise). Where the
 * move lands is the watchdog's choice: most of the call is reading, and several calls are tried; the number moved is printed */
static void test_call_moved_while_reading(void **state)
{
#ifdef EDGE_TSAN
    skip(); /* the move is made by the watchdog's signal, which ThreadSanitizer delivers only at its interceptors */
#endif
    enum { COUNT = 256, LEN = 32 << 10, TRIES = 12 };
    hook_fn_t *fn = load_hook("tests/hooks/reads_big.lua", NULL, -1, 0, NULL, 0);
    char *val = malloc(LEN + 1);
    assert_non_null(val);
    char expect[64];
    snprintf(expect, sizeof(expect), "%d ok", COUNT * LEN);
    int moved_calls = 0;
    for (int i = 0; i != TRIES; ++i) {
        h2o_mem_pool_t req, own;
        hook_event_t ev, moved;
        hook_report_t rep;
        h2o_mem_init_pool(&req);
        make_event(&req, &ev, HOOK_VIEWER_REQUEST, "/r", "", "X-Count", "256", NULL);
        for (int h = 1; h <= COUNT; ++h) {
            char name[16];
            int n = snprintf(val, LEN + 1, "%d:", h);
            memset(val + n, 'a' + (h + i) % 26, LEN - (size_t)n);
            val[LEN] = '\0';
            snprintf(name, sizeof(name), "X-B%d", h);
            hook_headers_add(&req, &ev.request.headers, name, strlen(name), val, LEN);
        }
        hook_call_t *c = hook_call_new(T, fn, &ev, &req);
        const hook_event_t *out = &ev;
        if (hook_call_run(T, c, 1) == 0) {
            /* moved: the event goes to memory of its own, the caller's is freed, another thread goes on */
            ++moved_calls;
            h2o_mem_init_pool(&own);
            hook_call_move_memory(c, &moved, &own);
            h2o_mem_clear_pool(&req);
            continuation_t k = {c, 0};
            pthread_t tid;
            assert_int_equal(pthread_create(&tid, NULL, continue_call, &k), 0);
            pthread_join(tid, NULL);
            assert_int_equal(k.finished, 1);
            out = &moved;
        }
        if (hook_call_result(c, &rep) != HOOK_CONTINUE)
            fail_msg("call %d: %s", i, rep.error != NULL ? rep.error : "?");
        assert_string_equal(hval(&out->request.headers, "x-read"), expect);
        hook_call_free(c);
        h2o_mem_clear_pool(out == &moved ? &own : &req);
    }
    print_message("%d of %d calls moved while reading\n", moved_calls, TRIES);
    free(val);
    hook_fn_release(fn);
}

static void test_loop_swallowing_timeout(void **state)
{
    SKIP_UNDER_TSAN(TSAN_LOOP_REASON);
    hook_fn_t *fn = load_hook("tests/hooks/loop_pcall.lua", NULL, 100, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    uint64_t t0 = wall_ms();
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_true(rep.timed_out);
    assert_true(wall_ms() - t0 < HANG_GUARD_MS);
    hook_fn_release(fn);
}

static void test_loop_in_host_functions(void **state)
{
    SKIP_UNDER_TSAN(TSAN_LOOP_REASON);
    hook_fn_t *fn = load_hook("tests/hooks/loop_host.lua", NULL, 100, 0, NULL, 0);
    hook_fn_t *ok = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    for (int i = 0; i != 3; ++i) {
        hook_event_t ev;
        hook_report_t rep;
        make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
        uint64_t t0 = wall_ms();
        assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
        assert_true(rep.timed_out);
        assert_true(wall_ms() - t0 < HANG_GUARD_MS);
        make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
        assert_int_equal(run(ok, &ev, NULL), HOOK_CONTINUE);
    }
    hook_fn_release(fn);
    hook_fn_release(ok);
}

static void test_slow_plugin(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("tests/hooks", "slow"), NULL, 50, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_int_equal(rep.http_status, 503);
    assert_true(rep.timed_out);
    assert_non_null(strstr(rep.error, "past its timeout"));
    hook_fn_release(fn);
}

static void test_memory_cap(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/alloc.lua", NULL, -1, 8u << 20, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-kept"), "0");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "X-Alloc", "1", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_int_equal(rep.http_status, 503);
    assert_true(rep.out_of_memory);
    assert_non_null(strstr(rep.error, "memory limit"));
    /* the state was rebuilt: the module-level table starts empty again */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-kept"), "0");
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.oom, 1);
    hook_fn_release(fn);
}

static void test_sandbox_and_edge_module(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/sandbox.lua", "{\"greeting\":\"hi\"}", -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "Accept", "*/*", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.request.headers, "x-leaks"), "");
    assert_string_equal(hval(&ev.request.headers, "x-sha"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(hval(&ev.request.headers, "x-hmac"), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    assert_string_equal(hval(&ev.request.headers, "x-b64"), "aGVsbG8=,hello");
    assert_string_equal(hval(&ev.request.headers, "x-config"), "hi");
    /* pairs() sees every header, lazily materialised: host, accept, and the 5 it added before counting */
    assert_string_equal(hval(&ev.request.headers, "x-count"), "7");
    hook_fn_release(fn);
}

/* --- native plugins --- */

static void test_abi_refusals(void **state)
{
    char err[1024];
    const char *p = plugin_path("tests/hooks", "abi_major");
    assert_null(load_hook(p, NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "ABI 2.0"));
    assert_non_null(strstr(err, "different major"));
    p = plugin_path("tests/hooks", "abi_minor");
    assert_null(load_hook(p, NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    char newer[64];
    snprintf(newer, sizeof(newer), "ABI %d.%d, newer than", EDGE_HOOK_ABI_MAJOR, EDGE_HOOK_ABI_MINOR + 1);
    assert_non_null(strstr(err, newer));
    p = plugin_path("tests/hooks", "abi_small");
    assert_null(load_hook(p, NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "descriptor is 16 bytes, smaller than"));
    assert_null(load_hook(plugin_path("tests/hooks", "does_not_exist"), NULL, -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    /* init failing */
    assert_null(load_hook(plugin_path("tests/hooks", "exercise"), "{\"fail_init\":true}", -1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "plugin init failed: asked to fail"));
}

static void test_c_garbage(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("tests/hooks", "garbage"), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_int_equal(rep.http_status, 502);
    assert_non_null(strstr(rep.error, "garbage: action 12345"));
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "without a response"));
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "status 42"));
    hook_stats_t s;
    hook_fn_stats(fn, &s);
    assert_int_equal(s.invalid, 3);
    hook_fn_release(fn);
}

static void test_c_exercise(void **state)
{
    hook_fn_t *fn = load_hook(plugin_path("tests/hooks", "exercise"), "{\"greeting\":\"hey\"}", -1, 0, NULL, 0);
    hook_event_t ev;
    hook_report_t rep;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "respond", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_RESPOND);
    assert_int_equal(ev.response.status, 403);
    assert_true(iov_is(ev.response.body, "hey"));
    assert_string_equal(hval(&ev.response.headers, "content-type"), "text/plain");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "rewrite", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.uri, "/rewritten"));
    assert_true(iov_is(ev.request.querystring, "a=1"));
    assert_string_equal(hval(&ev.request.headers, "x-greeting"), "hey");
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "Host", "example.com", "X-Test", "origin", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.origin.domain_name, "backup.example.com"));
    assert_string_equal(hval(&ev.request.origin.custom_headers, "x-secret"), "s3cr3t");
    assert_int_equal(ev.request.origin.ssl_protocols, HOOK_SSL_TLSV1_2 | HOOK_SSL_TLSV1_3);
    /* a plugin built against ABI 1.0 passes a smaller edge_origin_t: no sslProtocols, the origin's default */
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "Host", "example.com", "X-Test", "origin-1.0", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(iov_is(ev.request.origin.domain_name, "backup.example.com"));
    assert_int_equal(ev.request.origin.ssl_protocols, 0);
    make_event(&pool, &ev, HOOK_ORIGIN_REQUEST, "/", "", "Host", "example.com", "X-Test", "origin-badssl", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "sslProtocols"));
    /* origin-response: get_origin says where the request went */
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", "Host", "example.com", "X-Test", "origin-seen", NULL);
    ev.request.origin.kind = HOOK_ORIGIN_CUSTOM;
    ev.request.origin.domain_name = h2o_iovec_init("went.example", 12);
    ev.request.origin.ssl_protocols = HOOK_SSL_TLSV1_2;
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "x-origin-seen"), "went.example:8");
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "origin", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID); /* origin is read-only outside origin-request: 502 beats EDGE_FAIL */
    assert_non_null(strstr(rep.error, "request.origin is read-only"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "readonly", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "read-only header"));
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "Host", "example.com", "X-Test", "disallowed", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "disallowed"));
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", "Host", "example.com", "X-Test", "fail", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_FAILED);
    assert_int_equal(rep.http_status, 503);
    assert_string_equal(rep.error, "exercise: asked to fail");
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", "Host", "example.com", "X-Test", "body", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_int_equal(ev.response.status, 201);
    assert_true(iov_is(ev.response.body, "replaced"));
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", "Host", "example.com", "X-Test", "status", NULL);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    /* ABI 1.7: the origin's body when the host read it (has_origin_body), none otherwise; read-only; offload is denied to a
     * call nobody can move (hook_run) and the call goes on where it is */
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", "Host", "example.com", "X-Test", "origin-body", NULL);
    ev.response.has_origin_body = 1;
    ev.response.origin_body = h2o_iovec_init("\0bytes", 6);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_true(ev.response.body.len == 11 && memcmp(ev.response.body.base, "seen:\0bytes", 11) == 0);
    assert_string_equal(hval(&ev.response.headers, "x-offload"), "denied");
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", "Host", "example.com", "X-Test", "origin-body", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    assert_string_equal(hval(&ev.response.headers, "x-origin-body"), "none");
    assert_int_equal(ev.response.has_body, 0);
    make_event(&pool, &ev, HOOK_ORIGIN_RESPONSE, "/", "", "Host", "example.com", "X-Test", "origin-body-set", NULL);
    ev.response.has_origin_body = 1;
    ev.response.origin_body = h2o_iovec_init("b", 1);
    assert_int_equal(run(fn, &ev, &rep), HOOK_INVALID);
    assert_non_null(strstr(rep.error, "the origin's body"));
    hook_fn_release(fn);
}

/* --- counters, metrics, misc --- */

static void test_counters_and_metrics(void **state)
{
    hook_fn_t *fn = load_hook("tests/hooks/throw.lua", NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    /* the counts of a version go on from those of an instance of it another test loaded and that is not gone yet (a reload
     * keeps a version's counts: base/series.h; a thread's counters are attached at its first call): measured from one call on */
    hook_stats_t s0, s;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
    run(fn, &ev, NULL);
    hook_fn_stats(fn, &s0);
    for (int i = 0; i != 5; ++i) {
        make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/", "", NULL);
        run(fn, &ev, NULL);
    }
    hook_fn_stats(fn, &s);
    assert_int_equal(s.invocations - s0.invocations, 5);
    assert_int_equal(s.errors - s0.errors, 5);
    assert_int_equal(s.invalid - s0.invalid, 0);
    uint64_t total = 0;
    for (size_t i = 0; i != HOOK_HIST_BUCKETS; ++i)
        total += s.buckets[i] - s0.buckets[i];
    assert_int_equal(total, 5);
    char buf[8192], want[64];
    size_t n = hook_fn_metrics(fn, buf, sizeof(buf), 1);
    assert_true(n < sizeof(buf));
    assert_non_null(strstr(buf, "edgehook_hook_invocations_total{hook=\"tests/hooks/throw.lua\""));
    snprintf(want, sizeof(want), "status=\"503\"} %llu", (unsigned long long)(s.errors - s.invalid));
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), "le=\"+Inf\"} %llu", (unsigned long long)s.invocations);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "# TYPE edgehook_hook_duration_seconds histogram"));
    assert_int_equal(strlen(hook_fn_hash(fn)), 64);
    hook_fn_release(fn);
}

static void test_prelude_in_sync(void **state)
{
    FILE *fp = fopen("hooks/prelude.lua", "rb");
    assert_non_null(fp);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    if (n != hook_lua_prelude_len || memcmp(buf, hook_lua_prelude, n) != 0)
        fail_msg("hooks/prelude.c is stale: run /usr/bin/python3 hooks/prelude_gen.py");
}

/* the prelude's ffi.cdef copies edge_hook.h's structs and hook_lua_api_t: every field must sit where C puts it */
static void test_ffi_layout_matches(void **state)
{
    FILE *fp = fopen("hooks/prelude.lua", "rb");
    assert_non_null(fp);
    static char src[1 << 20];
    size_t n = fread(src, 1, sizeof(src) - 1, fp);
    fclose(fp);
    src[n] = '\0';
    char *a = strstr(src, "ffi.cdef [["), *b = a != NULL ? strstr(a, "]]") : NULL;
    assert_non_null(b);
    *b = '\0';
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, "ffi");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "cdef");
    lua_pushstring(L, a + strlen("ffi.cdef [["));
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "offsetof");
    int offsetof_fn = lua_gettop(L);
#define CHECK(type, field)                                                                                                         \
    do {                                                                                                                           \
        lua_pushvalue(L, offsetof_fn);                                                                                             \
        lua_pushstring(L, #type);                                                                                                  \
        lua_pushstring(L, #field);                                                                                                 \
        lua_call(L, 2, 1);                                                                                                         \
        if (lua_tointeger(L, -1) != (lua_Integer)offsetof(type, field))                                                            \
            fail_msg(#type "." #field ": ffi offset %d, C offset %d", (int)lua_tointeger(L, -1), (int)offsetof(type, field));      \
        lua_pop(L, 1);                                                                                                             \
    } while (0)
    CHECK(edge_str_t, len);
    CHECK(edge_header_t, key);
    CHECK(edge_header_t, value);
    CHECK(edge_origin_t, kind);
    CHECK(edge_origin_t, domain_name);
    CHECK(edge_origin_t, auth_method);
    CHECK(edge_origin_t, port);
    CHECK(edge_origin_t, num_custom_headers);
    CHECK(edge_origin_t, custom_headers);
    CHECK(edge_host_t, size);
    CHECK(edge_host_t, get);
    CHECK(edge_host_t, set);
    CHECK(edge_host_t, get_status);
    CHECK(edge_host_t, set_status);
    CHECK(edge_host_t, header_count);
    CHECK(edge_host_t, header_at);
    CHECK(edge_host_t, header_get);
    CHECK(edge_host_t, header_add);
    CHECK(edge_host_t, header_remove);
    CHECK(edge_host_t, header_set);
    CHECK(edge_host_t, respond);
    CHECK(edge_host_t, get_origin);
    CHECK(edge_host_t, set_origin);
    CHECK(edge_host_t, alloc);
    CHECK(edge_host_t, log);
    CHECK(edge_host_t, fail);
    CHECK(hook_lua_api_t, invalid);
    CHECK(hook_lua_api_t, headers_clear);
    CHECK(hook_lua_api_t, b64enc);
    CHECK(hook_lua_api_t, b64dec);
    CHECK(hook_lua_api_t, digest);
    CHECK(hook_lua_api_t, hmac);
    CHECK(hook_lua_api_t, time);
    CHECK(hook_lua_api_t, remaining_ms);
    CHECK(hook_lua_api_t, fnv1a);
    CHECK(hook_lua_api_t, log);
    CHECK(hook_lua_api_t, scratch);
    CHECK(hook_lua_api_t, header_put);
    CHECK(hook_lua_api_t, fetch_add);
    CHECK(hook_lua_api_t, fetch_header);
    CHECK(hook_lua_api_t, fetch_wait);
    CHECK(hook_lua_api_t, fetch_result);
    CHECK(hook_lua_api_t, fetch_header_at);
#undef CHECK
    lua_close(L);
}

static void test_fn_refcount_and_sweep(void **state)
{
    hook_fn_t *fn = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    hook_fn_addref(fn);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    hook_fn_release(fn);
    hook_thread_sweep(T); /* still referenced: stays */
    make_event(&pool, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
    assert_int_equal(run(fn, &ev, NULL), HOOK_CONTINUE);
    hook_fn_release(fn); /* last owner: the thread's state goes at the next sweep, then the version */
    hook_thread_sweep(T);
}

/* several workers share one version; a third is stuck in a compiled loop meanwhile: only it is stopped */
typedef struct worker_arg {
    hook_fn_t *fn;
    int calls, ok, failed;
    h2o_mem_pool_t pool; /* cleared by the main thread: h2o recycles pool chunks per thread, and would leak them at thread exit */
} worker_arg_t;

static void *on_worker(void *p)
{
    worker_arg_t *a = p;
    sigset_t all; /* like a server that handles signals on its main thread only */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    hook_thread_t *t = hook_thread_new();
    h2o_mem_pool_t *wpp = &a->pool;
#define wp (*wpp)
    for (int i = 0; i != a->calls; ++i) {
        hook_event_t ev;
        make_event(&wp, &ev, HOOK_VIEWER_RESPONSE, "/", "", NULL);
        hook_report_t rep;
        hook_status_t st = hook_run(t, a->fn, &ev, &wp, &rep);
        if (st == HOOK_CONTINUE && hval(&ev.response.headers, "x-frame-options") != NULL)
            ++a->ok;
        else if (st == HOOK_FAILED && rep.timed_out)
            ++a->failed;
    }
#undef wp
    hook_thread_free(t);
    return NULL;
}

static void test_threads(void **state)
{
    SKIP_UNDER_TSAN(TSAN_LOOP_REASON);
    hook_fn_t *ok = load_hook("examples/hooks/lua/security_headers.lua", NULL, -1, 0, NULL, 0);
    hook_fn_t *loop = load_hook("tests/hooks/loop.lua", NULL, 150, 0, NULL, 0);
    worker_arg_t a[3] = {{ok, 3000, 0, 0}, {ok, 3000, 0, 0}, {loop, 2, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i != 3; ++i) {
        h2o_mem_init_pool(&a[i].pool);
        assert_int_equal(pthread_create(&th[i], NULL, on_worker, &a[i]), 0);
    }
    for (int i = 0; i != 3; ++i) {
        pthread_join(th[i], NULL);
        h2o_mem_clear_pool(&a[i].pool);
    }
    assert_int_equal(a[0].ok, 3000);
    assert_int_equal(a[1].ok, 3000);
    assert_int_equal(a[2].failed, 2);
    hook_stats_t s;
    hook_fn_stats(ok, &s);
    assert_int_equal(s.invocations, 6000);
    assert_int_equal(s.errors, 0);
    hook_fn_stats(loop, &s);
    assert_int_equal(s.timeouts, 2);
    hook_fn_release(ok);
    hook_fn_release(loop);
}

/* micro-benchmark: prints ns/call; asserts only a generous bound so that a loaded machine does not fail it */
static double bench(hook_fn_t *fn, int n)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (int i = 0; i != n; ++i) {
        hook_event_t ev;
        hook_event_init(&ev, HOOK_VIEWER_RESPONSE);
        ev.request_id = h2o_iovec_init("r", 1);
        ev.response.status = 200;
        hook_headers_add_nocopy(&pool, &ev.response.headers, h2o_iovec_init("content-type", 12), h2o_iovec_init("Content-Type", 12),
                                h2o_iovec_init("text/html", 9));
        hook_headers_add_nocopy(&pool, &ev.response.headers, h2o_iovec_init("etag", 4), h2o_iovec_init("ETag", 4),
                                h2o_iovec_init("\"x\"", 3));
        if (hook_run(T, fn, &ev, &pool, NULL) != HOOK_CONTINUE || ev.response.headers.size < 3)
            fail_msg("benchmark hook failed");
        if ((i & 255) == 255)
            h2o_mem_clear_pool(&pool);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

static void test_benchmark(void **state)
{
    SKIP_UNDER_TSAN("a benchmark: ThreadSanitizer's figures mean nothing, and a starved call can reach its wall-clock timeout");
    hook_fn_t *lua = load_hook("tests/hooks/bench_one_header.lua", NULL, -1, 0, NULL, 0);
    hook_fn_t *c = load_hook(plugin_path("tests/hooks", "bench_one_header"), NULL, -1, 0, NULL, 0);
    bench(lua, 20000); /* warm up: JIT */
    bench(c, 20000);
    double l = bench(lua, 200000), n = bench(c, 200000);
    printf("[ BENCH    ] viewer-response adding one header: Lua %.0f ns/call, C %.0f ns/call (CPU time, incl. event setup)\n", l,
           n);
    assert_true(l < 50000);
    assert_true(n < 50000);
    hook_fn_release(lua);
    hook_fn_release(c);
    /* a hook that reads: two header getters, whose results the prelude's getters copy into the state's own memory */
    hook_fn_t *rd = load_hook("tests/hooks/bench_read_headers.lua", NULL, -1, 0, NULL, 0);
    bench(rd, 20000);
    double r = bench(rd, 200000);
    printf("[ BENCH    ] viewer-response reading two headers, adding one: Lua %.0f ns/call (CPU time, incl. event setup)\n", r);
    assert_true(r < 50000);
    hook_fn_release(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viewer_request_rewrite),
        cmocka_unit_test(test_viewer_request_generated),
        cmocka_unit_test(test_origin_request_origin_selection),
        cmocka_unit_test(test_origin_response),
        cmocka_unit_test(test_viewer_response),
        cmocka_unit_test(test_status_rules),
        cmocka_unit_test(test_records0_and_callback),
        cmocka_unit_test(test_generated_variants),
        cmocka_unit_test(test_trigger_named_functions),
        cmocka_unit_test(test_lua_garbage),
        cmocka_unit_test(test_lua_big_origin_request_ok),
        cmocka_unit_test(test_hostile_results),
        cmocka_unit_test(test_disallowed_names),
        cmocka_unit_test(test_disallowed_and_readonly),
        cmocka_unit_test(test_throw),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_infinite_loop_jit),
        cmocka_unit_test(test_loop_swallowing_timeout),
        cmocka_unit_test(test_loop_in_host_functions),
        cmocka_unit_test(test_slow_plugin),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_sandbox_and_edge_module),
        cmocka_unit_test(test_abi_refusals),
        cmocka_unit_test(test_c_garbage),
        cmocka_unit_test(test_c_exercise),
        cmocka_unit_test(test_counters_and_metrics),
        cmocka_unit_test(test_prelude_in_sync),
        cmocka_unit_test(test_ffi_layout_matches),
        cmocka_unit_test(test_fn_refcount_and_sweep),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_call_moves_to_another_thread),
        cmocka_unit_test(test_call_moved_while_reading),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
