/* tests/hooks/fetch_plugin.c - e2e test plugin (tests/e2e/test_hook_fetch.py) of ABI 1.2 at viewer-request: two fetches in
 * parallel with host->fetch (the origin's /size/N, N from the uri's last segment, and a URL the hook's fetch_allow does not
 * permit, config {"origin": "http://127.0.0.1:PORT", "denied": URL}), host->fetch_wait, and an answer with what came back:
 * "status=200 len=N denied=-3 thread=1". thread_init gives each worker thread a state (host->thread_state). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_hook.h"

typedef struct state {
    char origin[128], denied[128];
} state_t;

typedef struct result {
    int status;
    size_t len;
} result_t;

static _Atomic int threads_inited;

static int get_string(const char *config, const char *key, char *out, size_t cap)
{
    const char *p = strstr(config, key), *end;
    if (p == NULL || (p = strchr(p + strlen(key), '"')) == NULL || (end = strchr(p + 1, '"')) == NULL || (size_t)(end - p) >= cap)
        return -1;
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = '\0';
    return 0;
}

static int init(const edge_host_t *host, const char *config, size_t len, void **out, char *err, size_t errlen)
{
    state_t *s = calloc(1, sizeof(*s));
    if (s == NULL || get_string(config, "\"origin\":", s->origin, sizeof(s->origin)) != 0 ||
        get_string(config, "\"denied\":", s->denied, sizeof(s->denied)) != 0) {
        snprintf(err, errlen, "fetch_plugin: config needs \"origin\" and \"denied\"");
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

static int thread_init(void *state, void **thread_state)
{
    int *mine = malloc(sizeof(int));
    if (mine == NULL)
        return -1;
    *mine = ++threads_inited;
    *thread_state = mine;
    return 0;
}

static void thread_fini(void *state, void *thread_state)
{
    free(thread_state);
}

static void on_answer(edge_ctx_t *ctx, void *arg, const edge_fetch_response_t *r)
{
    result_t *res = arg;
    res->status = r->status;
    res->len = r->body.len;
}

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    state_t *s = state;
    edge_str_t uri;
    char url[256], body[256];
    result_t a = {0, 0}, d = {0, 0};
    if (host->size < offsetof(edge_host_t, thread_state) + sizeof(void *)) {
        host->fail(ctx, "a host older than ABI 1.2", 25);
        return EDGE_FAIL;
    }
    host->get(ctx, EDGE_FIELD_URI, &uri);
    const char *last = uri.ptr + uri.len;
    while (last > uri.ptr && last[-1] != '/')
        --last;
    snprintf(url, sizeof(url), "%s/size/%.*s", s->origin, (int)(uri.ptr + uri.len - last), last);
    edge_header_t h = {{"x-from-plugin", 13}, {"X-From-Plugin", 13}, {"yes", 3}};
    edge_fetch_request_t r1 = {sizeof(edge_fetch_request_t), 0, {url, strlen(url)}, {"", 0}, {"", 0}, &h, 1};
    edge_fetch_request_t r2 = {sizeof(edge_fetch_request_t), 0, {s->denied, strlen(s->denied)}, {"", 0}, {"", 0}, NULL, 0};
    if (host->fetch(ctx, &r1, on_answer, &a) != EDGE_OK || host->fetch(ctx, &r2, on_answer, &d) != EDGE_OK ||
        host->fetch_wait(ctx) != EDGE_OK) {
        host->fail(ctx, "fetch refused", 13);
        return EDGE_FAIL;
    }
    int *thread = host->thread_state(ctx);
    int n =
        snprintf(body, sizeof(body), "status=%d len=%zu denied=%d thread=%d", a.status, a.len, d.status, thread != NULL ? 1 : 0);
    host->respond(ctx, 200, "OK", 2, body, (size_t)n);
    host->header_set(ctx, EDGE_MSG_RESPONSE, "Cache-Control", 13, "no-store", 8);
    return EDGE_RESPOND;
}

EDGE_HOOK_PLUGIN_THREADS("fetch-plugin", "1.0", EDGE_EVENT_BIT(EDGE_VIEWER_REQUEST), init, on_event, NULL, thread_init,
                         thread_fini);
