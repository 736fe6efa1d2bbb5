/* proxy/handler.c - the request pipeline on one worker thread, and delivery of a cache object (whole or filling) to a client. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "cache/key.h"
#include "cache/policy.h"
#include "proxy/accesslog.h"
#include "proxy/fill.h"
#include "proxy/handler.h"
#include "proxy/dynorigin.h"
#include "proxy/headers.h"
#include "proxy/hookcall.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/reqcheck.h"
#include "proxy/server.h"

#define MAX_SEND_VECS 16
#define MAX_SEND_BYTES (1024 * 1024)
#define MAX_RESTARTS 3

cache_mem_t *handler_cache;
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

/* per cache status: its name in the log, its X-Cache header (CloudFront's wording, ready to send; none when base is NULL) and
 * the metric it counts when a delivery begins (-1: none, or counted elsewhere) */
static const struct {
    const char *name;
    h2o_iovec_t x_cache;
    int metric;
} cache_statuses[EDGE_CACHE_NUM_STATUSES] = {
    [EDGE_CACHE_NONE] = {NULL, {NULL, 0}, -1},
    [EDGE_CACHE_HIT] = {"Hit", {H2O_STRLIT("Hit from edgehook")}, METRIC_CACHE_HIT},
    [EDGE_CACHE_REFRESH_HIT] = {"RefreshHit", {H2O_STRLIT("RefreshHit from edgehook")}, METRIC_CACHE_REFRESH_HIT},
    [EDGE_CACHE_MISS] = {"Miss", {H2O_STRLIT("Miss from edgehook")}, METRIC_CACHE_MISS},
    [EDGE_CACHE_STALE_HIT] = {"StaleHit", {H2O_STRLIT("Hit from edgehook")}, METRIC_CACHE_STALE},
    [EDGE_CACHE_STALE_IF_ERROR] = {"StaleIfError", {H2O_STRLIT("Hit from edgehook")}, METRIC_CACHE_STALE},
    [EDGE_CACHE_PASS] = {"Pass", {H2O_STRLIT("Miss from edgehook")}, METRIC_CACHE_PASS},
    [EDGE_CACHE_GENERATED] = {"Generated", {NULL, 0}, -1}, /* counted when it is sent */
    [EDGE_CACHE_ERROR] = {"Error", {H2O_STRLIT("Error from edgehook")}, -1},
};

const char *handler_cache_status_name(edge_cache_status_t status)
{
    return (unsigned)status < EDGE_CACHE_NUM_STATUSES ? cache_statuses[status].name : NULL;
}

/* the X-Cache header of the request's cache status, when it has one */
static void add_x_cache(edge_txn_t *txn)
{
    h2o_iovec_t v = cache_statuses[txn->cache_status].x_cache;
    if (v.base != NULL)
        h2o_add_header_by_str(&txn->req->pool, &txn->req->res.headers, H2O_STRLIT("x-cache"), 0, "X-Cache", v.base, v.len);
}

/* decimal without printf (this runs for every response from the cache) */
static size_t format_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i != n; ++i)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

static void format_hex(char *buf, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i, v >>= 4)
        buf[i] = hex[v & 15];
}

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- errors --------------------------------------------------------------------------------------------------------------- */

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
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
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

static void send_error_with(edge_txn_t *txn, int status, const char *detail, const h2o_token_t *extra_name, h2o_iovec_t extra_value,
                            int close)
{
    h2o_req_t *req = txn->req;
    const char *reason = reason_of(status);
    char *body = h2o_mem_alloc_pool(&req->pool, strlen(detail) + 64);
    sprintf(body, "%d %s: %s\n", status, reason, detail);
    txn->status = status;
    txn->head_sent = 1;
    if (status >= 500)
        txn->cache_status = EDGE_CACHE_ERROR;
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->request_id.base,
                          txn->request_id.len);
    add_x_cache(txn);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    if (extra_name != NULL)
        h2o_add_header(&req->pool, &req->res.headers, extra_name, NULL, extra_value.base, extra_value.len);
    if (close)
        req->http1_is_persistent = 0;
    h2o_send_error_generic(req, status, reason, body,
                           H2O_SEND_ERROR_KEEP_HEADERS | (close ? H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION : 0));
}

static void send_error(edge_txn_t *txn, int status, const char *detail)
{
    send_error_with(txn, status, detail, NULL, h2o_iovec_init(NULL, 0), 0);
}

/* a refusal of the request itself: the HTTP/1 connection is closed, since what follows on it cannot be trusted (RFC 9112 §6.3) */
static void send_refusal(edge_txn_t *txn, int metric, int status, const char *detail)
{
    metrics_count(metric, 1);
    log_debug("refused a request (%d): %s", status, detail);
    send_error_with(txn, status, detail, NULL, h2o_iovec_init(NULL, 0), 1);
}

/* a response a viewer-request hook generated: sent as is, never cached, no viewer-response hook (Lambda@Edge) */
static void send_generated(edge_txn_t *txn, hook_response_t *resp)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = txn->req;
    h2o_iovec_t body = resp->has_body ? resp->body : h2o_iovec_init(NULL, 0);
    txn->status = resp->status;
    txn->head_sent = 1;
    txn->cache_status = EDGE_CACHE_GENERATED;
    metrics_count(METRIC_CACHE_GENERATED, 1);
    req->res.status = resp->status;
    req->res.reason = resp->status_description.len != 0 ? h2o_strdup(&req->pool, resp->status_description.base,
                                                                     resp->status_description.len).base
                                                        : "OK";
    hookcall_to_h2o_response_headers(&req->pool, &resp->headers, &req->res.headers);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->request_id.base,
                          txn->request_id.len);
    req->res.content_length = body.len;
    h2o_start_response(req, &generator);
    h2o_send(req, &body, txn->head_only || body.len == 0 ? 0 : 1, H2O_SEND_STATE_FINAL);
}

