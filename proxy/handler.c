/* proxy/handler.c - the request pipeline on one worker thread, and delivery of a cache object (whole or filling) to a client. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/tcp.h> /* struct tcp_info's tcpi_bytes_acked, which glibc's netinet/tcp.h lacks */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "base/str.h"
#include "cache/disk.h"
#include "cache/key.h"
#include "cache/policy.h"
#include "proxy/accesslog.h"
#include "proxy/cfheaders.h"
#include "proxy/fill.h"
#include "proxy/handler.h"
#include "proxy/dynorigin.h"
#include "proxy/headers.h"
#include "proxy/hookcall.h"
#include "base/clock.h"
#include "base/log.h"
#include "proxy/metrics.h"
#include "proxy/parents.h"
#include "proxy/reqcheck.h"
#include "proxy/server.h"

#ifdef EDGE_HAVE_STORE_STORE
#include "store/http1.h"
#define handler_conn_checked(conn) store_http1_is_conn(conn)
#else
#define handler_conn_checked(conn) 0
#endif

#define MAX_SEND_VECS 16
#define MAX_SEND_BYTES (1024 * 1024)
#define MAX_RESTARTS 3

cache_mem_t *handler_cache;
cache_disk_t *handler_disk;
cache_partial_t *handler_partial;
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

/* appends `v` to the response's header `name` (one field, a comma-separated list), or adds it */
static void append_list_header(h2o_req_t *req, const char *name, size_t name_len, const char *orig_name, h2o_iovec_t v)
{
    ssize_t i = h2o_find_header_by_str(&req->res.headers, name, name_len, -1);
    if (i != -1) {
        h2o_header_t *h = req->res.headers.entries + i;
        h->value = h2o_concat(&req->pool, h->value, h2o_iovec_init(H2O_STRLIT(", ")), v);
        return;
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 0, orig_name, v.base, v.len);
}

/*
 * the X-Cache header of the request's cache status, when it has one; with tiers, what a parent said comes first and this node's
 * last ("Miss from edgehook, Hit from edgehook": the parent missed when this node fetched, this node hit), and X-Served-By lists
 * the nodes in the same order when they set node_name (Fastly's convention)
 */
static void add_x_cache(edge_txn_t *txn)
{
    h2o_iovec_t v = cache_statuses[txn->lookup.cache_status].x_cache;
    if (v.base == NULL)
        return;
    append_list_header(txn->req, H2O_STRLIT("x-cache"), "X-Cache", v);
    h2o_iovec_t by = parents_served_by();
    if (by.base != NULL)
        append_list_header(txn->req, H2O_STRLIT("x-served-by"), "X-Served-By", by);
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

static uint64_t now_us(void)
{
    return (uint64_t)edge_realtime_us();
}

/* ---- errors --------------------------------------------------------------------------------------------------------------- */

static void send_error_with(edge_txn_t *txn, int status, const char *detail, const h2o_token_t *extra_name, h2o_iovec_t extra_value,
                            int close)
{
    h2o_req_t *req = txn->req;
    const char *reason = edge_http_reason(status);
    char *body = h2o_mem_alloc_pool(&req->pool, strlen(detail) + 64);
    sprintf(body, "%d %s: %s\n", status, reason, detail);
    txn->out.status = status;
    txn->out.head_sent = 1;
    if (status >= 500)
        txn->lookup.cache_status = EDGE_CACHE_ERROR;
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->viewer.request_id.base,
                          txn->viewer.request_id.len);
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
    txn->out.status = resp->status;
    txn->out.head_sent = 1;
    txn->lookup.cache_status = EDGE_CACHE_GENERATED;
    metrics_count(METRIC_CACHE_GENERATED, 1);
    req->res.status = resp->status;
    req->res.reason = resp->status_description.len != 0 ? h2o_strdup(&req->pool, resp->status_description.base,
                                                                     resp->status_description.len).base
                                                        : "OK";
    hookcall_to_h2o_response_headers(&req->pool, &resp->headers, &req->res.headers);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->viewer.request_id.base,
                          txn->viewer.request_id.len);
    req->res.content_length = body.len;
    h2o_start_response(req, &generator);
    h2o_send(req, &body, txn->viewer.head_only || body.len == 0 ? 0 : 1, H2O_SEND_STATE_FINAL);
}

/* ---- delivery ------------------------------------------------------------------------------------------------------------- */

