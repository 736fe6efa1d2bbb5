/* proxy/handler.c - the request pipeline on one worker thread, and delivery of a cache object (whole or filling) to a client. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "proxy/accesslog.h"
#include "proxy/fill.h"
#include "proxy/handler.h"
#include "proxy/headers.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/server.h"

#define MAX_SEND_VECS 16
#define MAX_SEND_BYTES (1024 * 1024)

static uint32_t process_tag;

static void on_txn_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    h2o_setup_next_prefilter(self, req, slot);
}

static edge_txn_t *txn_of(h2o_req_t *req)
{
    for (h2o_req_prefilter_t *p = req->prefilters; p != NULL; p = p->next)
        if (p->on_setup_ostream == on_txn_setup_ostream)
            return (edge_txn_t *)p;
    return NULL;
}

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- errors --------------------------------------------------------------------------------------------------------------- */

static void send_error(edge_txn_t *txn, int status, const char *reason, const char *detail)
{
    h2o_req_t *req = txn->req;
    char *body = h2o_mem_alloc_pool(&req->pool, strlen(detail) + 64);
    sprintf(body, "%d %s: %s\n", status, reason, detail);
    txn->status = status;
    txn->head_sent = 1;
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->request_id.base,
                          txn->request_id.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_error_generic(req, status, reason, body, H2O_SEND_ERROR_KEEP_HEADERS);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

/* ---- delivery ------------------------------------------------------------------------------------------------------------- */

static void deliver(edge_txn_t *txn);

static void on_txn_wake(cache_waiter_t *w)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, waiter, w);
    deliver(txn);
}

