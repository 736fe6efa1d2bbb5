/* hooks/fetch.c - edge.fetch on the hooks' side: the requests a Lua call makes are kept in the call, the call parks (its
 * fiber gives the thread back) until whoever runs it has answered them (proxy/hookfetch.c in the server), and the hook reads
 * the answers. The runtime itself reaches no network. */
#include <stdio.h>
#include <string.h>
#include <h2o/memory.h>
#include <h2o/string_.h>
#include "hooks/internal.h"

#define HOOK_FETCH_MAX_PER_CALL 64 /* fetches in one batch (edge.fetch_all) */

/* the running call of ctx: the prelude calls these only from a hook call */
static hook_call_t *call_of(edge_ctx_t *ctx)
{
    hook_call_t *c = hook_call_self();
    return c != NULL && &c->ctx == ctx ? c : NULL;
}

static hook_fetch_t *fetch_at(hook_call_t *c, int idx)
{
    return c != NULL && idx >= 0 && (size_t)idx < c->num_fetches ? &c->fetches[idx] : NULL;
}

int hook_fetch_add(edge_ctx_t *ctx, const char *url, size_t ulen, const char *method, size_t mlen, const char *body, size_t blen,
                   double timeout_ms)
{
    hook_call_t *c = call_of(ctx);
    if (c == NULL)
        return -1;
    int idx = -1;
    HOST_ENTER();
    if (c->fetch_waited) {
        /* the answers of the last batch were read: a new batch */
        h2o_mem_clear_pool(&c->fetch_pool);
        c->fetches = NULL;
        c->num_fetches = c->cap_fetches = 0;
        c->fetch_waited = 0;
    }
    if (c->num_fetches < HOOK_FETCH_MAX_PER_CALL) {
        if (c->num_fetches == c->cap_fetches) {
            size_t cap = c->cap_fetches != 0 ? c->cap_fetches * 2 : 4;
            hook_fetch_t *n = h2o_mem_alloc_pool(&c->fetch_pool, sizeof(*n) * cap);
            if (c->num_fetches != 0)
                memcpy(n, c->fetches, sizeof(*n) * c->num_fetches);
            c->fetches = n;
            c->cap_fetches = cap;
        }
        hook_fetch_t *f = &c->fetches[c->num_fetches];
        memset(f, 0, sizeof(*f));
        f->url = h2o_strdup(&c->fetch_pool, url, ulen);
        f->method = h2o_strdup(&c->fetch_pool, method, mlen);
        f->body = blen != 0 ? h2o_strdup(&c->fetch_pool, body, blen) : h2o_iovec_init(NULL, 0);
        f->timeout_ms = timeout_ms > 0 ? (int64_t)timeout_ms : 0;
        idx = (int)c->num_fetches++;
    }
    HOST_LEAVE();
    return idx;
}

int hook_fetch_header(edge_ctx_t *ctx, int idx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    hook_call_t *c = call_of(ctx);
    hook_fetch_t *f = fetch_at(c, idx);
    if (f == NULL || c->fetch_waited)
        return -1;
    HOST_ENTER();
    hook_headers_t *h = &f->headers;
    if (h->size == h->capacity) {
        size_t cap = h->capacity != 0 ? h->capacity * 2 : 8;
        hook_header_t *n = h2o_mem_alloc_pool(&c->fetch_pool, sizeof(*n) * cap);
        if (h->size != 0)
            memcpy(n, h->entries, sizeof(*n) * h->size);
        h->entries = n;
        h->capacity = cap;
    }
    hook_header_t *e = &h->entries[h->size++];
    e->key = h2o_strdup(&c->fetch_pool, name, nlen);
    e->name = h2o_strdup(&c->fetch_pool, name, nlen);
    for (size_t i = 0; i != nlen; ++i)
        e->name.base[i] = (char)h2o_tolower(e->name.base[i]);
    e->value = h2o_strdup(&c->fetch_pool, value, vlen);
    HOST_LEAVE();
    return 0;
}