/* sends what is available of the body; waits for more when there is none */
static void send_body(edge_txn_t *txn)
{
    h2o_iovec_t vecs[MAX_SEND_VECS];
    size_t n, nbytes;
    int state = cache_obj_state(txn->out.obj);
    uint64_t avail = cache_obj_avail(txn->out.obj), end = txn->out.end;

    if (state == CACHE_OBJ_COMPLETE && (uint64_t)txn->out.obj->content_length < end)
        end = (uint64_t)txn->out.obj->content_length;
    n = cache_reader_peek(txn->out.obj, &txn->out.reader, txn->out.pos,
                          end < txn->out.pos + MAX_SEND_BYTES ? end : txn->out.pos + MAX_SEND_BYTES, vecs, MAX_SEND_VECS, &nbytes);
    if (n != 0) {
        int final = txn->out.pos + nbytes == end && (state == CACHE_OBJ_COMPLETE || end != UINT64_MAX);
        txn->out.sent_to = txn->out.pos + nbytes;
        h2o_send(txn->req, vecs, n, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
    if (txn->out.pos >= end || (state == CACHE_OBJ_COMPLETE && txn->out.pos >= avail)) {
        h2o_send(txn->req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (state == CACHE_OBJ_FAILED) {
        /* the origin response broke off: the client must see an error, never a short "complete" response */
        h2o_send(txn->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    cache_obj_wait(txn->out.obj, &txn->out.waiter, state, avail);
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
    if (txn->flow.h2_sock == NULL) /* set by step_send for HTTP/2 bodies big enough to need it */
        return 0;
    uint64_t handed = txn->out.sent_to - txn->flow.h2_pos_base,
             written = txn->flow.h2_sock->bytes_written - txn->flow.h2_written_base;
    return handed > written && handed - written > H2_OUTPUT_BACKLOG_MAX;
}

static void on_pace(h2o_timeout_entry_t *entry);

/* send_body, or a look again in a few ms while the HTTP/2 connection has too much of this body unwritten */
static void send_body_paced(edge_txn_t *txn)
{
    if (h2_output_backlog_high(txn)) {
        txn->flow.pace_entry.cb = on_pace;
        h2o_timeout_link(txn->req->conn->ctx->loop, server_timeout(txn->worker, H2_PACE_POLL_MS), &txn->flow.pace_entry);
        return;
    }
    send_body(txn);
}

static void on_pace(h2o_timeout_entry_t *entry)
{
    send_body_paced(H2O_STRUCT_FROM_MEMBER(edge_txn_t, flow.pace_entry, entry));
}

/*
 * Slow readers. Every body being delivered is on its worker's watch list; four times a second the list is scanned.
 * A client takes bytes when h2o calls proceed (a send was taken whole) and, for HTTP/1, when its end of the TCP connection has
 * acknowledged WATCH_PROGRESS_ACKED more bytes (tcpi_bytes_acked) since that last counted: the kernel wakes h2o for a partly
 * written send only once much of a send buffer of several MB is free, so a client reading steadily at 1 MB/s can go seconds
 * between proceeds; a client trickling a few bytes at a time does not reach the threshold and is still cut off. (An HTTP/2
 * connection's progress says nothing about one of its streams: proceed alone counts there.)
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
#define WATCH_PROGRESS_ACKED (64 * 1024)

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
static uint64_t client_acked(edge_txn_t *txn);

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
    txn->flow.progress_ms = server_now_ms();
    txn->flow.acked = client_acked(txn);
    h2o_linklist_insert(&watch.delivering, &txn->flow.watch_link);
    if (!watch.ticking)
        watch_schedule();
}

static void watch_remove(edge_txn_t *txn)
{
    if (h2o_linklist_is_linked(&txn->flow.watch_link))
        h2o_linklist_unlink(&txn->flow.watch_link);
}

/* what only this reader keeps in memory: a body out of the index (evicted, transient, passed through) */
static uint64_t pinned_bytes(edge_txn_t *txn, int64_t idle_ms)
{
    cache_obj_t *obj = txn->out.obj;
    if (obj == NULL)
        return 0;
    uint64_t avail = cache_obj_avail(obj);
    if (obj->transient) /* passed through: what this reader has not taken yet */
        return idle_ms >= WATCH_STALLED_PASS_MS && avail > txn->out.pos ? avail - txn->out.pos : 0;
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

/* HTTP/1: the bytes the client's end of the connection has acknowledged (0 for HTTP/2 or when the kernel does not say) */
static uint64_t client_acked(edge_txn_t *txn)
{
    h2o_socket_t *sock;
    struct tcp_info info;
    socklen_t len = sizeof(info);
    int fd;
    if (txn->req->version >= 0x200 || (sock = socket_of(txn)) == NULL || (fd = h2o_socket_get_fd(sock)) < 0)
        return 0;
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < offsetof(struct tcp_info, tcpi_bytes_acked) + 8)
        return 0;
    return info.tcpi_bytes_acked;
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
        edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, flow.watch_link, l);
        int64_t idle = now - txn->flow.progress_ms;
        h2o_socket_t *sock;
        if (idle < WATCH_STALLED_MS || (sock = socket_of(txn)) == NULL)
            continue;
        uint64_t acked = client_acked(txn);
        if (acked > txn->flow.acked &&
            acked - txn->flow.acked >= WATCH_PROGRESS_ACKED) { /* the client took bytes of a send still under way */
            txn->flow.acked = acked;
            txn->flow.progress_ms = now;
            continue;
        }
        if ((uint64_t)idle >= conf->limits.send_timeout_ms) {
            metrics_count(METRIC_SEND_TIMEOUTS, 1);
            txn->flow.progress_ms = now; /* once */
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
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, out.generator, gen);
    txn->flow.progress_ms = server_now_ms();
    /* what was sent has been taken by h2o (written, or for HTTP/2 copied into the connection's buffer) */
    txn->out.pos = txn->out.sent_to;
    cache_reader_ack(txn->out.obj, &txn->out.reader, txn->out.pos);
    send_body_paced(txn);
}

static void on_generator_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, out.generator, gen);
    cache_waiter_cancel(&txn->out.waiter);
    h2o_timeout_unlink(&txn->flow.pace_entry);
    watch_remove(txn);
}

/* headers of the object that are ours to set or not to forward */
static int skip_stored_header(const h2o_iovec_t *name, int from_cache)
{
    if (name == &H2O_TOKEN_DATE->buf) /* h2o writes its own */
        return 1;
    if (from_cache && name == &H2O_TOKEN_AGE->buf) /* we compute it */
        return 1;
    if (cache_policy_is_consumed_header(name)) /* Surrogate-Control: for this cache only (CDN-Cache-Control goes on, RFC 9213 §3) */
        return 1;
    return headers_name_is(name, H2O_STRLIT("surrogate-key")) || headers_name_is(name, H2O_STRLIT("cache-tag"));
}

static int is_representation_header(const h2o_iovec_t *name)
{
    return name == &H2O_TOKEN_CONTENT_TYPE->buf || name == &H2O_TOKEN_CONTENT_LENGTH->buf ||
           name == &H2O_TOKEN_CONTENT_ENCODING->buf || name == &H2O_TOKEN_CONTENT_LANGUAGE->buf ||
           name == &H2O_TOKEN_CONTENT_RANGE->buf;
}

/* ---- the hooks of a request ----------------------------------------------------------------------------------------------- */

/* records `event:NAME@VERSION` in the request's hook list (the access log's hooks= field) */
static void hooks_log(edge_txn_t *txn, int type, const char *label)
{
    static const char short_names[4][6] = {"vreq:", "oreq:", "ores:", "vres:"};
    size_t llen = strlen(label), sep = txn->hooks.log_len != 0, n = sep + 5 + llen;
    if (txn->hooks.log_len + n >= sizeof(txn->hooks.log))
        return;
    char *p = txn->hooks.log + txn->hooks.log_len;
    if (sep)
        *p++ = ',';
    memcpy(p, short_names[type & 3], 5);
    memcpy(p + 5, label, llen);
    p[5 + llen] = '\0';
    txn->hooks.log_len += n;
}

/* writes `[fetch=N,failed=M]` into the hook list at `at`, the end of a hook's entry (`vreq:auth@1[fetch=2,failed=1]`), moving
 * what follows; nothing when the hook fetched nothing or the list is full */
static void hooks_log_insert_fetches(edge_txn_t *txn, size_t at, unsigned n, unsigned failed)
{
    char note[48];
    int w = snprintf(note, sizeof(note), "[fetch=%u,failed=%u]", n, failed);
    if (n == 0 || w <= 0 || at > txn->hooks.log_len || txn->hooks.log_len + (size_t)w >= sizeof(txn->hooks.log))
        return;
    memmove(txn->hooks.log + at + w, txn->hooks.log + at, txn->hooks.log_len - at + 1);
    memcpy(txn->hooks.log + at, note, (size_t)w);
    txn->hooks.log_len += (size_t)w;
}

/* after a viewer hook's call: the fetches it made, appended to its entry in the hook list */
static void hooks_log_fetches(edge_txn_t *txn, unsigned *seen)
{
    unsigned n = txn->hooks.call.fetches - seen[0], failed = txn->hooks.call.fetches_failed - seen[1];
    seen[0] += n;
    seen[1] += failed;
    hooks_log_insert_fetches(txn, txn->hooks.log_len, n, failed);
}

/* the value of cookie `name` in the request's Cookie headers */
static h2o_iovec_t find_cookie(h2o_req_t *req, const char *name)
{
    size_t nlen = strlen(name);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                ++p;
            const char *k = p;
            while (p < end && *p != '=' && *p != ';')
                ++p;
            if (p < end && *p == '=' && (size_t)(p - k) == nlen && memcmp(k, name, nlen) == 0) {
                const char *v = ++p;
                while (p < end && *p != ';')
                    ++p;
                return h2o_iovec_init(v, p - v);
            }
            while (p < end && *p != ';')
                ++p;
        }
    }
    return h2o_iovec_init(NULL, 0);
}

/*
 * The hook version this request runs at trigger point `type` (NULL when the behavior has none): the binding's version, or for a
 * split alias the one the viewer's sticky key (client IP, cookie or header) lands on. *label gets "NAME@VERSION".
 */
static hook_fn_t *pick_hook(edge_txn_t *txn, int type, const char **label)
{
    hook_binding_t *b = txn->behavior->hooks[type];
    int k = 0;
    if (b == NULL)
        return NULL;
    if (b->fn[1] != NULL) {
        /* a split: the same viewer lands on the same version, request after request */
        h2o_iovec_t key = {NULL, 0};
        if (b->key_kind == HOOK_KEY_COOKIE)
            key = find_cookie(txn->req, b->key_name);
        else if (b->key_kind == HOOK_KEY_HEADER)
            key = headers_get_str(&txn->req->headers, b->key_name, strlen(b->key_name));
        if (key.len == 0)
            key = handler_client_ip(txn);
        k = hook_binding_pick(b, cache_key_hash_fixed(key.base, key.len));
    }
    hook_binding_count(b, k);
    *label = b->label[k];
    return b->fn[k];
}

/* the origin hooks run in the fill: the request that started it lists origin-response in its hooks (once, in trigger order), and
 * the fetches of both (the fill noted them in the object before it published the head) */
static void log_origin_hooks(edge_txn_t *txn)
{
    cache_obj_t *o = txn->out.obj;
    if (o == NULL || !txn->fetch.leader)
        return;
    if (txn->fetch.oreq_log_at != 0) {
        hooks_log_insert_fetches(txn, txn->fetch.oreq_log_at, atomic_load_explicit(&o->hook_fetches[0], memory_order_relaxed),
                                 atomic_load_explicit(&o->hook_fetches[1], memory_order_relaxed));
        txn->fetch.oreq_log_at = 0;
    }
    if (o->response_hooked && txn->fetch.ores_label != NULL) {
        hooks_log(txn, HOOK_ORIGIN_RESPONSE, txn->fetch.ores_label);
        hooks_log_insert_fetches(txn, txn->hooks.log_len, atomic_load_explicit(&o->hook_fetches[2], memory_order_relaxed),
                                 atomic_load_explicit(&o->hook_fetches[3], memory_order_relaxed));
        txn->fetch.ores_label = NULL;
    }
}

/* the distribution's identity hooks see (`distribution:`), empty when not configured */
static void distribution_of(edge_txn_t *txn, h2o_iovec_t *id, h2o_iovec_t *domain)
{
    const conf_t *conf = txn->gen->conf;
    *id = conf->distribution.id != NULL ? h2o_iovec_init(conf->distribution.id, strlen(conf->distribution.id))
                                        : h2o_iovec_init(NULL, 0);
    *domain = conf->distribution.domain_name != NULL
                  ? h2o_iovec_init(conf->distribution.domain_name, strlen(conf->distribution.domain_name))
                  : h2o_iovec_init(NULL, 0);
}

/* a viewer-side event, in the request's pool: the request part as the request is now */
static hook_event_t *viewer_event(edge_txn_t *txn, int type, hook_fn_t *fn)
{
    hookcall_request_t r;
    hook_event_t *ev = h2o_mem_alloc_pool(&txn->req->pool, sizeof(*ev));
    hookcall_request_of(txn->req, txn->viewer.request_id, handler_client_ip(txn), &r);
    distribution_of(txn, &r.distribution_id, &r.distribution_domain);
    hookcall_request_event(&txn->req->pool, type, fn, &r, ev);
    return ev;
}

static void txn_run(edge_txn_t *txn);

/* a hook call that went on elsewhere completed: the request goes on at the step that reads its result */
static void on_hook_done(hookcall_t *call, void *arg)
{
    (void)call; /* its outcome is txn->hooks.call's */
    txn_run(arg);
}

/* runs fn on ev; the step `then` reads the outcome (txn->hooks.call: status, ev), now or when the call completes */
static req_step_t start_hook(edge_txn_t *txn, hook_fn_t *fn, const char *label, hook_event_t *ev, req_step_t then)
{
    hook_head_limits_t limits;
    hooks_log(txn, ev->type, label);
    hookcall_limits(txn->gen->conf, &limits);
    if (hookcall_start(&txn->hooks.call, fn, ev, &txn->req->pool, &limits, on_hook_done, txn) == HOOKCALL_PENDING)
        return REQ_WAIT_AT(then);
    return then;
}

/* ---- fetches -------------------------------------------------------------------------------------------------------------- */

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
    fr->request_id = txn->viewer.request_id;
    distribution_of(txn, &fr->distribution_id, &fr->distribution_domain);
    if (fr->distribution_domain.len == 0)
        fr->distribution_domain = req->authority;
}