/* ---- delivery ------------------------------------------------------------------------------------------------------------- */

static void deliver(edge_txn_t *txn);
static void process_cached(edge_txn_t *txn);
static void vres_build(edge_txn_t *txn, hook_fn_t *fn, hook_event_t *ev);
static void vres_done(edge_txn_t *txn, hook_event_t *ev, hookcall_result_t res, int err_status);

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

/*
 * libh2o 2.2.5's HTTP/2 calls proceed() once a body chunk is encoded into the connection's write buffer, not once it is
 * written, and lets that buffer grow as far as the client's flow-control window (curl grants 32 MB): a slow HTTP/2 client
 * made the proxy hold tens of MB per stream. The body goes on only while what this stream handed to h2o, less what the
 * connection has passed to its socket since the stream began (h2o_socket_t.bytes_written, public), stays below this.
 */
#define H2_OUTPUT_BACKLOG_MAX (512 * 1024)
#define H2_PACE_POLL_MS 5

static int h2_output_backlog_high(edge_txn_t *txn)
{
    if (txn->h2_sock == NULL) /* set by send_head_finish for HTTP/2 bodies big enough to need it */
        return 0;
    uint64_t handed = txn->sent_to - txn->h2_pos_base, written = txn->h2_sock->bytes_written - txn->h2_written_base;
    return handed > written && handed - written > H2_OUTPUT_BACKLOG_MAX;
}

static void on_pace(h2o_timeout_entry_t *entry);

/* send_body, or a look again in a few ms while the HTTP/2 connection has too much of this body unwritten */
static void send_body_paced(edge_txn_t *txn)
{
    if (h2_output_backlog_high(txn)) {
        txn->pace_entry.cb = on_pace;
        h2o_timeout_link(txn->req->conn->ctx->loop, server_timeout(txn->worker, H2_PACE_POLL_MS), &txn->pace_entry);
        return;
    }
    send_body(txn);
}

static void on_pace(h2o_timeout_entry_t *entry)
{
    send_body_paced(H2O_STRUCT_FROM_MEMBER(edge_txn_t, pace_entry, entry));
}

/*
 * Slow readers. Every body being delivered is on its worker's watch list; four times a second the list is scanned:
 * - a response whose client has taken nothing for limits.send_timeout is aborted (its connection is shut down, so h2o sees
 *   the error and closes it: for HTTP/2 the whole connection, which has written nothing to this stream for that long);
 * - bytes pinned by clients that have taken nothing for half a second - bodies no longer in the cache index, which only their
 *   readers keep in memory, and (after five seconds) the windows of passed-through bodies - are bounded per connection
 * (limits.max_unsent_per_connection) and per worker (a quarter of cache.memory shared by the workers): the connections holding most
 * are shut down first. Objects that are still in the cache cost nothing extra and are not counted: the cache's own bound covers
 * them.
 */
#define WATCH_INTERVAL_MS 250
#define WATCH_STALLED_MS 500
/* a passed-through body holds at most the fill's window (FILL_PASS_WINDOW) per reader, and HTTP/2 flow control can starve a
 * healthy stream for a moment: its window counts only once the client has taken nothing for this long */
#define WATCH_STALLED_PASS_MS 5000

typedef struct stall_watch {
    h2o_linklist_t delivering;
    h2o_timeout_entry_t tick;
    server_worker_t *worker;
    int ticking;
} stall_watch_t;

static __thread stall_watch_t watch;

typedef struct stalled {
    h2o_socket_t *sock;
    uint64_t pinned;
} stalled_t;

static void on_watch_tick(h2o_timeout_entry_t *entry);

static void watch_schedule(void)
{
    watch.tick.cb = on_watch_tick;
    h2o_timeout_link(watch.worker->ctx.loop, server_timeout(watch.worker, WATCH_INTERVAL_MS), &watch.tick);
    watch.ticking = 1;
}

static void watch_add(edge_txn_t *txn)
{
    if (watch.worker == NULL) {
        h2o_linklist_init_anchor(&watch.delivering);
        watch.worker = txn->worker;
    }
    txn->progress_ms = server_now_ms();
    h2o_linklist_insert(&watch.delivering, &txn->watch_link);
    if (!watch.ticking)
        watch_schedule();
}

static void watch_remove(edge_txn_t *txn)
{
    if (h2o_linklist_is_linked(&txn->watch_link))
        h2o_linklist_unlink(&txn->watch_link);
}

/* what only this reader keeps in memory: a body out of the index (evicted, transient, passed through) */
static uint64_t pinned_bytes(edge_txn_t *txn, int64_t idle_ms)
{
    cache_obj_t *obj = txn->obj;
    if (obj == NULL)
        return 0;
    uint64_t avail = cache_obj_avail(obj);
    if (obj->transient) /* passed through: what this reader has not taken yet */
        return idle_ms >= WATCH_STALLED_PASS_MS && avail > txn->pos ? avail - txn->pos : 0;
    /* a complete object out of the index was evicted or replaced while this reader held it; one still filling goes to the
     * cache when done (the cache's bound covers it) */
    if (cache_obj_state(obj) == CACHE_OBJ_COMPLETE && !__atomic_load_n(&obj->indexed, __ATOMIC_RELAXED))
        return avail;
    return 0;
}