int hook_fetch_wait(edge_ctx_t *ctx)
{
    hook_call_t *c = call_of(ctx);
    if (c == NULL || c->num_fetches == 0 || c->fetch_waited)
        return -1;
    if (!c->can_park || c->fetch_aborted) {
        for (size_t i = 0; i != c->num_fetches; ++i)
            c->fetches[i].error = c->fetch_aborted ? "the request ended" : "edge.fetch is not available here (only in the server)";
    } else {
        /* the thread goes back to the runner, which answers the batch and continues the call (any thread) */
        hook_call_switch_out(c, HOOK_CALL_PARKED);
    }
    c->fetch_waited = 1;
    return 0;
}

void hook_call_abort_fetches(hook_call_t *c)
{
    c->fetch_aborted = 1;
    if (!c->fetch_waited)
        for (size_t i = 0; i != c->num_fetches; ++i)
            if (c->fetches[i].status == 0 && c->fetches[i].error == NULL)
                c->fetches[i].error = "the request ended";
}

int hook_fetch_result(edge_ctx_t *ctx, int idx, edge_str_t *body, edge_str_t *err)
{
    hook_call_t *c = call_of(ctx);
    hook_fetch_t *f = fetch_at(c, idx);
    if (f == NULL || !c->fetch_waited)
        return -1;
    body->ptr = f->resp_body.base != NULL ? f->resp_body.base : "";
    body->len = f->resp_body.len;
    const char *e = f->status == 0 ? (f->error != NULL ? f->error : "the fetch failed") : "";
    err->ptr = e;
    err->len = strlen(e);
    return f->status;
}

int hook_fetch_header_at(edge_ctx_t *ctx, int idx, size_t i, edge_header_t *out)
{
    hook_call_t *c = call_of(ctx);
    hook_fetch_t *f = fetch_at(c, idx);
    if (f == NULL || !c->fetch_waited || i >= f->resp_headers.size)
        return -1;
    const hook_header_t *h = &f->resp_headers.entries[i];
    out->name = (edge_str_t){h->name.base, h->name.len};
    out->key = (edge_str_t){h->key.base, h->key.len};
    out->value = (edge_str_t){h->value.base, h->value.len};
    return 0;
}

/* ---- ABI 1.2: fetches from native plugins ------------------------------------------------------------------------------- */

int hook_native_fetch(edge_ctx_t *ctx, const edge_fetch_request_t *req, edge_fetch_done_t done, void *arg)
{
    hook_call_t *c = call_of(ctx);
    if (c == NULL || req == NULL || req->size < sizeof(edge_fetch_request_t) || done == NULL || req->url.ptr == NULL)
        return EDGE_E_INVALID;
    const char *method = req->method.len != 0 ? req->method.ptr : "GET";
    size_t mlen = req->method.len != 0 ? req->method.len : 3;
    int idx = hook_fetch_add(ctx, req->url.ptr, req->url.len, method, mlen, req->body.ptr, req->body.len, req->timeout_ms);
    if (idx < 0)
        return EDGE_E_INVALID;
    for (size_t i = 0; i != req->num_headers; ++i) {
        const edge_header_t *h = &req->headers[i];
        edge_str_t name = h->key.len != 0 ? h->key : h->name;
        hook_fetch_header(ctx, idx, name.ptr, name.len, h->value.ptr, h->value.len);
    }
    c->fetches[idx].plugin_done = (void *)done;
    c->fetches[idx].plugin_arg = arg;
    return EDGE_OK;
}