static void fill_cache_of(edge_txn_t *txn, fill_cache_t *fc, cache_obj_t *stale, int insert)
{
    fc->mem = handler_cache;
    fc->policy = txn->behavior->policy;
    fc->max_object_size = txn->gen->conf->cache.max_object_size;
    fc->stale = stale;
    fc->insert = insert;
    fc->partial = NULL;
    fc->partial_epoch = 0;
    fc->range = h2o_iovec_init(NULL, 0);
}

/* starts the fetch that fills obj (proxy/fill.c runs the origin-request and origin-response hooks) */
static void start_fill(edge_txn_t *txn, cache_obj_t *obj, const fill_cache_t *fc, int as_get)
{
    const char *oreq_label = NULL;
    fill_request_t fr;
    fill_hooks_t hooks = {pick_hook(txn, HOOK_ORIGIN_REQUEST, &oreq_label),
                          pick_hook(txn, HOOK_ORIGIN_RESPONSE, &txn->fetch.ores_label)};

    if (hooks.origin_request != NULL) {
        hooks_log(txn, HOOK_ORIGIN_REQUEST, oreq_label);
        txn->fetch.oreq_log_at = txn->hooks.log_len; /* its fetches go there once the fill has run it (log_origin_hooks) */
    }
    hookcall_limits(txn->gen->conf, &hooks.limits);
    fill_request_of(txn, &fr, as_get);
    fill_start(txn->behavior->origin, &fr, obj, fc, &hooks, &txn->fetch.origin_name);
}

