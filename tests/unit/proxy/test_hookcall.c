/* tests/unit/proxy/test_hookcall.c - the hook-call module without a server: calls that complete at once, a call that outgrows
 * its inline budget and completes later (run again from the event as it was given), cancellation, the caps on results; and the
 * loop that runs a request's steps (proxy/reqfsm.h); the cache statuses' names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <time.h>
#include "proxy/handler.h"
#include "proxy/hookcall.h"
#include "proxy/offload.h"
#include "proxy/reqfsm.h"
#include "tests/unit/hooks/helpers.h"

static hook_thread_t *T;
static h2o_evloop_t *loop;
static h2o_multithread_receiver_t receiver;
static char dir[64];

static const char *write_hook(const char *name, const char *source)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(source, f);
    fclose(f);
    return path;
}

/* adds a header and appends "/x" to the uri */
static const char quick_lua[] = "function handler(event)\n"
                                "  local r = event.Records[1].cf.request\n"
                                "  r.headers['x-ran'] = {{key = 'X-Ran', value = 'yes'}}\n"
                                "  r.uri = r.uri .. '/x'\n"
                                "  return r\n"
                                "end\n";

/* the same after 80 ms of work: past the inline budget (OFFLOAD_INLINE_BUDGET_MS) */
static const char slow_lua[] = "function handler(event)\n"
                               "  local r = event.Records[1].cf.request\n"
                               "  r.uri = r.uri .. '/x'\n"
                               "  local t = os.clock()\n"
                               "  while os.clock() - t < 0.08 do end\n"
                               "  r.headers['x-ran'] = {{key = 'X-Ran', value = 'yes'}}\n"
                               "  return r\n"
                               "end\n";

/* fails */
static const char throw_lua[] = "function handler(event) error('no') end\n";

/* adds ten headers */
static const char many_lua[] = "function handler(event)\n"
                               "  local r = event.Records[1].cf.request\n"
                               "  for i = 1, 10 do r.headers['x-h' .. i] = {{key = 'X-H' .. i, value = 'v'}} end\n"
                               "  return r\n"
                               "end\n";

