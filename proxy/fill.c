/* proxy/fill.c - fetches a response from an origin into a cache object, with backpressure when it is passed through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/fill.h"
#include "proxy/headers.h"
#include "proxy/log.h"
#include "proxy/s3origin.h"
#include "proxy/server.h"

static void fill_free(fill_t *f)
{
    cache_waiter_cancel(&f->producer);
    cache_obj_release(f->obj);
    origin_release(f->origin);
    h2o_mem_clear_pool(&f->pool);
    free(f);
}

void fill_build_origin_headers(h2o_mem_pool_t *pool, origin_t *origin, const fill_request_t *req, h2o_headers_t *out)
{
    headers_connection_list_t conn;
    h2o_iovec_t xff = {NULL, 0}, via = {NULL, 0};
    size_t i;

    headers_connection_tokens(req->headers, &conn);
    h2o_vector_reserve(pool, out, req->headers->size + 5);
    out->size = 0;
    /* Host first, as clients do */
    h2o_add_header(pool, out, H2O_TOKEN_HOST, NULL, origin->host_header.base, origin->host_header.len);
    for (i = 0; i != req->headers->size; ++i) {
        const h2o_header_t *h = req->headers->entries + i;
        if (headers_is_hop_by_hop(h->name, &conn))
            continue;
        if (h->name == &H2O_TOKEN_HOST->buf || h->name == &H2O_TOKEN_CONTENT_LENGTH->buf || h->name == &H2O_TOKEN_EXPECT->buf)
            continue;
        if (h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf) {
            xff = h->value;
            continue;
        }
        if (h->name == &H2O_TOKEN_VIA->buf) {
            via = h->value;
            continue;
        }
        if (headers_name_is(h->name, H2O_STRLIT("x-forwarded-proto")))
            continue;
        out->entries[out->size++] = *h;
        if (out->size == out->capacity)
            h2o_vector_reserve(pool, out, out->capacity * 2);
    }
    /* X-Forwarded-For: the chain so far plus the client */
    if (xff.base != NULL) {
        h2o_iovec_t v = h2o_concat(pool, xff, h2o_iovec_init(H2O_STRLIT(", ")), req->client_ip);
        h2o_add_header(pool, out, H2O_TOKEN_X_FORWARDED_FOR, NULL, v.base, v.len);
    } else {
        h2o_add_header(pool, out, H2O_TOKEN_X_FORWARDED_FOR, NULL, req->client_ip.base, req->client_ip.len);
    }
    h2o_add_header_by_str(pool, out, H2O_STRLIT("x-forwarded-proto"), 0, NULL, req->client_https ? "https" : "http",
                          req->client_https ? 5 : 4);
    if (via.base != NULL) {
        h2o_iovec_t v = h2o_concat(pool, via, h2o_iovec_init(H2O_STRLIT(", 1.1 edgehook")));
        h2o_add_header(pool, out, H2O_TOKEN_VIA, NULL, v.base, v.len);
    } else {
        h2o_add_header(pool, out, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.1 edgehook"));
    }
}

static void on_producer_wake(cache_waiter_t *w)
{
    fill_t *f = H2O_STRUCT_FROM_MEMBER(fill_t, producer, w);
    if (f->oreq == NULL)
        return;
    if (cache_obj_num_readers(f->obj) == 0) {
        /* nobody reads a response that is not stored: stop fetching it */
        origin_req_cancel(f->oreq);
        f->oreq = NULL;
        cache_obj_fail(f->obj, 0, "all readers left");
        if (f->ops != NULL && f->ops->on_end != NULL)
            f->ops->on_end(f, 0);
        fill_free(f);
        return;
    }
    if (f->paused && !cache_obj_window_full(f->obj, FILL_PASS_WINDOW)) {
        f->paused = 0;
        origin_req_resume(f->oreq);
    }
}

static void on_origin_head(origin_req_t *oreq, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers,
                           int64_t content_length)
{
    fill_t *f = oreq->data;
    int store = 0;
    f->origin_status = status;
    if (f->ops != NULL && f->ops->on_head != NULL)
        store = f->ops->on_head(f, status, headers, num_headers, content_length);
    char reason_buf[48];
    snprintf(reason_buf, sizeof(reason_buf), "%.*s", (int)(reason.len < 47 ? reason.len : 47), reason.base);
    cache_obj_set_head(f->obj, status, reason_buf, headers, num_headers, content_length, !store);
    if (!store) {
        f->transient = 1;
        cache_obj_make_transient(f->obj, &f->producer);
    }
}