/* the object this request reads (it takes over the reference), its cache status, and whether this request started its fetch */
static void read_object(edge_txn_t *txn, cache_obj_t *obj, edge_cache_status_t status, int leader)
{
    txn->out.obj = obj;
    txn->lookup.cache_status = status;
    txn->fetch.leader = leader;
    cache_reader_attach(obj, &txn->out.reader);
}

static int vary_matches(cache_obj_t *obj, void *ctx)
{
    edge_txn_t *txn = ctx;
    cache_vary_t vary = {(h2o_iovec_t *)cache_obj_vary_names(obj), obj->num_vary, 0};
    h2o_iovec_t vk;
    if (cache_vary_key(&txn->req->pool, &vary, &txn->req->headers, &vk) != 0)
        return 0;
    h2o_iovec_t ovk = cache_obj_vary_key(obj);
    return vk.len == ovk.len && memcmp(vk.base, ovk.base, vk.len) == 0;
}

/* counts what the delivery turned out to be, once, when its head goes out */
static void count_delivery(edge_txn_t *txn)
{
    int metric = cache_statuses[txn->lookup.cache_status].metric;
    if (metric >= 0)
        metrics_count(metric, 1);
}

/* ---- the steps (proxy/reqfsm.h) ------------------------------------------------------------------------------------------- */

static int check_request(edge_txn_t *txn);

static req_step_t step_recv(void *arg)
{
    edge_txn_t *txn = arg;
    h2o_req_t *req = txn->req;
    if (check_request(txn) != 0)
        return REQ_DONE;
    if (req->entity.base != NULL && req->entity.len > txn->gen->conf->limits.max_request_body) {
        send_error(txn, 413, "the request body exceeds limits.max_request_body");
        return REQ_DONE;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("TRACE"))) {
        send_error(txn, 405, "CONNECT and TRACE are not proxied");
        return REQ_DONE;
    }
    if ((txn->behavior = gen_match(txn->gen, req->path_normalized.base, req->path_normalized.len)) == NULL) {
        send_error(txn, 404, "no behavior matches this path");
        return REQ_DONE;
    }
    /* CloudFront-* names are edgehook's: a viewer's never reaches a hook, the cache key or the origin */
    cfheaders_strip(&req->headers);
    if (txn->behavior->origin->s3 != NULL &&
        !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || txn->viewer.head_only)) {
        send_error(txn, 405, "an S3 origin is read-only here: GET and HEAD");
        return REQ_DONE;
    }
    return req->version >= 0x200 ? REQ_DEFER : REQ_VIEWER_REQUEST;
}

static void on_deferred(h2o_timeout_entry_t *entry)
{
    txn_run(H2O_STRUCT_FROM_MEMBER(edge_txn_t, viewer.defer_entry, entry));
}

/* HTTP/2 (D8): a stream reset in the same read is disposed before we go to the origin for it */
static req_step_t step_defer(void *arg)
{
    edge_txn_t *txn = arg;
    txn->viewer.defer_entry.cb = on_deferred;
    h2o_timeout_link(txn->worker->ctx.loop, &txn->worker->ctx.zero_timeout, &txn->viewer.defer_entry);
    return REQ_WAIT_AT(REQ_VIEWER_REQUEST);
}

/* viewer-request: every request, before the cache; it may rewrite the request or answer it */
static req_step_t step_viewer_request(void *arg)
{
    edge_txn_t *txn = arg;
    const char *label;
    hook_fn_t *fn = pick_hook(txn, HOOK_VIEWER_REQUEST, &label);
    if (fn == NULL)
        return REQ_LOOKUP;
    return start_hook(txn, fn, label, viewer_event(txn, HOOK_VIEWER_REQUEST, fn), REQ_VIEWER_REQUEST_DONE);
}

static req_step_t step_viewer_request_done(void *arg)
{
    edge_txn_t *txn = arg;
    hook_status_t st = txn->hooks.call.status;
    hooks_log_fetches(txn, txn->hooks.fetches_logged);
    switch (st) {
    case HOOK_CONTINUE: {
        /* the hook's uri is normalised like a viewer's (one string for cache key and origin); one that is not a path is invalid */
        const char *reason;
        hookcall_apply_request(txn->req, txn->hooks.call.ev);
        if (hookcall_normalize_uri(&txn->req->pool, &txn->req->path, &txn->req->query_at, &reason) != 0) {
            log_error("viewer-request hook: the uri it returned is refused: %s", reason);
            send_error(txn, 502, "the viewer-request hook returned an invalid uri");
            return REQ_DONE;
        }
        return REQ_LOOKUP;
    }
    case HOOK_RESPOND:
        send_generated(txn, &txn->hooks.call.ev->response);
        return REQ_DONE;
    default:
        send_error(txn, txn->hooks.call.http_status,
                   st == HOOK_INVALID ? "the viewer-request hook returned an invalid result" : "the viewer-request hook failed");
        return REQ_DONE;
    }
}

/* cache.ranges forward: the Range value of a GET that may be answered from stored parts or forwarded (one Range field with one
 * valid byte range, no conditionals: those are answered from whole objects), else base NULL */
static h2o_iovec_t forwarded_range(edge_txn_t *txn)
{
    h2o_req_t *req = txn->req;
    uint64_t start, end;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (i == -1 || txn->viewer.head_only || txn->errpage.page != NULL ||
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_find_header(&req->headers, H2O_TOKEN_RANGE, i) != -1 || h2o_find_header(&req->headers, H2O_TOKEN_IF_RANGE, -1) != -1 ||
        h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1) != -1 ||
        h2o_find_header(&req->headers, H2O_TOKEN_IF_MODIFIED_SINCE, -1) != -1 ||
        h2o_find_header(&req->headers, H2O_TOKEN_IF_MATCH, -1) != -1 ||
        h2o_find_header(&req->headers, H2O_TOKEN_IF_UNMODIFIED_SINCE, -1) != -1)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t v = req->headers.entries[i].value;
    if (cache_policy_parse_range(v.base, v.len, UINT64_MAX, &start, &end) != CACHE_RANGE_PARTIAL)
        return h2o_iovec_init(NULL, 0);
    return v;
}