/* sends what is available of the body; waits for more when there is none */
static void send_body(edge_txn_t *txn)
{
    h2o_iovec_t vecs[MAX_SEND_VECS];
    size_t n, nbytes;
    int state = cache_obj_state(txn->obj);
    uint64_t avail = cache_obj_avail(txn->obj), end = txn->end;

    if (state == CACHE_OBJ_COMPLETE && (uint64_t)txn->obj->content_length < end)
        end = (uint64_t)txn->obj->content_length;
    n = cache_reader_peek(txn->obj, &txn->reader, txn->pos, end < txn->pos + MAX_SEND_BYTES ? end : txn->pos + MAX_SEND_BYTES,
                          vecs, MAX_SEND_VECS, &nbytes);
    if (n != 0) {
        int final = txn->pos + nbytes == end && (state == CACHE_OBJ_COMPLETE || end != UINT64_MAX);
        txn->sent_to = txn->pos + nbytes;
        h2o_send(txn->req, vecs, n, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
    if (txn->pos >= end || (state == CACHE_OBJ_COMPLETE && txn->pos >= avail)) {
        h2o_send(txn->req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (state == CACHE_OBJ_FAILED) {
        /* the origin response broke off: the client must see an error, never a short "complete" response */
        h2o_send(txn->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    cache_obj_wait(txn->obj, &txn->waiter, state, avail);
}

static void on_generator_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, generator, gen);
    /* what was sent has been written: the client took it */
    txn->pos = txn->sent_to;
    cache_reader_ack(txn->obj, &txn->reader, txn->pos);
    send_body(txn);
}

static void on_generator_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, generator, gen);
    cache_waiter_cancel(&txn->waiter);
}

/* the response head from the object, then the body */
static void send_head(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    cache_obj_t *obj = txn->obj;
    size_t i;

    req->res.status = obj->status;
    req->res.reason = obj->reason[0] != '\0' ? obj->reason : "OK";
    h2o_vector_reserve(&req->pool, &req->res.headers, obj->num_headers + 4);
    for (i = 0; i != obj->num_headers; ++i) {
        /* h2o writes its own Date */
        if (obj->headers[i].name == &H2O_TOKEN_DATE->buf)
            continue;
        req->res.headers.entries[req->res.headers.size++] = obj->headers[i];
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.1 edgehook"));
    if (txn->cache_status != NULL) {
        static const h2o_iovec_t name = {H2O_STRLIT("x-cache")};
        h2o_iovec_t v = h2o_concat(&req->pool, h2o_iovec_init(txn->cache_status, strlen(txn->cache_status)),
                                   h2o_iovec_init(H2O_STRLIT(" from edgehook")));
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 0, "X-Cache", v.base, v.len);
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->request_id.base,
                          txn->request_id.len);
    txn->status = obj->status;
    txn->pos = 0;
    txn->end = UINT64_MAX;
    if (obj->content_length >= 0) {
        req->res.content_length = (size_t)obj->content_length;
        txn->end = (uint64_t)obj->content_length;
    }
    txn->head_sent = 1;
    txn->generator.proceed = on_generator_proceed;
    txn->generator.stop = on_generator_stop;
    h2o_start_response(req, &txn->generator);
    if (txn->head_only || obj->status == 204 || obj->status == 304 || txn->end == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    send_body(txn);
}

static void deliver(edge_txn_t *txn)
{
    cache_obj_t *obj = txn->obj;
    if (txn->head_sent) {
        send_body(txn);
        return;
    }
    switch (cache_obj_state(obj)) {
    case CACHE_OBJ_BUSY:
        cache_obj_wait(obj, &txn->waiter, CACHE_OBJ_BUSY, 0);
        return;
    case CACHE_OBJ_FAILED:
        if (obj->fail_status != 0) {
            send_error(txn, obj->fail_status, reason_of(obj->fail_status), obj->fail_reason);
        } else {
            send_error(txn, 502, "Bad Gateway", obj->fail_reason);
        }
        return;
    default:
        send_head(txn);
        return;
    }
}

/* ---- the pipeline --------------------------------------------------------------------------------------------------------- */

static h2o_iovec_t client_ip(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (void *)&ss);
    char *buf = h2o_mem_alloc_pool(&req->pool, NI_MAXHOST);
    size_t n;
    if (len == 0 || (n = h2o_socket_getnumerichost((void *)&ss, len, buf)) == SIZE_MAX)
        return h2o_iovec_init(H2O_STRLIT("0.0.0.0"));
    return h2o_iovec_init(buf, n);
}

static void start_pass(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    edge_behavior_t *b = txn->behavior;
    fill_request_t fr;

    txn->cache_status = "Pass";
    txn->origin_name = b->origin->name;
    txn->obj = cache_obj_new(0, h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0));
    cache_reader_attach(txn->obj, &txn->reader);
    txn->leader = 1;
    fr.method = req->method;
    fr.path = req->path;
    fr.headers = &req->headers;
    fr.body = req->entity.base != NULL ? req->entity : h2o_iovec_init(NULL, 0);
    fr.client_ip = client_ip(req);
    fr.client_https = req->scheme == &H2O_URL_SCHEME_HTTPS;
    fr.request_id = txn->request_id;
    metrics_count(METRIC_CACHE_PASS, 1);
    metrics_count(METRIC_ORIGIN_REQUESTS, 1);
    fill_start(b->origin, &fr, txn->obj, NULL, NULL);
    deliver(txn);
}

static void on_deferred_miss(h2o_timeout_entry_t *entry)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, defer_entry, entry);
    start_pass(txn);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    server_worker_t *w = server_worker_current();
    edge_txn_t *txn = (edge_txn_t *)h2o_add_prefilter(req, sizeof(*txn));
    char *rid;

    memset((char *)txn + sizeof(txn->super), 0, sizeof(*txn) - sizeof(txn->super));
    txn->super.on_setup_ostream = on_txn_setup_ostream;
    txn->req = req;
    txn->worker = w;
    txn->started_us = now_us();
    txn->gen = atomic_load_explicit(&server.gen, memory_order_acquire);
    rid = h2o_mem_alloc_pool(&req->pool, 20);
    txn->request_id = h2o_iovec_init(rid, sprintf(rid, "%06x%02x%08" PRIx64, process_tag & 0xffffff, w->id & 0xff,
                                                  ++w->next_request_seq & 0xffffffffu));
    cache_waiter_init(&txn->waiter, on_txn_wake);
    atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
    txn->head_only = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    if (req->entity.base != NULL && req->entity.len > txn->gen->conf->limits.max_request_body) {
        send_error(txn, 413, "Payload Too Large", "the request body exceeds limits.max_request_body");
        return 0;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("TRACE"))) {
        send_error(txn, 405, "Method Not Allowed", "CONNECT and TRACE are not proxied");
        return 0;
    }
    if ((txn->behavior = gen_match(txn->gen, req->path_normalized.base, req->path_normalized.len)) == NULL) {
        send_error(txn, 404, "Not Found", "no behavior matches this path");
        return 0;
    }
    if (req->version >= 0x200) {
        /* D8: a stream reset in the same read is disposed before we go to the origin for it */
        txn->defer_entry.cb = on_deferred_miss;
        h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &txn->defer_entry);
        return 0;
    }
    start_pass(txn);
    return 0;
}

/* the end of every request: log it, count it, and let go of the object */
static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    edge_txn_t *txn = txn_of(req);
    accesslog_entry_t e;
    uint64_t dur;
    if (txn == NULL)
        return;
    h2o_timeout_unlink(&txn->defer_entry);
    cache_waiter_cancel(&txn->waiter);
    dur = now_us() - txn->started_us;
    e.req = req;
    e.status = req->res.status != 0 ? req->res.status : txn->status;
    e.bytes = req->bytes_sent;
    e.duration_us = dur;
    e.request_id = txn->request_id;
    e.cache_status = txn->cache_status;
    e.hooks = h2o_iovec_init(txn->hooks_log, txn->hooks_log_len);
    e.origin = txn->origin_name;
    if (accesslog_enabled())
        accesslog_write(&e);
    metrics_request(e.status, dur, req->bytes_sent);
    if (txn->obj != NULL) {
        cache_reader_detach(txn->obj, &txn->reader);
        cache_obj_release(txn->obj);
        txn->obj = NULL;
    }
    atomic_fetch_sub_explicit(&txn->worker->inflight, 1, memory_order_relaxed);
}

void handler_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h2o_logger_t *l = h2o_create_logger(pathconf, sizeof(*l));
    h->on_req = on_req;
    l->log_access = on_log_access;
    process_tag = (uint32_t)now_us() ^ (uint32_t)getpid() << 8;
}