static void on_origin_body(origin_req_t *oreq, const char *data, size_t len)
{
    fill_t *f = oreq->data;
    f->received += len;
    cache_obj_append(f->obj, data, len);
    if (f->transient) {
        if (cache_obj_num_readers(f->obj) == 0) {
            origin_req_cancel(f->oreq);
            f->oreq = NULL;
            cache_obj_fail(f->obj, 0, "all readers left");
            if (f->ops != NULL && f->ops->on_end != NULL)
                f->ops->on_end(f, 0);
            fill_free(f);
            return;
        }
        if (cache_obj_window_full(f->obj, FILL_PASS_WINDOW)) {
            f->paused = 1;
            origin_req_pause(f->oreq);
        }
    }
}

static void on_origin_done(origin_req_t *oreq, int status, const char *err)
{
    fill_t *f = oreq->data;
    f->oreq = NULL;
    if (err == NULL) {
        cache_obj_complete(f->obj);
    } else {
        int before_head = cache_obj_state(f->obj) == CACHE_OBJ_BUSY;
        if (!before_head)
            log_error("origin %s: response cut short after %llu bytes: %s", f->origin->name, (unsigned long long)f->received, err);
        cache_obj_fail(f->obj, before_head ? status : 0, err);
    }
    if (f->ops != NULL && f->ops->on_end != NULL)
        f->ops->on_end(f, err == NULL);
    fill_free(f);
}

static const origin_req_callbacks_t origin_callbacks = {on_origin_head, on_origin_body, on_origin_done};

fill_t *fill_start(origin_t *origin, const fill_request_t *req, cache_obj_t *obj, const fill_ops_t *ops, void *data)
{
    fill_t *f = calloc(1, sizeof(*f));
    h2o_headers_t headers = {NULL, 0, 0};
    h2o_iovec_t path, method, body = {NULL, 0};
    int idempotent;

    if (f == NULL)
        h2o_fatal("no memory");
    h2o_mem_init_pool(&f->pool);
    f->obj = obj;
    cache_obj_addref(obj);
    f->origin = origin;
    origin_addref(origin);
    f->ops = ops;
    f->data = data;
    f->request_time_ms = server_now_ms();
    cache_waiter_init(&f->producer, on_producer_wake);

    method = h2o_strdup(&f->pool, req->method.base, req->method.len);
    path = h2o_concat(&f->pool, origin->path_prefix, req->path);
    fill_build_origin_headers(&f->pool, origin, req, &headers);
    /* deep-copy what the client request owns: the fill may outlive it */
    for (size_t i = 0; i != headers.size; ++i) {
        if (!h2o_iovec_is_token(headers.entries[i].name)) {
            h2o_iovec_t *n = h2o_mem_alloc_pool(&f->pool, sizeof(*n));
            *n = h2o_strdup(&f->pool, headers.entries[i].name->base, headers.entries[i].name->len);
            headers.entries[i].name = n;
        }
        if (headers.entries[i].orig_name != NULL)
            headers.entries[i].orig_name = h2o_strdup(&f->pool, headers.entries[i].orig_name, headers.entries[i].name->len).base;
        headers.entries[i].value = h2o_strdup(&f->pool, headers.entries[i].value.base, headers.entries[i].value.len);
    }
    if (req->body.len != 0) {
        /* the pool allocates big chunks directly; it is freed with the fill */
        body.base = h2o_mem_alloc_pool(&f->pool, req->body.len);
        memcpy(body.base, req->body.base, req->body.len);
        body.len = req->body.len;
    }
    if (origin->s3 != NULL && s3origin_sign(origin, &f->pool, method, &path, &headers, body, server_now_ms()) != 0) {
        cache_obj_fail(obj, 502, "the S3 origin has no credentials");
        if (ops != NULL && ops->on_end != NULL)
            ops->on_end(f, 0);
        fill_free(f);
        return NULL;
    }
    idempotent = h2o_memis(method.base, method.len, H2O_STRLIT("GET")) || h2o_memis(method.base, method.len, H2O_STRLIT("HEAD")) ||
                 h2o_memis(method.base, method.len, H2O_STRLIT("PUT")) || h2o_memis(method.base, method.len, H2O_STRLIT("DELETE")) ||
                 h2o_memis(method.base, method.len, H2O_STRLIT("OPTIONS"));
    f->oreq = origin_req_start(origin, method, path, headers.entries, headers.size, body, idempotent, &origin_callbacks, f);
    return f;
}