/* the cache: a hit, a stale object (served while revalidating, or revalidated first), a miss, or a pass */
static req_step_t step_lookup(void *arg)
{
    edge_txn_t *txn = arg;
    h2o_req_t *req = txn->req;
    edge_behavior_t *b = txn->behavior;
    cache_mem_lookup_t lk;
    int64_t now;

    if (!txn->viewer.cf_added) {
        /* after viewer-request, before the cache key, as CloudFront adds them (one a viewer-request hook set is replaced) */
        txn->viewer.cf_added = 1;
        cfheaders_add(req, b->conf->cf_headers, txn->gen->geo, handler_client_ip(txn));
    }
    if (!b->cache_enabled || handler_cache == NULL ||
        !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || txn->viewer.head_only))
        return REQ_PASS;
    txn->lookup.cacheable = 1;
    if (txn->lookup.key.base == NULL) {
        cache_key_request_t kr = {b->index, req->authority, req->path, &req->headers};
        txn->lookup.key = cache_key_build_pool(&req->pool, &b->conf->cache, &kr);
        txn->lookup.hash = cache_key_hash(txn->lookup.key.base, txn->lookup.key.len);
        txn->lookup.url = cache_key_url_of(txn->lookup.key);
    }
    cache_mem_lookup(handler_cache, txn->lookup.hash, txn->lookup.key, vary_matches, txn, &lk);
    int busy = lk.busy != NULL;
    if (lk.busy != NULL)
        cache_obj_release(lk.busy); /* cache_mem_begin finds it again, atomically */
    now = server_now_ms();
    uint64_t variant;
    if (lk.found == NULL && !busy && handler_disk != NULL && !txn->lookup.disk_tried &&
        cache_disk_lookup(handler_disk, txn->lookup.key, &req->headers, &req->pool, now, &variant) == CACHE_DISK_FRESH) {
        /* in the disk tier (the variant this request's headers select): a disk thread reads it into an object that requests for
         * the key collapse on (a record that cannot be read makes it fail with CACHE_DISK_RETRY: step_deliver looks up again,
         * and it is a miss; one that collapsed on another variant's read looks up again too) */
        int created;
        cache_obj_t *obj = cache_mem_begin(handler_cache, txn->lookup.hash, txn->lookup.key, txn->lookup.url, &created);
        txn->lookup.disk_tried = 1;
        txn->fetch.origin_name = txn->behavior->origin->name;
        read_object(txn, obj, created ? EDGE_CACHE_HIT : EDGE_CACHE_MISS, 0);
        if (created)
            cache_disk_load(handler_disk, obj, variant);
        else
            metrics_count(METRIC_CACHE_COLLAPSED, 1);
        return REQ_DELIVER;
    }
    h2o_iovec_t range;
    if (lk.found == NULL && !busy && handler_partial != NULL && (range = forwarded_range(txn)).base != NULL) {
        /* cache.ranges forward: from the stored parts when one holds the range, else the Range goes to the origin (its 206 may
         * be stored as a part, its 200 is stored as usual; cache/partial.h) */
        cache_obj_t *part = cache_partial_lookup(handler_partial, txn->lookup.hash, txn->lookup.key, range, now);
        txn->fetch.origin_name = txn->behavior->origin->name;
        if (part != NULL) {
            read_object(txn, part, EDGE_CACHE_HIT, 0);
            return REQ_DELIVER;
        }
        fill_cache_t fc;
        read_object(txn, cache_obj_new(txn->lookup.hash, txn->lookup.key, txn->lookup.url), EDGE_CACHE_MISS, 1);
        fill_cache_of(txn, &fc, NULL, 1);
        fc.partial = handler_partial;
        fc.partial_epoch = cache_partial_epoch(handler_partial);
        fc.range = range;
        start_fill(txn, txn->out.obj, &fc, 1);
        return REQ_DELIVER;
    }
    if (lk.found == NULL)
        return REQ_MISS;
    cache_obj_t *found = lk.found;
    cache_decision_t fd;
    cache_obj_decision(found, &fd);
    if (found->hit_for_pass) {
        int fresh = cache_policy_ttl(&fd, now) > 0;
        if (!fresh)
            cache_mem_remove(handler_cache, found);
        cache_obj_release(found);
        return fresh ? REQ_MISS_UNCOLLAPSED : REQ_MISS;
    }
    cache_use_t use = atomic_load(&found->invalidated) ? CACHE_USE_REVALIDATE : cache_policy_use(&fd, NULL, now);
    txn->lookup.found = found;
    if (use == CACHE_USE_FRESH)
        return REQ_HIT;
    if (use == CACHE_USE_STALE_REVALIDATE && cache_obj_state(found) == CACHE_OBJ_COMPLETE)
        return REQ_STALE_HIT;
    /* validate with the origin first; while that runs, other requests for the key wait for it */
    if (cache_obj_state(found) != CACHE_OBJ_COMPLETE) {
        cache_obj_release(found);
        txn->lookup.found = NULL;
    }
    return REQ_MISS;
}

static req_step_t step_hit(void *arg)
{
    edge_txn_t *txn = arg;
    read_object(txn, txn->lookup.found, EDGE_CACHE_HIT, 0); /* the reference goes with it */
    txn->lookup.found = NULL;
    return REQ_DELIVER;
}

/* stale-while-revalidate: one background fetch refreshes the object while clients get the stale copy */
static req_step_t step_stale_hit(void *arg)
{
    edge_txn_t *txn = arg;
    cache_obj_t *stale = txn->lookup.found;
    /* `revalidating` holds the second of the last background refresh: a refresh that failed is tried again a second later (a
     * flag set for good ended stale-while-revalidate after one failure); one that is still running is found busy by
     * cache_mem_begin and not started twice */
    int last = atomic_load(&stale->revalidating), sec = (int)((server_now_ms() / 1000) & 0x3fffffff) + 1;
    if (last != sec && atomic_compare_exchange_strong(&stale->revalidating, &last, sec)) {
        int created;
        cache_obj_t *obj = cache_mem_begin(handler_cache, txn->lookup.hash, txn->lookup.key, txn->lookup.url, &created);
        if (created) {
            fill_cache_t fc;
            fill_cache_of(txn, &fc, stale, 0);
            log_debug("background revalidation of %.*s", (int)txn->lookup.url.len, txn->lookup.url.base);
            start_fill(txn, obj, &fc, 1);
        }
        cache_obj_release(obj);
    }
    read_object(txn, stale, EDGE_CACHE_STALE_HIT, 0);
    txn->lookup.found = NULL;
    return REQ_DELIVER;
}