static h2o_socket_t *socket_of(edge_txn_t *txn)
{
    h2o_conn_t *conn = txn->req->conn;
    return conn->callbacks->get_socket != NULL ? conn->callbacks->get_socket(conn) : NULL;
}

static void abort_connection(h2o_socket_t *sock, const char *why)
{
    int fd = h2o_socket_get_fd(sock);
    if (fd >= 0) {
        log_info("closing a connection: %s", why);
        shutdown(fd, SHUT_RDWR); /* h2o sees the error on its next read or write, and closes the connection */
    }
}

static int by_socket(const void *a, const void *b)
{
    const stalled_t *x = a, *y = b;
    return x->sock < y->sock ? -1 : x->sock > y->sock;
}

static int by_pinned_desc(const void *a, const void *b)
{
    const stalled_t *x = a, *y = b;
    return x->pinned > y->pinned ? -1 : x->pinned < y->pinned;
}

static void on_watch_tick(h2o_timeout_entry_t *entry)
{
    int64_t now = server_now_ms();
    const conf_t *conf = watch.worker->gen->conf;
    size_t n = 0, cap = 0, nconn = 0;
    stalled_t *list = NULL;
    uint64_t total = 0, total_limit = conf->cache.memory / 4 / (conf->threads != 0 ? conf->threads : 1);

    watch.ticking = 0;
    for (h2o_linklist_t *l = watch.delivering.next; l != &watch.delivering; l = l->next) {
        edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, watch_link, l);
        int64_t idle = now - txn->progress_ms;
        h2o_socket_t *sock;
        if (idle < WATCH_STALLED_MS || (sock = socket_of(txn)) == NULL)
            continue;
        if ((uint64_t)idle >= conf->limits.send_timeout_ms) {
            metrics_count(METRIC_SEND_TIMEOUTS, 1);
            txn->progress_ms = now; /* once */
            abort_connection(sock, "the client took nothing of a response for limits.send_timeout");
            continue;
        }
        uint64_t p = pinned_bytes(txn, idle);
        if (p == 0)
            continue;
        if (n == cap && (list = realloc(list, (cap = cap ? cap * 2 : 64) * sizeof(*list))) == NULL)
            goto Exit;
        list[n++] = (stalled_t){sock, p};
    }
    /* per connection */
    if (n != 0)
        qsort(list, n, sizeof(*list), by_socket);
    for (size_t i = 0; i != n;) {
        stalled_t c = list[i++];
        while (i != n && list[i].sock == c.sock)
            c.pinned += list[i++].pinned;
        if (c.pinned > conf->limits.max_unsent_per_connection) {
            metrics_count(METRIC_SEND_TIMEOUTS, 1);
            abort_connection(c.sock, "its stalled responses hold more than limits.max_unsent_per_connection");
            continue;
        }
        list[nconn++] = c;
        total += c.pinned;
    }
    /* per worker: the connections that hold most go first */
    if (total > total_limit) {
        if (nconn != 0)
            qsort(list, nconn, sizeof(*list), by_pinned_desc);
        for (size_t i = 0; i != nconn && total > total_limit; ++i) {
            metrics_count(METRIC_SEND_TIMEOUTS, 1);
            abort_connection(list[i].sock, "stalled clients hold more than a quarter of cache.memory");
            total -= list[i].pinned;
        }
    }
Exit:
    free(list);
    if (!h2o_linklist_is_empty(&watch.delivering))
        watch_schedule();
}

static void on_generator_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, generator, gen);
    txn->progress_ms = server_now_ms();
    /* what was sent has been taken by h2o (written, or for HTTP/2 copied into the connection's buffer) */
    txn->pos = txn->sent_to;
    cache_reader_ack(txn->obj, &txn->reader, txn->pos);
    send_body_paced(txn);
}

static void on_generator_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, generator, gen);
    cache_waiter_cancel(&txn->waiter);
    h2o_timeout_unlink(&txn->pace_entry);
    watch_remove(txn);
}

/* headers of the object that are ours to set or not to forward */
static int skip_stored_header(const h2o_iovec_t *name, int from_cache)
{
    if (name == &H2O_TOKEN_DATE->buf) /* h2o writes its own */
        return 1;
    if (from_cache && name == &H2O_TOKEN_AGE->buf) /* we compute it */
        return 1;
    if (cache_policy_is_targeted_header(name)) /* CDN-Cache-Control, Surrogate-Control: for this cache only (RFC 9213) */
        return 1;
    return headers_name_is(name, H2O_STRLIT("surrogate-key")) || headers_name_is(name, H2O_STRLIT("cache-tag"));
}

static int is_representation_header(const h2o_iovec_t *name)
{
    return name == &H2O_TOKEN_CONTENT_TYPE->buf || name == &H2O_TOKEN_CONTENT_LENGTH->buf ||
           name == &H2O_TOKEN_CONTENT_ENCODING->buf || name == &H2O_TOKEN_CONTENT_LANGUAGE->buf ||
           name == &H2O_TOKEN_CONTENT_RANGE->buf;
}