int hook_native_fetch_wait(edge_ctx_t *ctx)
{
    hook_call_t *c = call_of(ctx);
    if (c == NULL || hook_fetch_wait(ctx) != 0)
        return EDGE_E_NOTFOUND;
    /* the answers, one callback each, in the order the fetches were made */
    for (size_t i = 0; i != c->num_fetches; ++i) {
        hook_fetch_t *f = &c->fetches[i];
        if (f->plugin_done == NULL)
            continue;
        edge_fetch_response_t r = {0};
        edge_header_t *hs = NULL;
        if (f->status != 0) {
            r.status = f->status;
            r.body = (edge_str_t){f->resp_body.base != NULL ? f->resp_body.base : "", f->resp_body.len};
            if (f->resp_headers.size != 0) {
                HOST_ENTER();
                hs = h2o_mem_alloc_pool(&c->fetch_pool, sizeof(*hs) * f->resp_headers.size);
                HOST_LEAVE();
                for (size_t j = 0; j != f->resp_headers.size; ++j) {
                    const hook_header_t *h = &f->resp_headers.entries[j];
                    hs[j] = (edge_header_t){{h->name.base, h->name.len}, {h->key.base, h->key.len}, {h->value.base, h->value.len}};
                }
            }
            r.headers = hs;
            r.num_headers = f->resp_headers.size;
        } else {
            const char *e = f->error != NULL ? f->error : "the fetch failed";
            r.status = f->denied ? EDGE_E_DENIED : EDGE_E_FAILED;
            r.error = (edge_str_t){e, strlen(e)};
            r.body = (edge_str_t){"", 0};
        }
        edge_fetch_done_t done = (edge_fetch_done_t)f->plugin_done;
        f->plugin_done = NULL;
        done(ctx, f->plugin_arg, &r);
    }
    return EDGE_OK;
}

/* ---- ABI 1.6: the embedded store from native plugins (host->s3): a fetch of the internal edge-s3: URL ------------------------ */

int hook_native_s3(edge_ctx_t *ctx, const edge_s3_request_t *req, edge_fetch_done_t done, void *arg)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "LIST"};
    hook_call_t *c = call_of(ctx);
    if (c == NULL || req == NULL || req->size < sizeof(edge_s3_request_t) || done == NULL || req->op < 0 || req->op > EDGE_S3_LIST ||
        req->bucket.ptr == NULL || (req->op != EDGE_S3_LIST && req->key.ptr == NULL) || (req->num_headers != 0 && req->headers == NULL))
        return EDGE_E_INVALID;
    const char *m = methods[req->op];
    int idx = hook_fetch_add(ctx, "edge-s3:", 8, m, strlen(m), req->op == EDGE_S3_PUT ? req->body.ptr : NULL,
                             req->op == EDGE_S3_PUT ? req->body.len : 0, 0);
    if (idx < 0)
        return EDGE_E_INVALID;
    hook_fetch_header(ctx, idx, "x-edge-s3-bucket", 16, req->bucket.ptr, req->bucket.len);
    if (req->key.ptr != NULL)
        hook_fetch_header(ctx, idx, "x-edge-s3-key", 13, req->key.ptr, req->key.len);
    if (req->op == EDGE_S3_LIST) {
        char mk[16];
        int n = snprintf(mk, sizeof(mk), "%u", req->max_keys != 0 ? req->max_keys : 1000);
        if (req->prefix.ptr != NULL)
            hook_fetch_header(ctx, idx, "x-edge-s3-prefix", 16, req->prefix.ptr, req->prefix.len);
        if (req->start_after.ptr != NULL)
            hook_fetch_header(ctx, idx, "x-edge-s3-start-after", 21, req->start_after.ptr, req->start_after.len);
        hook_fetch_header(ctx, idx, "x-edge-s3-max-keys", 18, mk, (size_t)n);
    }
    for (size_t i = 0; req->op == EDGE_S3_PUT && i != req->num_headers; ++i) {
        const edge_header_t *h = &req->headers[i];
        edge_str_t name = h->key.len != 0 ? h->key : h->name;
        if (name.ptr != NULL && h->value.ptr != NULL)
            hook_fetch_header(ctx, idx, name.ptr, name.len, h->value.ptr, h->value.len);
    }
    c->fetches[idx].plugin_done = (void *)done;
    c->fetches[idx].plugin_arg = arg;
    return EDGE_OK;
}

/* ABI 1.7: the rest of the call on an offload thread (the caller continues a HOOK_RUN_MOVED call there) */
int hook_native_offload(edge_ctx_t *ctx)
{
    hook_call_t *c = call_of(ctx);
    if (c == NULL || !c->can_move || c->fn->is_lua)
        return EDGE_E_DENIED;
    c->can_move = 0; /* once: it runs to its end there (or parks on fetches, answered back on the worker) */
    hook_call_switch_out(c, HOOK_CALL_MOVED);
    return EDGE_OK;
}

void *hook_native_thread_state(edge_ctx_t *ctx)
{
    return ctx != NULL ? ctx->thread_state : NULL;
}