/* a miss, or a stale object to revalidate (lookup.found): fetch once per key; concurrent requests wait for that fetch */
static req_step_t step_miss(void *arg)
{
    edge_txn_t *txn = arg;
    int created;
    cache_obj_t *obj = cache_mem_begin(handler_cache, txn->lookup.hash, txn->lookup.key, txn->lookup.url, &created);
    txn->fetch.origin_name = txn->behavior->origin->name;
    read_object(txn, obj, EDGE_CACHE_MISS, created);
    if (created) {
        fill_cache_t fc;
        fill_cache_of(txn, &fc, txn->lookup.found, 0);
        start_fill(txn, obj, &fc, 1);
    } else {
        metrics_count(METRIC_CACHE_COLLAPSED, 1);
    }
    if (txn->lookup.found != NULL) {
        cache_obj_release(txn->lookup.found);
        txn->lookup.found = NULL;
    }
    return REQ_DELIVER;
}

/* a miss that does not wait for others (the key recently gave an uncacheable response); stored if it turns out storable */
static req_step_t step_miss_uncollapsed(void *arg)
{
    edge_txn_t *txn = arg;
    fill_cache_t fc;
    txn->fetch.origin_name = txn->behavior->origin->name;
    read_object(txn, cache_obj_new(txn->lookup.hash, txn->lookup.key, txn->lookup.url), EDGE_CACHE_MISS, 1);
    fill_cache_of(txn, &fc, NULL, 1);
    start_fill(txn, txn->out.obj, &fc, 1);
    return REQ_DELIVER;
}

/* the response is not shared: one fetch for this client, never stored */
static req_step_t step_pass(void *arg)
{
    edge_txn_t *txn = arg;
    txn->fetch.origin_name = txn->behavior->origin->name;
    read_object(txn, cache_obj_new(0, h2o_iovec_init(NULL, 0), h2o_iovec_init(NULL, 0)), EDGE_CACHE_PASS, 1);
    txn->lookup.cacheable = 0;
    start_fill(txn, txn->out.obj, NULL, 0);
    return REQ_DELIVER;
}

/*
 * CloudFront's custom error responses: an error status the behavior has an `error_pages` entry for is answered with that page,
 * fetched through the distribution (the behavior its path matches: its cache, its origin) with the entry's status. Returns 1 when
 * the request goes on with the page (REQ_LOOKUP); 0 for none (no entry, no behavior for the page, or the page's own fetch: a
 * page that fails never leads to another page).
 */
static int error_page_redirect(edge_txn_t *txn, int status)
{
    h2o_req_t *req = txn->req;
    const conf_error_page_t *p;
    edge_behavior_t *b;
    if (txn->errpage.page != NULL || (p = conf_error_page_find(&txn->behavior->conf->error_pages, status)) == NULL)
        return 0;
    if ((b = gen_match(txn->gen, p->path, strlen(p->path))) == NULL) {
        log_warn("error page %s for %d: no behavior matches its path; the plain error is sent", p->path, status);
        return 0;
    }
    txn->errpage.page = p;
    txn->errpage.orig_status = status;
    if (txn->out.obj != NULL) {
        cache_reader_detach(txn->out.obj, &txn->out.reader);
        cache_obj_release(txn->out.obj);
        txn->out.obj = NULL;
    }
    txn->fetch.leader = 0;
    txn->behavior = b;
    txn->lookup.key = h2o_iovec_init(NULL, 0);
    txn->lookup.cacheable = 0;
    req->path = req->path_normalized = h2o_strdup(&req->pool, p->path, SIZE_MAX);
    req->query_at = SIZE_MAX;
    if (!txn->viewer.head_only)
        req->method = h2o_iovec_init(H2O_STRLIT("GET"));
    req->entity = h2o_iovec_init(NULL, 0);
    return 1;
}

/* the error page could not be served (its own status is not 2xx, or its fetch failed): the plain error it was to replace */
static void send_error_page_fallback(edge_txn_t *txn, int page_status)
{
    log_warn("error page %s for %d answered %d: the plain error is sent", txn->errpage.page->path, txn->errpage.orig_status,
             page_status);
    send_error(txn, txn->errpage.orig_status, "the origin answered with an error");
}

/* the object's head is there (or the fill failed): what this request does with it */
static req_step_t step_deliver(void *arg)
{
    edge_txn_t *txn = arg;
    cache_obj_t *obj = txn->out.obj;
    switch (cache_obj_state(obj)) {
    case CACHE_OBJ_BUSY:
        cache_obj_wait(obj, &txn->out.waiter, CACHE_OBJ_BUSY, 0);
        return REQ_WAIT_AT(REQ_DELIVER);
    case CACHE_OBJ_FAILED: {
        cache_obj_t *fb = cache_obj_fallback(obj);
        if (fb == NULL && (cache_obj_fail_status(obj) == CACHE_DISK_RETRY || (obj->from_disk && cache_obj_fail_status(obj) == 0)))
            return REQ_RESTART; /* a disk record that could not be read (its head, or a damaged block of a body streamed to
                                   readers ahead of this one, before this one's head went out): look up again, without the disk */
        if (fb == NULL) {
            int st = cache_obj_fail_status(obj) != 0 ? cache_obj_fail_status(obj) : 502;
            if (txn->errpage.page != NULL) {
                send_error_page_fallback(txn, st);
                return REQ_DONE;
            }
            if (error_page_redirect(txn, st))
                return REQ_LOOKUP;
            send_error(txn, st, cache_obj_fail_reason(obj));
            return REQ_DONE;
        }
        /* stale-if-error: the stored response instead of the origin's failure */
        cache_obj_addref(fb);
        cache_reader_detach(obj, &txn->out.reader);
        cache_obj_release(obj);
        txn->out.obj = fb;
        cache_reader_attach(fb, &txn->out.reader);
        txn->lookup.cache_status = EDGE_CACHE_STALE_IF_ERROR;
        count_delivery(txn);
        return REQ_HEAD;
    }
    case CACHE_OBJ_PASS:
        if (!txn->fetch.leader)
            return REQ_RESTART;
        break;
    default:
        if (!txn->fetch.leader && obj->num_vary != 0 && !vary_matches(obj, txn))
            return REQ_RESTART;
        break;
    }
    if (obj->refreshed && txn->lookup.cache_status == EDGE_CACHE_MISS)
        txn->lookup.cache_status = EDGE_CACHE_REFRESH_HIT;
    count_delivery(txn);
    return REQ_HEAD;
}

/* the object we waited for cannot serve us (not shareable, or another variant): look up again */
static req_step_t step_restart(void *arg)
{
    edge_txn_t *txn = arg;
    cache_reader_detach(txn->out.obj, &txn->out.reader);
    cache_obj_release(txn->out.obj);
    txn->out.obj = NULL;
    txn->fetch.leader = 0;
    if (++txn->lookup.restarts > MAX_RESTARTS) {
        send_error(txn, 503, "could not get a shareable response for this request");
        return REQ_DONE;
    }
    return REQ_LOOKUP;
}