/* the head as decided (and as the viewer-response hook left it) goes out, then the body */
static void send_head_finish(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    int status = txn->resp_status, not_modified = txn->not_modified;
    txn->status = status;
    if (not_modified)
        txn->end = 0;
    else if (txn->end != UINT64_MAX && status != 204 && status != 304) /* RFC 9110 §8.6: no Content-Length on a 204, and a
                                                                        * 304 of 0 would claim an empty representation */
        req->res.content_length = (size_t)(txn->end - txn->pos);
    txn->head_sent = 1;
    txn->generator.proceed = on_generator_proceed;
    txn->generator.stop = on_generator_stop;
    h2o_start_response(req, &txn->generator);
    if (txn->head_only || not_modified || status == 204 || txn->obj->status == 304 || txn->end == txn->pos) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (req->version >= 0x200 && (txn->end == UINT64_MAX || txn->end - txn->pos > H2_OUTPUT_BACKLOG_MAX) &&
        req->conn->callbacks->get_socket != NULL && (txn->h2_sock = req->conn->callbacks->get_socket(req->conn)) != NULL) {
        txn->h2_written_base = txn->h2_sock->bytes_written;
        txn->h2_pos_base = txn->pos;
    }
    watch_add(txn);
    send_body(txn);
}

/* the viewer-response event: the response as it would go out */
static void vres_build(edge_txn_t *txn, hook_fn_t *fn, hook_event_t *ev)
{
    h2o_req_t *req = txn->req;
    hookcall_request_event(req, txn, HOOK_VIEWER_RESPONSE, fn, handler_client_ip(txn), ev);
    ev->response.status = txn->resp_status;
    ev->response.status_description = h2o_iovec_init(req->res.reason, strlen(req->res.reason));
    hookcall_from_h2o_headers(&req->pool, req->res.headers.entries, req->res.headers.size, &ev->response.headers);
}

static void vres_done(edge_txn_t *txn, hook_event_t *ev, hookcall_result_t res, int err_status)
{
    h2o_req_t *req = txn->req;
    if (res != HOOKCALL_CONTINUE) {
        send_error(txn, err_status != 503 ? 502 : 503, err_status != 503 ? "the viewer-response hook returned an invalid result"
                                                                         : "the viewer-response hook failed");
        return;
    }
    hookcall_apply_response_headers(&req->pool, &ev->response.headers, &req->res.headers);
    send_head_finish(txn);
}

/* origin-response runs in the fill: the request that started the fill lists it in its hooks (once, in trigger order) */
static void log_origin_response_hook(edge_txn_t *txn)
{
    if (txn->obj != NULL && txn->leader && txn->obj->response_hooked && txn->ores_label != NULL) {
        hookcall_log(txn, HOOK_ORIGIN_RESPONSE, txn->ores_label);
        txn->ores_label = NULL;
    }
}

/* the response head from the object, then the body */
static void send_head(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    cache_obj_t *obj = txn->obj;
    int from_cache = txn->cacheable && !obj->transient;
    int status = obj->status;
    size_t i;
    cache_validators_t v;
    h2o_headers_t stored = {obj->headers, obj->num_headers, obj->num_headers};
    uint64_t length = obj->content_length >= 0 ? (uint64_t)obj->content_length : UINT64_MAX, start = 0, end = UINT64_MAX;
    int not_modified = 0, range = 0;

    txn->pos = 0;
    txn->end = length;
    if (from_cache && status == 200) {
        /* the client's own conditionals and Range are answered from the object (RFC 9110 sections 13, 14) */
        cache_policy_validators(&stored, &v);
        switch (cache_policy_conditional(req->method, &req->headers, status, &v)) {
        case CACHE_COND_NOT_MODIFIED:
            not_modified = 1;
            status = 304;
            break;
        case CACHE_COND_PRECONDITION_FAILED:
            send_error(txn, 412, "a precondition of the request failed");
            return;
        default:
            if (length != UINT64_MAX) {
                switch (cache_policy_range(req->method, &req->headers, status, length, &v, &start, &end)) {
                case CACHE_RANGE_PARTIAL:
                    range = 1;
                    status = 206;
                    break;
                case CACHE_RANGE_UNSATISFIABLE: {
                    char *cr = h2o_mem_alloc_pool(&req->pool, 48);
                    send_error_with(txn, 416, "the range is not satisfiable", H2O_TOKEN_CONTENT_RANGE,
                                    h2o_iovec_init(cr, sprintf(cr, "bytes */%" PRIu64, length)), 0);
                    return;
                }
                default:
                    break;
                }
            }
            break;
        }
    }

    req->res.status = status;
    req->res.reason = status == 304 ? "Not Modified" : status == 206 ? "Partial Content" : obj->reason != NULL && obj->reason[0] != '\0' ? obj->reason : "OK";
    h2o_vector_reserve(&req->pool, &req->res.headers, obj->num_headers + 6);
    if (!not_modified) {
        /* the fill put the headers that go out as they are first: one copy, no look at each */
        memcpy(req->res.headers.entries, obj->headers, sizeof(h2o_header_t) * obj->num_plain);
        req->res.headers.size = obj->num_plain;
        i = obj->num_plain;
    } else {
        i = 0;
    }
    for (; i != obj->num_headers; ++i) {
        if (skip_stored_header(obj->headers[i].name, from_cache))
            continue;
        if (not_modified && is_representation_header(obj->headers[i].name))
            continue;
        req->res.headers.entries[req->res.headers.size++] = obj->headers[i];
    }
    if (from_cache && !obj->hit_for_pass) {
        char *age = h2o_mem_alloc_pool(&req->pool, 24);
        cache_decision_t d;
        cache_obj_decision(obj, &d);
        int64_t secs = cache_policy_age_header_seconds(&d, server_now_ms());
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_AGE, NULL, age, format_u64(age, secs < 0 ? 0 : (uint64_t)secs));
    }
    if (range) {
        char *cr = h2o_mem_alloc_pool(&req->pool, 80); /* "bytes " and three 20-digit numbers */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, cr,
                       sprintf(cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end, length));
        txn->pos = start;
        txn->sent_to = start;
        txn->end = end + 1;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.1 edgehook"));
    add_x_cache(txn);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->request_id.base,
                          txn->request_id.len);
    log_origin_response_hook(txn);
    /* viewer-response: on hits and misses; not when the origin's status is an error (Lambda@Edge) */
    const char *vres_label;
    hook_fn_t *vres = obj->status < 400 ? hookcall_pick(txn, HOOK_VIEWER_RESPONSE, &vres_label) : NULL;
    txn->resp_status = status;
    txn->not_modified = not_modified;
    if (vres != NULL) {
        hook_event_t ev;
        int err_status = 0;
        vres_build(txn, vres, &ev);
        hookcall_result_t res = hookcall_run(txn, vres, vres_label, &ev, &req->pool, &err_status, vres_build, vres_done);
        if (res != HOOKCALL_OFFLOADED)
            vres_done(txn, &ev, res, err_status);
        return;
    }
    send_head_finish(txn);
}