static int setup(void **state)
{
    (void)state;
    log_open("-", getenv("EDGE_TEST_VERBOSE") != NULL ? LOG_DEBUG : -1);
    snprintf(dir, sizeof(dir), "/tmp/edge-hookcall-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    offload_init(1);
    loop = h2o_evloop_create();
    offload_receiver_init(&receiver, h2o_multithread_create_queue(loop));
    if ((T = hook_thread_new()) == NULL)
        return -1;
    hookcall_thread_init(T, &receiver);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

typedef struct completion {
    int calls;
    hookcall_t *call;
} completion_t;

static void on_done(hookcall_t *call, void *arg)
{
    completion_t *c = arg;
    ++c->calls;
    c->call = call;
}

/* a budget no scheduling delay reaches: a quick call finishes inline even on a starved machine (the move is test_completes_later's) */
#define ROOMY_BUDGET_MS 600000

/* runs the loop until the completion was called or `ms` passed */
static void wait_for(completion_t *c, int ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        h2o_evloop_run(loop, 10);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (c->calls == 0 && (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

static void test_completes_at_once(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    hook_fn_t *fn = load_hook(write_hook("quick.lua", quick_lua), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", "Host", "example.com", NULL);
    hook_head_limits_t limits = {1000, 50, 2000, 60};
    hookcall_t call = HOOKCALL_INIT;
    completion_t c = {0};

    offload_set_budget_ms(ROOMY_BUDGET_MS);
    assert_int_equal(hookcall_start(&call, fn, &ev, &pool, &limits, on_done, &c), HOOKCALL_DONE);
    assert_int_equal(call.status, HOOK_CONTINUE);
    assert_ptr_equal(call.ev, &ev);
    assert_false(hookcall_is_pending(&call));
    assert_true(iov_is(ev.request.uri, "/a/x"));
    assert_string_equal(hval(&ev.request.headers, "x-ran"), "yes");
    assert_int_equal(ev.limits.request_count, 50);
    assert_int_equal(ev.limits.response_bytes, 2000);
    hookcall_cancel(&call);
    assert_int_equal(c.calls, 0); /* a call that completes at once does not call back */
    offload_set_budget_ms(OFFLOAD_INLINE_BUDGET_MS);
    hook_fn_release(fn);
    h2o_mem_clear_pool(&pool);
}

static void test_result_over_the_caps(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    hook_fn_t *fn = load_hook(write_hook("many.lua", many_lua), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    hookcall_t call = HOOKCALL_INIT;
    completion_t c = {0};

    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", "Host", "example.com", NULL);
    offload_set_budget_ms(ROOMY_BUDGET_MS);
    hook_head_limits_t small = {64 * 1024, 5, 64 * 1024, 200};
    assert_int_equal(hookcall_start(&call, fn, &ev, &pool, &small, on_done, &c), HOOKCALL_DONE);
    assert_int_equal(call.status, HOOK_INVALID);
    assert_int_equal(call.http_status, 502);
    hook_fn_t *thrower = load_hook(write_hook("throw.lua", throw_lua), NULL, -1, 0, NULL, 0);
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", NULL);
    assert_int_equal(hookcall_start(&call, thrower, &ev, &pool, NULL, on_done, &c), HOOKCALL_DONE);
    assert_int_equal(call.status, HOOK_FAILED);
    assert_int_equal(call.http_status, 503);
    hook_fn_release(thrower);

    /* NULL keeps the event's own (hook_event_init's defaults) */
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", "Host", "example.com", NULL);
    assert_int_equal(hookcall_start(&call, fn, &ev, &pool, NULL, on_done, &c), HOOKCALL_DONE);
    assert_int_equal(call.status, HOOK_CONTINUE);
    assert_int_equal(ev.limits.request_count, HOOK_DEFAULT_REQUEST_HEADERS);
    offload_set_budget_ms(OFFLOAD_INLINE_BUDGET_MS);
    hookcall_cancel(&call);
    hook_fn_release(fn);
    h2o_mem_clear_pool(&pool);
}

static void test_completes_later(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    hook_fn_t *fn = load_hook(write_hook("slow.lua", slow_lua), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", "Host", "example.com", NULL);
    hookcall_t call = HOOKCALL_INIT;
    completion_t c = {0};

    assert_int_equal(offload_budget_ms(), OFFLOAD_INLINE_BUDGET_MS);
    assert_int_equal(hookcall_start(&call, fn, &ev, &pool, NULL, on_done, &c), HOOKCALL_PENDING);
    assert_true(hookcall_is_pending(&call));
    wait_for(&c, 60000);
    assert_int_equal(c.calls, 1);
    assert_ptr_equal(c.call, &call);
    assert_false(hookcall_is_pending(&call));
    assert_int_equal(call.status, HOOK_CONTINUE);
    /* run again from the top, from the event as it was given: the uri changed once */
    assert_true(iov_is(call.ev->request.uri, "/a/x"));
    assert_string_equal(hval(&call.ev->request.headers, "x-ran"), "yes");
    assert_string_equal(hval(&call.ev->request.headers, "host"), "example.com");

    /* the call can be started again; the first result stays valid until hookcall_cancel */
    hook_event_t *first = call.ev;
    hook_fn_t *quick = load_hook(write_hook("quick2.lua", quick_lua), NULL, -1, 0, NULL, 0);
    hook_event_t ev2;
    make_event(&pool, &ev2, HOOK_VIEWER_RESPONSE, "/b", "", NULL);
    offload_set_budget_ms(ROOMY_BUDGET_MS);
    assert_int_equal(hookcall_start(&call, quick, &ev2, &pool, NULL, on_done, &c), HOOKCALL_DONE);
    offload_set_budget_ms(OFFLOAD_INLINE_BUDGET_MS);
    assert_true(iov_is(first->request.uri, "/a/x"));
    hookcall_cancel(&call);
    assert_null(call.ev);
    hook_fn_release(quick);
    hook_fn_release(fn);
    h2o_mem_clear_pool(&pool);
}

static void test_cancel(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    hook_fn_t *fn = load_hook(write_hook("slow2.lua", slow_lua), NULL, -1, 0, NULL, 0);
    hook_event_t ev;
    make_event(&pool, &ev, HOOK_VIEWER_REQUEST, "/a", "", NULL);
    hookcall_t call = HOOKCALL_INIT;
    completion_t c = {0};

    assert_int_equal(hookcall_start(&call, fn, &ev, &pool, NULL, on_done, &c), HOOKCALL_PENDING);
    hookcall_cancel(&call);
    assert_false(hookcall_is_pending(&call));
    h2o_mem_clear_pool(&pool); /* the caller's memory may go at once: the job has its own copy */
    /* the job comes back and is freed without calling back (ASan would see a leak otherwise) */
    time_t give_up = time(NULL) + 60;
    while (offload_jobs_alive() != 0 && time(NULL) < give_up)
        h2o_evloop_run(loop, 10);
    assert_int_equal(offload_jobs_alive(), 0);
    assert_int_equal(c.calls, 0);
    hookcall_cancel(&call); /* twice is harmless */
    hook_fn_release(fn);
}

static void test_request_event(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_header_t headers[2] = {{&H2O_TOKEN_ACCEPT->buf, NULL, {H2O_STRLIT("*/*")}},
                               {&H2O_TOKEN_CONNECTION->buf, NULL, {H2O_STRLIT("close")}}};
    static char body[HOOK_VIEWER_SIZE_LIMIT + 10];
    hookcall_request_t r = {.request_id = {H2O_STRLIT("rid")},
                            .authority = {H2O_STRLIT("example.com")},
                            .client_ip = {H2O_STRLIT("192.0.2.1")},
                            .method = {H2O_STRLIT("POST")},
                            .path = {H2O_STRLIT("/p?q=1")},
                            .query_at = 2,
                            .headers = headers,
                            .num_headers = 2,
                            .body = {body, sizeof(body)}};
    hook_fn_t *fn = load_hook(write_hook("quick3.lua", quick_lua), NULL, -1, 0, NULL, 0); /* include_body (helpers.h) */
    hook_event_t ev;
    hookcall_request_event(&pool, HOOK_VIEWER_REQUEST, fn, &r, &ev);
    assert_true(iov_is(ev.request.uri, "/p"));
    assert_true(iov_is(ev.request.querystring, "q=1"));
    assert_int_equal(ev.request.headers.size, 2); /* Connection is not shown; Host is */
    assert_true(iov_is(ev.request.headers.entries[1].key, "Host"));
    assert_true(ev.request.body.present && ev.request.body.truncated);
    assert_int_equal(ev.request.body.data.len, HOOK_VIEWER_SIZE_LIMIT);
    hookcall_request_event(&pool, HOOK_ORIGIN_REQUEST, fn, &r, &ev);
    assert_false(ev.request.body.truncated);
    assert_int_equal(ev.request.body.data.len, sizeof(body));
    r.query_at = SIZE_MAX;
    r.path = h2o_iovec_init(H2O_STRLIT("/p"));
    hookcall_request_event(&pool, HOOK_VIEWER_RESPONSE, NULL, &r, &ev);
    assert_true(iov_is(ev.request.querystring, ""));
    assert_false(ev.request.body.present);
    hook_fn_release(fn);
    h2o_mem_clear_pool(&pool);
}

/* ---- the loop of steps ---------------------------------------------------------------------------------------------------- */

typedef struct toy {
    int visits[REQ_NUM_STEPS];
    int wait_once;
} toy_t;

static req_step_t toy_recv(void *arg)
{
    ((toy_t *)arg)->visits[REQ_RECV]++;
    return REQ_VIEWER_REQUEST;
}

static req_step_t toy_vreq(void *arg)
{
    toy_t *t = arg;
    t->visits[REQ_VIEWER_REQUEST]++;
    return REQ_WAIT_AT(REQ_VIEWER_REQUEST_DONE);
}

static req_step_t toy_vreq_done(void *arg)
{
    ((toy_t *)arg)->visits[REQ_VIEWER_REQUEST_DONE]++;
    return REQ_DELIVER;
}

static req_step_t toy_deliver(void *arg)
{
    toy_t *t = arg;
    t->visits[REQ_DELIVER]++;
    if (t->wait_once) {
        t->wait_once = 0;
        return REQ_WAIT_AT(REQ_DELIVER);
    }
    return REQ_DONE;
}

static void test_steps(void **state)
{
    (void)state;
    req_step_fn steps[REQ_NUM_STEPS] = {[REQ_RECV] = toy_recv,
                                        [REQ_VIEWER_REQUEST] = toy_vreq,
                                        [REQ_VIEWER_REQUEST_DONE] = toy_vreq_done,
                                        [REQ_DELIVER] = toy_deliver};
    toy_t t = {.wait_once = 1};
    req_step_t step = REQ_RECV;

    reqfsm_run(steps, &step, &t); /* recv, viewer-request: waits */
    assert_int_equal(step, REQ_VIEWER_REQUEST_DONE);
    assert_int_equal(t.visits[REQ_RECV], 1);
    assert_int_equal(t.visits[REQ_VIEWER_REQUEST], 1);
    assert_int_equal(t.visits[REQ_VIEWER_REQUEST_DONE], 0);
    reqfsm_run(steps, &step, &t); /* the completion: goes on, waits in deliver */
    assert_int_equal(step, REQ_DELIVER);
    assert_int_equal(t.visits[REQ_DELIVER], 1);
    reqfsm_run(steps, &step, &t);
    assert_int_equal(step, REQ_DONE);
    assert_int_equal(t.visits[REQ_DELIVER], 2);
    reqfsm_run(steps, &step, &t); /* done stays done */
    assert_int_equal(step, REQ_DONE);
    assert_int_equal(t.visits[REQ_RECV], 1);

    assert_string_equal(reqfsm_step_name(REQ_RECV), "recv");
    assert_string_equal(reqfsm_step_name(REQ_VIEWER_RESPONSE_DONE), "viewer-response-done");
    assert_string_equal(reqfsm_step_name(REQ_DONE), "done");
    assert_string_equal(reqfsm_step_name(REQ_WAIT_AT(REQ_HIT)), "?");
    for (int s = 0; s <= REQ_NUM_STEPS; ++s)
        assert_string_not_equal(reqfsm_step_name((req_step_t)s), "?");
}

/* ---- the cache statuses' names (the access log's cache= field) -------------------------------------------------------------- */

static void test_cache_status_names(void **state)
{
    (void)state;
    static const char *const names[EDGE_CACHE_NUM_STATUSES] = {NULL,           "Hit",  "RefreshHit", "Miss", "StaleHit",
                                                               "StaleIfError", "Pass", "Generated",  "Error"};
    for (int s = 0; s != EDGE_CACHE_NUM_STATUSES; ++s) {
        if (names[s] == NULL)
            assert_null(handler_cache_status_name((edge_cache_status_t)s));
        else
            assert_string_equal(handler_cache_status_name((edge_cache_status_t)s), names[s]);
    }
    assert_null(handler_cache_status_name(EDGE_CACHE_NUM_STATUSES));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completes_at_once),  cmocka_unit_test(test_result_over_the_caps),
        cmocka_unit_test(test_completes_later),    cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_request_event),      cmocka_unit_test(test_steps),
        cmocka_unit_test(test_cache_status_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