/* the response head from the object */
static req_step_t step_head(void *arg)
{
    edge_txn_t *txn = arg;
    h2o_req_t *req = txn->req;
    cache_obj_t *obj = txn->out.obj;
    int from_cache = txn->lookup.cacheable && (!obj->transient || obj->from_disk);
    int status = obj->status;
    size_t i, w, num_plain;
    cache_validators_t v;
    cache_head_view_t head;
    h2o_headers_t stored;
    uint64_t length = obj->content_length >= 0 ? (uint64_t)obj->content_length : UINT64_MAX, start = 0, end = UINT64_MAX;
    int not_modified = 0, range = 0;

    if (txn->errpage.page != NULL && (status < 200 || status > 299)) {
        send_error_page_fallback(txn, status);
        return REQ_DONE;
    }
    if (txn->errpage.page == NULL && status >= 400 && error_page_redirect(txn, status))
        return REQ_LOOKUP;
    txn->out.pos = 0;
    txn->out.end = length;
    /* the stored head, decoded straight into the response's headers (filtered below) */
    cache_obj_open_head(obj, &head);
    h2o_vector_reserve(&req->pool, &req->res.headers, head.num_headers + 6);
    cache_head_decode(&head, &req->pool, req->res.headers.entries);
    num_plain = head.num_plain;
    stored = (h2o_headers_t){req->res.headers.entries, head.num_headers, head.num_headers};
    if (from_cache && status == 200 && txn->errpage.page == NULL) {
        /* the client's own conditionals and Range are answered from the object (RFC 9110 sections 13, 14) */
        cache_policy_validators(&stored, &v);
        if (v.date_ms == CACHE_ABSENT) { /* RFC 9111 §4.3.2: then the time it was received stands for its Date */
            cache_decision_t d;
            cache_obj_decision(obj, &d);
            v.date_ms = d.response_time_ms;
        }
        switch (cache_policy_conditional(req->method, &req->headers, status, &v)) {
        case CACHE_COND_NOT_MODIFIED:
            not_modified = 1;
            status = 304;
            break;
        case CACHE_COND_PRECONDITION_FAILED:
            send_error(txn, 412, "a precondition of the request failed");
            return REQ_DONE;
        default:
            if (length != UINT64_MAX && (!obj->transient || obj->disk_mapped)) {
                switch (cache_policy_range(req->method, &req->headers, status, length, &v, &start, &end)) {
                case CACHE_RANGE_PARTIAL:
                    range = 1;
                    status = 206;
                    break;
                case CACHE_RANGE_UNSATISFIABLE: {
                    char *cr = h2o_mem_alloc_pool(&req->pool, 48);
                    send_error_with(txn, 416, "the range is not satisfiable", H2O_TOKEN_CONTENT_RANGE,
                                    h2o_iovec_init(cr, sprintf(cr, "bytes */%" PRIu64, length)), 0);
                    return REQ_DONE;
                }
                default:
                    break;
                }
            }
            break;
        }
    }

    req->res.status = status;
    req->res.reason = status == 304 ? "Not Modified" : status == 206 ? "Partial Content" : head.reason_len != 0 ? head.reason : "OK";
    /* the fill put the headers that go out as they are first: they stay where they were decoded, no look at each; the others
     * are filtered in place */
    h2o_header_t *e = req->res.headers.entries;
    for (w = i = not_modified ? 0 : num_plain; i != head.num_headers; ++i) {
        if (skip_stored_header(e[i].name, from_cache))
            continue;
        if (not_modified && is_representation_header(e[i].name))
            continue;
        e[w++] = e[i];
    }
    req->res.headers.size = w;
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
        txn->out.pos = start;
        txn->out.sent_to = start;
        txn->out.end = end + 1;
        if (obj->transient) /* streamed from disk: the bytes before the range are not waited for, and are freed as they come */
            cache_reader_ack(obj, &txn->out.reader, start);
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VIA, NULL, H2O_STRLIT("1.1 edgehook"));
    add_x_cache(txn);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, txn->viewer.request_id.base,
                          txn->viewer.request_id.len);
    log_origin_hooks(txn);
    if (txn->errpage.page != NULL) {
        /* the page goes out with the entry's status (CloudFront's ResponseCode) */
        status = txn->errpage.page->status;
        req->res.status = status;
        req->res.reason = edge_http_reason(status);
    }
    txn->out.resp_status = status;
    txn->out.not_modified = not_modified;
    return REQ_VIEWER_RESPONSE;
}

/* viewer-response: on hits and misses; not when the origin's status is an error (Lambda@Edge) */
static req_step_t step_viewer_response(void *arg)
{
    edge_txn_t *txn = arg;
    h2o_req_t *req = txn->req;
    const char *label;
    hook_fn_t *fn = txn->out.obj->status < 400 ? pick_hook(txn, HOOK_VIEWER_RESPONSE, &label) : NULL;
    if (fn == NULL)
        return REQ_SEND;
    /* the event: the response as it would go out */
    hook_event_t *ev = viewer_event(txn, HOOK_VIEWER_RESPONSE, fn);
    ev->response.status = txn->out.resp_status;
    ev->response.status_description = h2o_iovec_init(req->res.reason, strlen(req->res.reason));
    hookcall_from_h2o_headers(&req->pool, req->res.headers.entries, req->res.headers.size, &ev->response.headers);
    return start_hook(txn, fn, label, ev, REQ_VIEWER_RESPONSE_DONE);
}

static req_step_t step_viewer_response_done(void *arg)
{
    edge_txn_t *txn = arg;
    hook_status_t st = txn->hooks.call.status;
    hooks_log_fetches(txn, txn->hooks.fetches_logged);
    if (st != HOOK_CONTINUE) {
        /* a response event cannot answer: a result that tries is invalid */
        int status = st == HOOK_RESPOND ? 502 : txn->hooks.call.http_status;
        send_error(txn, status,
                   status == 502 ? "the viewer-response hook returned an invalid result" : "the viewer-response hook failed");
        return REQ_DONE;
    }
    hookcall_apply_response_headers(&txn->req->pool, &txn->hooks.call.ev->response.headers, &txn->req->res.headers);
    return REQ_SEND;
}

/* the head as decided (and as the viewer-response hook left it) goes out, then the body as the object fills and the client
 * takes it (h2o's proceed, the object's waiter) */