/* counts what the delivery turned out to be, once, when its head goes out */
static void count_delivery(edge_txn_t *txn)
{
    int metric = cache_statuses[txn->cache_status].metric;
    if (metric >= 0)
        metrics_count(metric, 1);
}

static void restart(edge_txn_t *txn)
{
    /* the object we waited for cannot serve us (not shareable, or another variant): look up again */
    cache_reader_detach(txn->obj, &txn->reader);
    cache_obj_release(txn->obj);
    txn->obj = NULL;
    txn->leader = 0;
    if (++txn->restarts > MAX_RESTARTS) {
        send_error(txn, 503, "could not get a shareable response for this request");
        return;
    }
    process_cached(txn);
}

static int vary_matches(cache_obj_t *obj, void *ctx);

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
        if (cache_obj_fallback(obj) != NULL) {
            /* stale-if-error: the stored response instead of the origin's failure */
            cache_obj_t *fb = cache_obj_fallback(obj);
            cache_obj_addref(fb);
            cache_reader_detach(obj, &txn->reader);
            cache_obj_release(obj);
            txn->obj = fb;
            cache_reader_attach(fb, &txn->reader);
            txn->cache_status = EDGE_CACHE_STALE_IF_ERROR;
            count_delivery(txn);
            send_head(txn);
            return;
        }
        send_error(txn, cache_obj_fail_status(obj) != 0 ? cache_obj_fail_status(obj) : 502, cache_obj_fail_reason(obj));
        return;
    case CACHE_OBJ_PASS:
        if (!txn->leader) {
            restart(txn);
            return;
        }
        break;
    default:
        if (!txn->leader && obj->num_vary != 0 && !vary_matches(obj, txn)) {
            restart(txn);
            return;
        }
        break;
    }
    if (obj->refreshed && txn->cache_status == EDGE_CACHE_MISS)
        txn->cache_status = EDGE_CACHE_REFRESH_HIT;
    count_delivery(txn);
    send_head(txn);
}

/* ---- the pipeline --------------------------------------------------------------------------------------------------------- */

/* the viewer's address as text; IPv4 by hand, because getnameinfo (h2o_socket_getnumerichost) costs ~2,000 instructions */
static h2o_iovec_t lookup_client_ip(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (void *)&ss);
    char *buf = h2o_mem_alloc_pool(&req->pool, INET6_ADDRSTRLEN);
    if (len != 0 && ss.ss_family == AF_INET)
        return h2o_iovec_init(buf, headers_format_ipv4((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr, buf));
    if (len != 0 && ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, INET6_ADDRSTRLEN) != NULL)
        return h2o_iovec_init(buf, strlen(buf));
    return h2o_iovec_init(H2O_STRLIT("0.0.0.0"));
}

h2o_iovec_t handler_client_ip(edge_txn_t *txn)
{
    if (txn->client_ip.base == NULL)
        txn->client_ip = lookup_client_ip(txn->req);
    return txn->client_ip;
}

static void fill_request_of(edge_txn_t *txn, fill_request_t *fr, int as_get)
{
    h2o_req_t *req = txn->req;
    fr->method = as_get ? h2o_iovec_init(H2O_STRLIT("GET")) : req->method;
    fr->path = req->path;
    fr->headers = &req->headers;
    fr->body = req->entity.base != NULL ? req->entity : h2o_iovec_init(NULL, 0);
    fr->authority = req->authority;
    fr->client_ip = handler_client_ip(txn);
    fr->client_https = req->scheme == &H2O_URL_SCHEME_HTTPS;
    fr->request_id = txn->request_id;
}

static void fill_cache_of(edge_txn_t *txn, fill_cache_t *fc, cache_obj_t *stale, int insert)
{
    fc->mem = handler_cache;
    fc->policy = txn->behavior->policy;
    fc->max_object_size = txn->gen->conf->cache.max_object_size;
    fc->stale = stale;
    fc->insert = insert;
}

/* starts the fetch that fills obj (proxy/fill.c runs the origin-request and origin-response hooks) */
static void start_fill(edge_txn_t *txn, cache_obj_t *obj, const fill_cache_t *fc, int as_get)
{
    const char *oreq_label = NULL;
    fill_request_t fr;
    fill_hooks_t hooks = {hookcall_pick(txn, HOOK_ORIGIN_REQUEST, &oreq_label), hookcall_pick(txn, HOOK_ORIGIN_RESPONSE, &txn->ores_label)};

    if (hooks.origin_request != NULL)
        hookcall_log(txn, HOOK_ORIGIN_REQUEST, oreq_label);
    fill_request_of(txn, &fr, as_get);
    fill_start(txn->behavior->origin, &fr, obj, fc, &hooks, &txn->origin_name);
}

/* the response is not shared: one fetch for this client, never stored */
static void start_pass(edge_txn_t *txn)
{
    txn->cache_status = EDGE_CACHE_PASS;
    txn->origin_name = txn->behavior->origin->name;
    txn->obj = cache_obj_new(0, h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0));
    cache_reader_attach(txn->obj, &txn->reader);
    txn->leader = 1;
    txn->cacheable = 0;
    start_fill(txn, txn->obj, NULL, 0);
    deliver(txn);
}

/* a miss that does not wait for others (the key recently gave an uncacheable response); stored if it turns out storable */
static void start_uncollapsed(edge_txn_t *txn)
{
    fill_cache_t fc;
    txn->cache_status = EDGE_CACHE_MISS;
    txn->origin_name = txn->behavior->origin->name;
    txn->obj = cache_obj_new(txn->hash, txn->key, txn->url);
    cache_reader_attach(txn->obj, &txn->reader);
    txn->leader = 1;
    fill_cache_of(txn, &fc, NULL, 1);
    start_fill(txn, txn->obj, &fc, 1);
    deliver(txn);
}

/* a miss, or a stale object to revalidate: fetch once per key; concurrent requests wait for that fetch */
static void start_miss(edge_txn_t *txn, cache_obj_t *stale)
{
    int created;
    cache_obj_t *obj = cache_mem_begin(handler_cache, txn->hash, txn->key, txn->url, &created);
    txn->obj = obj;
    txn->cache_status = EDGE_CACHE_MISS;
    txn->origin_name = txn->behavior->origin->name;
    cache_reader_attach(obj, &txn->reader);
    if (created) {
        fill_cache_t fc;
        txn->leader = 1;
        fill_cache_of(txn, &fc, stale, 0);
        start_fill(txn, obj, &fc, 1);
    } else {
        metrics_count(METRIC_CACHE_COLLAPSED, 1);
    }
    deliver(txn);
}

/* stale-while-revalidate: one background fetch refreshes the object while clients get the stale copy */
static void start_background_revalidation(edge_txn_t *txn, cache_obj_t *stale)
{
    int created;
    cache_obj_t *obj = cache_mem_begin(handler_cache, txn->hash, txn->key, txn->url, &created);
    if (created) {
        fill_cache_t fc;
        fill_cache_of(txn, &fc, stale, 0);
        log_debug("background revalidation of %.*s", (int)txn->url.len, txn->url.base);
        start_fill(txn, obj, &fc, 1);
    }
    cache_obj_release(obj);
}

static void serve_stored(edge_txn_t *txn, cache_obj_t *obj, edge_cache_status_t status)
{
    txn->obj = obj;
    txn->cache_status = status;
    cache_reader_attach(obj, &txn->reader);
    deliver(txn);
}

static int vary_matches(cache_obj_t *obj, void *ctx)
{
    edge_txn_t *txn = ctx;
    cache_vary_t vary = {obj->vary_names, obj->num_vary, 0};
    h2o_iovec_t vk;
    if (cache_vary_key(&txn->req->pool, &vary, &txn->req->headers, &vk) != 0)
        return 0;
    return vk.len == obj->vary_key.len && memcmp(vk.base, obj->vary_key.base, vk.len) == 0;
}

/* the viewer-request event: the request as the viewer sent it */
static void vreq_build(edge_txn_t *txn, hook_fn_t *fn, hook_event_t *ev)
{
    hookcall_request_event(txn->req, txn, HOOK_VIEWER_REQUEST, fn, handler_client_ip(txn), ev);
}

static void vreq_done(edge_txn_t *txn, hook_event_t *ev, hookcall_result_t res, int err_status)
{
    switch (res) {
    case HOOKCALL_CONTINUE: {
        /* the hook's uri is normalised like a viewer's (one string for cache key and origin); one that is not a path is invalid */
        const char *reason;
        hookcall_apply_request(txn->req, ev);
        if (hookcall_normalize_uri(&txn->req->pool, &txn->req->path, &txn->req->query_at, &reason) != 0) {
            log_error("viewer-request hook: the uri it returned is refused: %s", reason);
            send_error(txn, 502, "the viewer-request hook returned an invalid uri");
            break;
        }
        process_cached(txn);
        break;
    }
    case HOOKCALL_RESPOND:
        send_generated(txn, &ev->response);
        break;
    default:
        send_error(txn, err_status, err_status == 502 ? "the viewer-request hook returned an invalid result" : "the viewer-request hook failed");
        break;
    }
}

/* viewer-request: every request, before the cache; it may rewrite the request or answer it */
static void process(edge_txn_t *txn)
{
    const char *label;
    hook_fn_t *fn = txn->viewer_request_done ? NULL : hookcall_pick(txn, HOOK_VIEWER_REQUEST, &label);
    if (fn != NULL) {
        hook_event_t ev;
        int err_status = 0;
        txn->viewer_request_done = 1;
        vreq_build(txn, fn, &ev);
        hookcall_result_t res = hookcall_run(txn, fn, label, &ev, &txn->req->pool, &err_status, vreq_build, vreq_done);
        if (res != HOOKCALL_OFFLOADED)
            vreq_done(txn, &ev, res, err_status);
        return;
    }
    process_cached(txn);
}