static req_step_t step_send(void *arg)
{
    edge_txn_t *txn = arg;
    h2o_req_t *req = txn->req;
    int status = txn->out.resp_status, not_modified = txn->out.not_modified;
    txn->out.status = status;
    if (not_modified)
        txn->out.end = 0;
    else if (txn->out.end != UINT64_MAX && status != 204 && status != 304) /* RFC 9110 §8.6: no Content-Length on a 204, and a
                                                                            * 304 of 0 would claim an empty representation */
        req->res.content_length = (size_t)(txn->out.end - txn->out.pos);
    txn->out.head_sent = 1;
    txn->out.generator.proceed = on_generator_proceed;
    txn->out.generator.stop = on_generator_stop;
    h2o_start_response(req, &txn->out.generator);
    if (txn->viewer.head_only || not_modified || status == 204 || txn->out.obj->status == 304 || txn->out.end == txn->out.pos) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return REQ_DONE;
    }
    if (req->version >= 0x200 && (txn->out.end == UINT64_MAX || txn->out.end - txn->out.pos > H2_OUTPUT_BACKLOG_MAX) &&
        req->conn->callbacks->get_socket != NULL && (txn->flow.h2_sock = req->conn->callbacks->get_socket(req->conn)) != NULL) {
        txn->flow.h2_written_base = txn->flow.h2_sock->bytes_written;
        txn->flow.h2_pos_base = txn->out.pos;
    }
    watch_add(txn);
    send_body(txn);
    return REQ_DONE;
}

static const req_step_fn steps[REQ_NUM_STEPS] = {
    [REQ_RECV] = step_recv,
    [REQ_DEFER] = step_defer,
    [REQ_VIEWER_REQUEST] = step_viewer_request,
    [REQ_VIEWER_REQUEST_DONE] = step_viewer_request_done,
    [REQ_LOOKUP] = step_lookup,
    [REQ_HIT] = step_hit,
    [REQ_STALE_HIT] = step_stale_hit,
    [REQ_MISS] = step_miss,
    [REQ_MISS_UNCOLLAPSED] = step_miss_uncollapsed,
    [REQ_PASS] = step_pass,
    [REQ_DELIVER] = step_deliver,
    [REQ_RESTART] = step_restart,
    [REQ_HEAD] = step_head,
    [REQ_VIEWER_RESPONSE] = step_viewer_response,
    [REQ_VIEWER_RESPONSE_DONE] = step_viewer_response_done,
    [REQ_SEND] = step_send,
};

static void txn_run(edge_txn_t *txn)
{
    reqfsm_run(steps, &txn->step, txn);
}

/* the object changed: a request waiting for its head goes on; one sending its body sends more */
static void on_txn_wake(cache_waiter_t *w)
{
    edge_txn_t *txn = H2O_STRUCT_FROM_MEMBER(edge_txn_t, out.waiter, w);
    if (txn->out.head_sent)
        send_body(txn);
    else
        txn_run(txn);
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
    if (txn->viewer.client_ip.base == NULL)
        txn->viewer.client_ip = lookup_client_ip(txn->req);
    return txn->viewer.client_ip;
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
    /* the store listener's own HTTP/1.1 connections (store/http1.c) checked the head before the request existed */
    if (req->version < 0x200 && req->conn->callbacks->get_socket != NULL && !handler_conn_checked(req->conn)) {
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
    if (parents_request_loops(&req->headers)) {
        /* this node sent the request on already (tiered caching whose parents lead back here): going on would loop until the
         * header limits stop it, so it ends here, visibly (the node that sent it passes the 508 on and logs it) */
        parents_count_loop();
        log_warn("refused a request whose Via already names this node (a loop of parents): %.*s", (int)req->path.len, req->path.base);
        send_error(txn, 508, "loop detected: the request's Via already names this node (check the parents: of the origins)");
        return -1;
    }
    return 0;
}

/* the random part of request ids: splitmix64, seeded per thread from OpenSSL's generator (ids need not be secret, only unique
 * and of CloudFront's shape) */
static uint64_t next_random(void)
{
    static __thread uint64_t state;
    static __thread int seeded;
    if (!seeded) {
        if (RAND_bytes((unsigned char *)&state, sizeof(state)) != 1)
            state = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32);
        seeded = 1;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * A request id shaped like CloudFront's (X-Amz-Cf-Id, config.requestId): 40 bytes in base64url with its padding, 56 characters.
 * Unique per process start: the bytes are a start tag (3), the worker (1), the worker's request counter (8, big-endian), then
 * 28 random bytes.
 */
static void make_request_id(char *out, unsigned worker, uint64_t seq)
{
    uint8_t b[40];
    b[0] = (uint8_t)(process_tag >> 16);
    b[1] = (uint8_t)(process_tag >> 8);
    b[2] = (uint8_t)process_tag;
    b[3] = (uint8_t)worker;
    for (int i = 0; i != 8; ++i)
        b[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
    for (int i = 12; i < 40; i += 8) {
        uint64_t r = next_random();
        memcpy(b + i, &r, 40 - i < 8 ? (size_t)(40 - i) : 8);
    }
    size_t n = edge_base64_encode(out, b, sizeof(b));
    for (size_t i = 0; i != n; ++i)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
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
    txn->viewer.started_us = now_us();
    txn->gen = server_gen_acquire(w);
    rid = h2o_mem_alloc_pool(&req->pool, HANDLER_REQUEST_ID_LEN + 1);
    make_request_id(rid, w->id, ++w->next_request_seq);
    txn->viewer.request_id = h2o_iovec_init(rid, HANDLER_REQUEST_ID_LEN);
    cache_waiter_init(&txn->out.waiter, on_txn_wake);
    atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
    txn->viewer.head_only = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));

    txn->step = REQ_RECV;
    txn_run(txn);
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
        if (handler_partial != NULL)
            cache_partial_purge(handler_partial, CACHE_PURGE_URL, url);
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
    if (txn->out.head_sent || txn->req->res.status != 0)
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
    h2o_timeout_unlink(&txn->viewer.defer_entry);
    h2o_timeout_unlink(&txn->flow.pace_entry);
    watch_remove(txn);
    cache_waiter_cancel(&txn->out.waiter);
    hookcall_cancel(&txn->hooks.call);
    if (txn->lookup.found != NULL) {
        cache_obj_release(txn->lookup.found);
        txn->lookup.found = NULL;
    }
    dur = now_us() - txn->viewer.started_us;
    log_origin_hooks(txn);
    e.req = req;
    e.status = req->res.status != 0 ? req->res.status : txn->out.status;
    e.bytes = req->bytes_sent;
    e.duration_us = dur;
    e.request_id = txn->viewer.request_id;
    e.cache_status = handler_cache_status_name(txn->lookup.cache_status);
    e.hooks = h2o_iovec_init(txn->hooks.log, txn->hooks.log_len);
    e.origin = txn->fetch.origin_name;
    if (accesslog_enabled() && !unanswered_suppressed(txn))
        accesslog_write(&e);
    metrics_request(e.status, dur, req->bytes_sent);
    invalidate_after_unsafe(txn);
    if (txn->out.obj != NULL) {
        cache_reader_detach(txn->out.obj, &txn->out.reader);
        cache_obj_release(txn->out.obj);
        txn->out.obj = NULL;
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