/* the cache: a hit, a stale object (served while revalidating, or revalidated first), a miss, or a pass */
static void process_cached(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    edge_behavior_t *b = txn->behavior;
    cache_mem_lookup_t lk;
    int64_t now;

    if (!b->cache_enabled || handler_cache == NULL ||
        !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || txn->head_only)) {
        start_pass(txn);
        return;
    }
    txn->cacheable = 1;
    if (txn->key.base == NULL) {
        cache_key_request_t kr = {b->index, req->authority, req->path, &req->headers};
        txn->key = cache_key_build_pool(&req->pool, &b->conf->cache, &kr);
        txn->hash = cache_key_hash(txn->key.base, txn->key.len);
        txn->url = cache_key_url_of(txn->key);
    }
    cache_mem_lookup(handler_cache, txn->hash, txn->key, vary_matches, txn, &lk);
    if (lk.busy != NULL)
        cache_obj_release(lk.busy); /* cache_mem_begin finds it again, atomically */
    now = server_now_ms();
    if (lk.found != NULL) {
        cache_obj_t *found = lk.found;
        if (found->hit_for_pass) {
            cache_decision_t fd;
            cache_obj_decision(found, &fd);
            int fresh = cache_policy_ttl(&fd, now) > 0;
            if (!fresh)
                cache_mem_remove(handler_cache, found);
            cache_obj_release(found);
            if (fresh) {
                start_uncollapsed(txn);
                return;
            }
        } else {
            cache_decision_t fd;
            cache_obj_decision(found, &fd);
            cache_use_t use = atomic_load(&found->invalidated) ? CACHE_USE_REVALIDATE : cache_policy_use(&fd, NULL, now);
            if (use == CACHE_USE_FRESH) {
                serve_stored(txn, found, EDGE_CACHE_HIT);
                return;
            }
            if (use == CACHE_USE_STALE_REVALIDATE && cache_obj_state(found) == CACHE_OBJ_COMPLETE) {
                /* `revalidating` holds the second of the last background refresh: a refresh that failed is tried again a
                 * second later (a flag set for good ended stale-while-revalidate after one failure); one that is still
                 * running is found busy by cache_mem_begin and not started twice */
                int last = atomic_load(&found->revalidating), sec = (int)((now / 1000) & 0x3fffffff) + 1;
                if (last != sec && atomic_compare_exchange_strong(&found->revalidating, &last, sec))
                    start_background_revalidation(txn, found);
                serve_stored(txn, found, EDGE_CACHE_STALE_HIT);
                return;
            }
            /* validate with the origin first; while that runs, other requests for the key wait for it */
            start_miss(txn, cache_obj_state(found) == CACHE_OBJ_COMPLETE ? found : NULL);
            cache_obj_release(found);
            return;
        }
    }
    start_miss(txn, NULL);
}

static void on_deferred_process(h2o_timeout_entry_t *entry)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, defer_entry, entry);
    process(txn);
}

/*
 * What the viewer sent, checked before anything else reads it (reqcheck.h): the raw HTTP/1 head, the size of the header list,
 * and the target, which is normalised once here into req->path (with the query) and req->path_normalized (without): the one
 * string that picks the behaviour, keys the cache, is the hooks' uri and goes to the origin. Returns 0, or -1 when it answered.
 */
int handler_check_head(h2o_req_t *req, const conf_t *conf, const char **reason, int *metric)
{
    size_t total = 0;
    int status;

    *metric = METRIC_REFUSED_HEAD;
    if (req->version < 0x200 && req->conn->callbacks->get_socket != NULL) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        /* h2o keeps the head at the start of the connection's input until the response is done (lib/http1.c) */
        if (sock != NULL && (status = reqcheck_http1_head(sock->input->bytes, sock->input->size, reason)) != 0) {
            if (status == 505)
                *metric = METRIC_REFUSED_VERSION;
            return status;
        }
    }
    if (req->version >= 0x200) {
        /* HTTP/2 carries no request line: the method, names and values become one for the origin, so they must be what an
         * HTTP/1.1 head can hold (h2o checks characters in names and values, not the method) */
        if (reqcheck_token(req->input.method.base, req->input.method.len) != 0) {
            *reason = "the :method is not a token";
            return 400;
        }
        for (size_t i = 0; i != req->headers.size; ++i) {
            const h2o_header_t *h = req->headers.entries + i;
            if (reqcheck_token(h->name->base, h->name->len) != 0 || reqcheck_field_value(h->value.base, h->value.len) != 0) {
                *reason = "a header name that is not a token, or a control byte in a value";
                return 400;
            }
        }
    }
    *metric = METRIC_REFUSED_HEADERS;
    if (req->headers.size > conf->limits.max_request_headers) {
        *reason = "too many request header fields (limits.max_request_headers)";
        return 431;
    }
    for (size_t i = 0; i != req->headers.size; ++i)
        total += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    if (total + req->input.path.len + req->input.authority.len > conf->limits.max_request_header_size) {
        *reason = "the request header fields are too large (limits.max_request_header_size)";
        return 431;
    }
    return 0;
}

static int check_request(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    const conf_t *conf = txn->gen->conf;
    const char *reason = NULL;
    reqcheck_target_t t;
    int status, metric;
    char *dst;

    if ((status = handler_check_head(req, conf, &reason, &metric)) != 0) {
        send_refusal(txn, metric, status, reason);
        return -1;
    }
    dst = h2o_mem_alloc_pool(&req->pool, req->input.path.len + 1);
    if ((status = reqcheck_target(req->input.path.base, req->input.path.len,
                                  (req->version >= 0x200 ? REQCHECK_HTTP2 : 0) |
                                      (conf->limits.allow_path_params ? REQCHECK_ALLOW_PARAMS : 0),
                                  dst, &t, &reason)) != 0) {
        send_refusal(txn, METRIC_REFUSED_TARGET, status, reason);
        return -1;
    }
    req->path = h2o_iovec_init(dst, t.path_len);
    req->query_at = t.query_at;
    req->path_normalized = h2o_iovec_init(dst, t.query_at != SIZE_MAX ? t.query_at : t.path_len);
    req->norm_indexes = NULL;
    if (t.authority != NULL)
        req->authority = h2o_strdup(&req->pool, t.authority, t.authority_len); /* RFC 9112 §3.2.2: the target's authority wins */
    else if (req->version >= 0x200 && reqcheck_authority(req->authority.base, req->authority.len) != 0) {
        send_refusal(txn, METRIC_REFUSED_HEAD, 400, "an :authority with characters outside an authority");
        return -1;
    }
    return 0;
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
    txn->gen = server_gen_acquire(w);
    /* a request id unique per process start: 6 hex digits of a start tag, the worker, a counter */
    rid = h2o_mem_alloc_pool(&req->pool, 16);
    format_hex(rid, process_tag & 0xffffff, 6);
    format_hex(rid + 6, w->id & 0xff, 2);
    format_hex(rid + 8, ++w->next_request_seq & 0xffffffffu, 8);
    txn->request_id = h2o_iovec_init(rid, 16);
    cache_waiter_init(&txn->waiter, on_txn_wake);
    atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
    txn->head_only = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    if (check_request(txn) != 0)
        return 0;
    if (req->entity.base != NULL && req->entity.len > txn->gen->conf->limits.max_request_body) {
        send_error(txn, 413, "the request body exceeds limits.max_request_body");
        return 0;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("TRACE"))) {
        send_error(txn, 405, "CONNECT and TRACE are not proxied");
        return 0;
    }
    if ((txn->behavior = gen_match(txn->gen, req->path_normalized.base, req->path_normalized.len)) == NULL) {
        send_error(txn, 404, "no behavior matches this path");
        return 0;
    }
    if (txn->behavior->origin->s3 != NULL && !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || txn->head_only)) {
        send_error(txn, 405, "an S3 origin is read-only here: GET and HEAD");
        return 0;
    }
    if (req->version >= 0x200) {
        /* D8: a stream reset in the same read is disposed before we go to the origin for it */
        txn->defer_entry.cb = on_deferred_process;
        h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &txn->defer_entry);
        return 0;
    }
    process(txn);
    return 0;
}

/* RFC 9111 section 4.4: a successful unsafe request invalidates what the cache holds for its target */
static void invalidate_after_unsafe(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    h2o_iovec_t uris[CACHE_INVALIDATE_MAX];
    size_t n;
    if (handler_cache == NULL || txn->behavior == NULL || cache_policy_method_is_safe(req->method))
        return;
    n = cache_policy_invalidations(&req->pool, req->method, req->res.status, req->scheme, req->authority, req->path, &req->res.headers,
                                   uris);
    for (size_t i = 0; i != n; ++i) {
        edge_behavior_t *b = gen_match(txn->gen, uris[i].base, uris[i].len);
        h2o_iovec_t url = cache_key_url(&req->pool, b != NULL ? &b->conf->cache : NULL, uris[i]);
        cache_mem_purge(handler_cache, CACHE_PURGE_URL, url, 0);
    }
}

/*
 * A request that ended before its response began (the client went away, an HTTP/2 stream was reset) is counted; on HTTP/2 its
 * access-log lines are limited to UNANSWERED_LOG_PER_SEC per worker, so that a rapid-reset flood (CVE-2023-44487) cannot turn
 * into gigabytes of log: what is left out is said once a second in the error log.
 */
#define UNANSWERED_LOG_PER_SEC 20

static int unanswered_suppressed(edge_txn_t *txn)
{
    static __thread int64_t sec;
    static __thread unsigned logged, suppressed;
    if (txn->head_sent || txn->req->res.status != 0)
        return 0;
    metrics_count(METRIC_UNANSWERED, 1);
    if (txn->req->version < 0x200)
        return 0;
    int64_t now = server_now_ms() / 1000;
    if (now != sec) {
        if (suppressed != 0)
            log_warn("access log: %u lines of HTTP/2 requests reset before their response were left out (second %lld)", suppressed,
                     (long long)sec);
        sec = now;
        logged = suppressed = 0;
    }
    if (logged < UNANSWERED_LOG_PER_SEC) {
        ++logged;
        return 0;
    }
    ++suppressed;
    return 1;
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
    h2o_timeout_unlink(&txn->pace_entry);
    watch_remove(txn);
    cache_waiter_cancel(&txn->waiter);
    hookcall_txn_done(txn);
    dur = now_us() - txn->started_us;
    log_origin_response_hook(txn);
    e.req = req;
    e.status = req->res.status != 0 ? req->res.status : txn->status;
    e.bytes = req->bytes_sent;
    e.duration_us = dur;
    e.request_id = txn->request_id;
    e.cache_status = handler_cache_status_name(txn->cache_status);
    e.hooks = h2o_iovec_init(txn->hooks_log, txn->hooks_log_len);
    e.origin = txn->origin_name;
    if (accesslog_enabled() && !unanswered_suppressed(txn))
        accesslog_write(&e);
    metrics_request(e.status, dur, req->bytes_sent);
    invalidate_after_unsafe(txn);
    if (txn->obj != NULL) {
        cache_reader_detach(txn->obj, &txn->reader);
        cache_obj_release(txn->obj);
        txn->obj = NULL;
    }
    server_gen_release(txn->worker, txn->gen);
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
