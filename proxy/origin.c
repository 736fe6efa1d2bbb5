/* proxy/origin.c - the HTTP/1.1 origin client: per-thread keep-alive pools, timeouts, retries, strict framing, backpressure. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "proxy/headers.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/series.h"
#include "proxy/origin.h"
#include "proxy/originhead.h"
#include "proxy/parents.h"
#include "proxy/s3origin.h"
#include "proxy/server.h"

#define MAX_INFORMATIONAL 32 /* 1xx responses dropped before the final one; more is an error */
#define ADDR_CACHE_MS 30000
#define ORIGIN_RECEIVE_WINDOW_CLAMP (4 * 1024 * 1024)
/* the receive buffer of a connection whose response paused once for a slow client (see origin_req_pause) */
#define ORIGIN_PAUSED_RECEIVE_BUFFER (512 * 1024)
/* the most body handed to the consumer at once: it may pause in between, and the rest waits in the socket's buffer, so a large
 * read (h2o reads all the kernel has) does not land in a paused fill's window whole */
#define ORIGIN_DELIVER_MAX (256 * 1024)

typedef struct origin_conn {
    h2o_socket_t *sock;
    origin_t *o; /* a connection holds a reference: the origin lives until its last pooled connection closes */
    struct origin_thread *ot;
    struct origin_req_impl *req; /* the request using it, or NULL while idle */
    int rcvbuf_locked;           /* its receive buffer was made small for a slow client: never pooled again */
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t idle_entry;
    unsigned served;
} origin_conn_t;

typedef struct origin_thread {
    int inited;
    server_worker_t *worker;
    h2o_linklist_t idle;    /* origin_conn_t, most recently used first */
    h2o_linklist_t waiting; /* origin_req_impl waiting for a connection slot */
    unsigned num_conns;
    h2o_timeout_t *t_connect, *t_first_byte, *t_read, *t_keepalive;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t resolved_at;
} origin_thread_t;

enum { ST_WAIT_SLOT, ST_RESOLVING, ST_CONNECTING, ST_SENDING, ST_HEAD, ST_BODY, ST_DONE };

typedef struct origin_req_impl {
    origin_req_t super;
    origin_t *o;
    origin_thread_t *ot;
    const origin_req_callbacks_t *cb;
    int state;
    origin_conn_t *conn;
    h2o_linklist_t wait_link;
    h2o_timeout_entry_t timer;
    h2o_timeout_entry_t resume_entry; /* deferred processing after resume */
    h2o_hostinfo_getaddr_req_t *getaddr;
    /* the request */
    h2o_iovec_t head; /* malloc'ed request head */
    h2o_iovec_t body;
    int idempotent, is_head;
    unsigned attempts;
    /* the response */
    h2o_mem_pool_t pool;
    origin_framing_t framing;
    uint64_t remaining;
    origin_chunked_t chunked;
    int keepalive;
    const char *read_err; /* the first EOF or read error of the connection */
    size_t head_scanned;  /* bytes of the incomplete head already parsed (the parser runs again only when a line may have ended) */
    unsigned informational; /* 1xx responses dropped */
    int paused, in_cb, cancelled;
    unsigned holds;  /* loop callbacks of ours running with the request (req_hold): freed when the last lets go */
    size_t bytes_in; /* response bytes received on this attempt */
    const char *deferred_error;
    uint64_t started_ns; /* edge_mono_ns() when the request was made (ORIGIN_STAT_HEAD_US) */
} origin_req_impl_t;

static void on_conn_read(h2o_socket_t *sock, const char *err);
static void start_attempt(origin_req_impl_t *r);
static void process_input(origin_req_impl_t *r);

/* ---- origins -------------------------------------------------------------------------------------------------------------- */

/* the oldest protocol version of a set of HOOK_SSL_* bits (SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3), TLS 1.2 when none */
static int min_proto_version(unsigned ssl_protocols)
{
    static const int versions[] = {SSL3_VERSION, TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    for (unsigned i = 0; i != sizeof(versions) / sizeof(versions[0]); ++i)
        if ((ssl_protocols & (1u << i)) != 0)
            return versions[i];
    return TLS1_2_VERSION;
}

static SSL_CTX *make_client_ssl_ctx(const char *sni, const char *ca_file, int verify, unsigned ssl_protocols, char *err,
                                    size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_proto_version(ssl_protocols));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (verify) {
        int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            snprintf(err, errlen, "cannot load CA certificates from %s", ca_file != NULL ? ca_file : "the system store");
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        /* D3: h2o 2.2.5 skips its hostname check with TLS 1.3, so OpenSSL checks the name during the handshake */
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
        struct in6_addr a6;
        struct in_addr a4;
        if (inet_pton(AF_INET, sni, &a4) == 1 || inet_pton(AF_INET6, sni, &a6) == 1)
            X509_VERIFY_PARAM_set1_ip_asc(param, sni);
        else
            X509_VERIFY_PARAM_set1_host(param, sni, 0);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static origin_t *origin_alloc(unsigned num_threads)
{
    static _Atomic uint64_t serials;
    origin_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        h2o_fatal("no memory");
    atomic_init(&o->refcnt, 1);
    o->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
    o->num_threads = num_threads;
    o->threads = calloc(num_threads, sizeof(origin_thread_t));
    if (o->threads == NULL)
        h2o_fatal("no memory");
    return o;
}

static int finish_origin(origin_t *o, const char *host_header, const char *sni, const char *ca_file, int verify, char *err,
                         size_t errlen)
{
    char buf[512];
    if (host_header != NULL) {
        o->host_header = h2o_strdup(NULL, host_header, SIZE_MAX);
    } else {
        int default_port = o->https ? 443 : 80;
        int v6 = strchr(o->host, ':') != NULL;
        if (o->port == default_port)
            snprintf(buf, sizeof(buf), v6 ? "[%s]" : "%s", o->host);
        else
            snprintf(buf, sizeof(buf), v6 ? "[%s]:%u" : "%s:%u", o->host, o->port);
        o->host_header = h2o_strdup(NULL, buf, SIZE_MAX);
    }
    o->sni = strdup(sni != NULL ? sni : o->host);
    o->ca_file = ca_file != NULL ? strdup(ca_file) : NULL;
    o->tls_verify = verify;
    o->per_thread_max = o->max_connections / o->num_threads;
    if (o->per_thread_max == 0)
        o->per_thread_max = 1;
    if (o->https && (o->ssl_ctx = make_client_ssl_ctx(o->sni, ca_file, verify, o->ssl_protocols, err, errlen)) == NULL)
        return -1;
    return 0;
}

origin_t *origin_new(const conf_origin_t *c, unsigned num_threads, char *err, size_t errlen)
{
    origin_spec_t spec = {
        .https = c->https,
        .host = c->host != NULL ? c->host : "127.0.0.1",
        .port = c->port,
        .path_prefix = c->path_prefix,
        .host_header = c->host_header,
        .sni = c->sni,
        .ca_file = c->ca_file,
        .tls_verify = c->tls_verify,
        .connect_timeout_ms = c->connect_timeout_ms,
        .first_byte_timeout_ms = c->first_byte_timeout_ms,
        .read_timeout_ms = c->read_timeout_ms,
        .keepalive_timeout_ms = c->keepalive_timeout_ms,
        .max_connections = c->max_connections,
        .retries = c->retries,
    };
    origin_t *o = origin_new_spec(c->name, &spec, num_threads, err, errlen);
    if (o != NULL)
        o->pass_amz_headers = c->pass_amz_headers;
    if (o != NULL && c->num_parents != 0 && (o->parents = parents_new(c, num_threads, err, errlen)) == NULL) {
        origin_release(o);
        return NULL;
    }
    return o;
}

void origin_spec_init(origin_spec_t *spec, unsigned num_threads)
{
    memset(spec, 0, sizeof(*spec));
    spec->https = 1;
    spec->host = "";
    spec->port = 443;
    spec->path_prefix = "";
    spec->tls_verify = 1;
    spec->connect_timeout_ms = 5000;
    spec->read_timeout_ms = spec->first_byte_timeout_ms = 30000;
    spec->keepalive_timeout_ms = 4000;
    spec->max_connections = 64 * num_threads;
    spec->retries = 1;
}

void origin_spec_of(const origin_t *o, origin_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->https = o->https;
    spec->host = o->host;
    spec->port = o->port;
    spec->path_prefix = o->path_prefix.base;
    spec->host_header = o->host_header.base;
    spec->sni = o->sni;
    spec->ca_file = o->ca_file;
    spec->tls_verify = o->tls_verify;
    spec->ssl_protocols = o->ssl_protocols;
    spec->connect_timeout_ms = o->connect_timeout_ms;
    spec->first_byte_timeout_ms = o->first_byte_timeout_ms;
    spec->read_timeout_ms = o->read_timeout_ms;
    spec->keepalive_timeout_ms = o->keepalive_timeout_ms;
    spec->max_connections = o->max_connections;
    spec->retries = o->retries;
}

origin_t *origin_new_spec(const char *name, const origin_spec_t *spec, unsigned num_threads, char *err, size_t errlen)
{
    origin_t *o = origin_alloc(num_threads);
    o->name = strdup(name);
    o->stats = edge_series_get("origin", name, ORIGIN_STAT_NUM);
    o->https = spec->https;
    o->host = strdup(spec->host);
    o->port = spec->port;
    o->path_prefix = h2o_strdup(NULL, spec->path_prefix != NULL ? spec->path_prefix : "", SIZE_MAX);
    o->connect_timeout_ms = spec->connect_timeout_ms;
    o->first_byte_timeout_ms = spec->first_byte_timeout_ms;
    o->read_timeout_ms = spec->read_timeout_ms;
    o->keepalive_timeout_ms = spec->keepalive_timeout_ms;
    o->max_connections = spec->max_connections;
    o->retries = spec->retries;
    o->ssl_protocols = spec->ssl_protocols;
    if (finish_origin(o, spec->host_header, spec->sni, spec->ca_file, spec->tls_verify, err, errlen) != 0) {
        origin_release(o);
        return NULL;
    }
    return o;
}

origin_t *origin_new_dynamic(const char *name, int https, const char *host, uint16_t port, const char *path_prefix,
                             uint64_t read_timeout_ms, uint64_t keepalive_timeout_ms, unsigned num_threads, char *err,
                             size_t errlen)
{
    origin_spec_t spec;
    origin_spec_init(&spec, num_threads);
    spec.https = https;
    spec.host = host;
    spec.port = port;
    spec.path_prefix = path_prefix;
    if (read_timeout_ms != 0)
        spec.read_timeout_ms = spec.first_byte_timeout_ms = read_timeout_ms;
    if (keepalive_timeout_ms != 0)
        spec.keepalive_timeout_ms = keepalive_timeout_ms;
    return origin_new_spec(name, &spec, num_threads, err, errlen);
}

void origin_addref(origin_t *o)
{
    atomic_fetch_add(&o->refcnt, 1);
}

void origin_release(origin_t *o)
{
    if (atomic_fetch_sub(&o->refcnt, 1) != 1)
        return;
    /* pooled connections hold a reference through their thread state only while the loop runs; origins are released at exit or
     * after a reload once their threads have dropped their idle connections */
    s3origin_detach(o);
    parents_free(o->parents);
    edge_series_release(o->stats);
    free(o->name);
    free(o->host);
    free(o->host_header.base);
    free(o->sni);
    free(o->ca_file);
    free(o->path_prefix.base);
    if (o->ssl_ctx != NULL)
        SSL_CTX_free(o->ssl_ctx);
    free(o->threads);
    free(o);
}

static origin_thread_t *get_thread(origin_t *o)
{
    server_worker_t *w = server_worker_current();
    origin_thread_t *ot = &o->threads[w->id];
    if (!ot->inited) {
        ot->inited = 1;
        ot->worker = w;
        h2o_linklist_init_anchor(&ot->idle);
        h2o_linklist_init_anchor(&ot->waiting);
        ot->t_connect = server_timeout(w, o->connect_timeout_ms);
        ot->t_first_byte = server_timeout(w, o->first_byte_timeout_ms);
        ot->t_read = server_timeout(w, o->read_timeout_ms);
        ot->t_keepalive = server_timeout(w, o->keepalive_timeout_ms);
    }
    return ot;
}

/* ---- connections ---------------------------------------------------------------------------------------------------------- */

static void conn_close(origin_conn_t *c)
{
    origin_thread_t *ot = c->ot;
    origin_t *o = c->o;
    if (h2o_linklist_is_linked(&c->idle_link))
        h2o_linklist_unlink(&c->idle_link);
    h2o_timeout_unlink(&c->idle_entry);
    if (c->sock != NULL) {
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    --ot->num_conns;
    free(c);
    /* a slot opened: start the first waiting request */
    if (!h2o_linklist_is_empty(&ot->waiting)) {
        origin_req_impl_t *r = H2O_STRUCT_FROM_MEMBER(origin_req_impl_t, wait_link, ot->waiting.next);
        h2o_linklist_unlink(&r->wait_link);
        start_attempt(r);
    }
    origin_release(o);
}

static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    /* an idle connection that becomes readable was closed by the origin, or the origin sent bytes nobody asked for (a response
     * it should not have sent, the body of a response that announced none): never read them as the next response, drop it.
     * Level-triggered polling brings us here for bytes that were already queued when the connection was parked, too. */
    origin_conn_t *c = sock->data;
    if (err == NULL && sock->input->size != 0)
        log_warn("origin %s (%s:%u): %zu bytes arrived on an idle connection: closed", c->o->name, c->o->host, c->o->port,
                 sock->input->size);
    conn_close(c);
}

/* an idle connection may carry a request only if nothing arrived on it since its last response ended: no byte buffered, none
 * queued in the kernel (the poller may not have reported them yet: the connection can be reused in the same loop iteration in
 * which it was parked or in which the bytes arrived), and no EOF */
static int conn_is_quiet(origin_conn_t *c)
{
    char b;
    ssize_t n;
    if (c->sock->input->size != 0)
        return 0;
    while ((n = recv(h2o_socket_get_fd(c->sock), &b, 1, MSG_PEEK | MSG_DONTWAIT)) == -1 && errno == EINTR)
        ;
    if (n > 0)
        log_warn("origin %s (%s:%u): bytes arrived on an idle connection: closed", c->o->name, c->o->host, c->o->port);
    return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    origin_conn_t *c = H2O_STRUCT_FROM_MEMBER(origin_conn_t, idle_entry, entry);
    conn_close(c);
}

static void conn_release_to_pool(origin_conn_t *c)
{
    origin_thread_t *ot = c->ot;
    c->req = NULL;
    ++c->served;
    if (server_worker_current()->stopping) {
        conn_close(c);
        return;
    }
    /* a waiting request takes it at once */
    if (!h2o_linklist_is_empty(&ot->waiting)) {
        origin_req_impl_t *r = H2O_STRUCT_FROM_MEMBER(origin_req_impl_t, wait_link, ot->waiting.next);
        h2o_linklist_unlink(&r->wait_link);
        h2o_linklist_insert(ot->idle.next, &c->idle_link);
        start_attempt(r);
        return;
    }
    h2o_linklist_insert(ot->idle.next, &c->idle_link); /* LIFO: the warmest connection is reused first */
    c->idle_entry.cb = on_idle_timeout;
    h2o_timeout_link(ot->worker->ctx.loop, ot->t_keepalive, &c->idle_entry);
    h2o_socket_read_start(c->sock, on_idle_read);
}

/* ---- request lifecycle ---------------------------------------------------------------------------------------------------- */

static void set_timer(origin_req_impl_t *r, h2o_timeout_t *t)
{
    h2o_timeout_unlink(&r->timer);
    if (t != NULL)
        h2o_timeout_link(r->ot->worker->ctx.loop, t, &r->timer);
}

/* requests are recycled per thread rather than freed: a request's block freed after every miss is where malloc carves the
 * next cached object from (best fit), and the 112-byte remainders, too small for anything, stayed in the heap, one per cached
 * object (bench/: bytes per object) */
static __thread h2o_mem_recycle_t req_recycle = {64, 0, NULL};

static void req_destroy(origin_req_impl_t *r)
{
    h2o_mem_clear_pool(&r->pool);
    free(r->head.base);
    origin_release(r->o);
    h2o_mem_free_recycle(&req_recycle, r);
}

/* ends the request (it no longer owns a connection): nothing of it runs again; its memory goes at once, or when the outermost
 * loop callback holding it returns (req_unhold) */
static void req_free(origin_req_impl_t *r)
{
    r->state = ST_DONE;
    h2o_timeout_unlink(&r->timer);
    h2o_timeout_unlink(&r->resume_entry);
    if (h2o_linklist_is_linked(&r->wait_link))
        h2o_linklist_unlink(&r->wait_link);
    if (r->getaddr != NULL) {
        h2o_hostinfo_getaddr_cancel(r->getaddr);
        r->getaddr = NULL;
    }
    if (r->holds == 0)
        req_destroy(r);
}

/* A loop callback that calls the consumer (on_head, on_body, on_done: the fill may finish, cancel, pause or resume the request
 * from there) and looks at the request afterwards holds it for its whole run: the request may end below it, but its memory stays
 * until the hold is let go; after each call into the consumer the callback checks r->state != ST_DONE before going on (and never
 * touches the connection of a request that ended: it went back to the pool or was closed). */
static void req_hold(origin_req_impl_t *r)
{
    ++r->holds;
}

static void req_unhold(origin_req_impl_t *r)
{
    assert(r->holds != 0);
    if (--r->holds == 0 && r->state == ST_DONE)
        req_destroy(r);
}

/* ends the request: calls on_done unless cancelled, then frees it; the connection goes back to the pool or is closed */
static void finish(origin_req_impl_t *r, int status, const char *err)
{
    origin_conn_t *c = r->conn;
    r->conn = NULL;
    r->state = ST_DONE;
    h2o_timeout_unlink(&r->timer);
    if (c != NULL) {
        /* bytes after the end of the response: the origin sent more than the framing says, so nothing after it on this
         * connection can be trusted (it could be read as the next request's response); a response that came before the request
         * was fully written (an early 413) leaves a write in flight: no reuse either */
        if (err == NULL && r->keepalive && c->sock->input->size != 0)
            log_warn("origin %s (%s:%u): %zu bytes after the end of a response: connection closed", r->o->name, r->o->host,
                     r->o->port, c->sock->input->size);
        if (err == NULL && r->keepalive && c->sock->input->size == 0 && !h2o_socket_is_writing(c->sock)) {
            h2o_socket_read_stop(c->sock);
            conn_release_to_pool(c);
        } else {
            conn_close(c);
        }
    }
    if (err != NULL)
        atomic_fetch_add_explicit(&r->o->stats[ORIGIN_STAT_FAILURES], 1, memory_order_relaxed);
    if (!r->cancelled) {
        r->in_cb = 1;
        r->cb->on_done(&r->super, status, err);
    }
    req_free(r);
}

/* a failure on a pooled connection before any response byte: the origin closed it while we sent; try once more on a new one */
static int maybe_retry(origin_req_impl_t *r)
{
    origin_conn_t *c = r->conn;
    if (c == NULL || c->served == 0 || r->bytes_in != 0 || !r->idempotent || r->attempts > r->o->retries)
        return 0;
    log_debug("origin %s: pooled connection was closed, retrying %.*s", r->o->name, (int)r->head.len < 80 ? (int)r->head.len : 80,
              r->head.base);
    r->conn = NULL;
    h2o_socket_read_stop(c->sock);
    conn_close(c);
    r->state = ST_WAIT_SLOT;
    /* do not reuse another pooled connection of the same age: they are likely closed as well */
    while (!h2o_linklist_is_empty(&r->ot->idle))
        conn_close(H2O_STRUCT_FROM_MEMBER(origin_conn_t, idle_link, r->ot->idle.next));
    start_attempt(r);
    return 1;
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    origin_req_impl_t *r = H2O_STRUCT_FROM_MEMBER(origin_req_impl_t, timer, entry);
    char *msg;
    switch (r->state) {
    case ST_RESOLVING:
    case ST_CONNECTING:
        msg = "connect timeout";
        break;
    case ST_SENDING:
    case ST_HEAD:
        msg = "origin timeout (no response)";
        break;
    case ST_WAIT_SLOT:
        msg = "origin busy: no free connection (max_connections)";
        break;
    default:
        msg = "origin read timeout";
        break;
    }
    log_error("origin %s (%s:%u): %s", r->o->name, r->o->host, r->o->port, msg);
    finish(r, 504, msg);
}

static void on_deferred_error(h2o_timeout_entry_t *entry)
{
    origin_req_impl_t *r = H2O_STRUCT_FROM_MEMBER(origin_req_impl_t, timer, entry);
    finish(r, 502, r->deferred_error);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    origin_conn_t *c = sock->data;
    origin_req_impl_t *r = c->req;
    if (r == NULL)
        return;
    if (err != NULL) {
        if (r->state <= ST_HEAD && maybe_retry(r))
            return;
        if (r->state <= ST_HEAD)
            finish(r, 502, "origin closed the connection while the request was sent");
        return;
    }
    if (r->state == ST_SENDING) {
        r->state = ST_HEAD;
        set_timer(r, r->ot->t_first_byte);
    }
}

static void send_request(origin_req_impl_t *r)
{
    origin_conn_t *c = r->conn;
    h2o_iovec_t bufs[2] = {r->head, r->body};
    r->state = ST_SENDING;
    r->bytes_in = 0;
    r->read_err = NULL;
    r->head_scanned = 0;
    r->informational = 0;
    c->sock->data = c;
    set_timer(r, r->ot->t_first_byte);
    h2o_socket_read_start(c->sock, on_conn_read);
    h2o_socket_write(c->sock, bufs, r->body.len != 0 ? 2 : 1, on_write_done);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    origin_conn_t *c = sock->data;
    origin_req_impl_t *r = c->req;
    if (err != NULL) {
        char msg[256];
        log_error("origin %s (%s:%u): TLS handshake failed: %s", r->o->name, r->o->host, r->o->port, err);
        snprintf(msg, sizeof(msg), "TLS handshake with the origin failed: %s", err);
        finish(r, 502, h2o_strdup(&r->pool, msg, SIZE_MAX).base);
        return;
    }
    send_request(r);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    origin_conn_t *c = sock->data;
    origin_req_impl_t *r = c->req;
    if (err != NULL) {
        char msg[256];
        log_error("origin %s (%s:%u): connection failed: %s", r->o->name, r->o->host, r->o->port, err);
        snprintf(msg, sizeof(msg), "origin unreachable: %s", err);
        r->ot->resolved_at = 0; /* resolve again next time */
        finish(r, 502, h2o_strdup(&r->pool, msg, SIZE_MAX).base);
        return;
    }
    if (r->o->https) {
        h2o_socket_ssl_handshake(sock, r->o->ssl_ctx, r->o->sni, on_handshake);
        return;
    }
    send_request(r);
}

static void on_connect_writable(h2o_socket_t *sock, const char *err)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (err == NULL && getsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
        err = strerror(soerr);
    else if (err == NULL && getsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        err = strerror(errno);
    on_connect(sock, err);
}

static void do_connect(origin_req_impl_t *r)
{
    origin_thread_t *ot = r->ot;
    origin_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        h2o_fatal("no memory");
    c->ot = ot;
    c->o = r->o;
    origin_addref(r->o);
    c->req = r;
    ++ot->num_conns;
    r->conn = c;
    r->state = ST_CONNECTING;
    atomic_fetch_add_explicit(&r->o->stats[ORIGIN_STAT_CONNECTS], 1, memory_order_relaxed);
    set_timer(r, ot->t_connect);
    /* our own connect, not h2o_socket_connect: h2o reads SO_ERROR itself and reports only "connection failure" */
    int fd = socket(ot->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd == -1 || (connect(fd, (struct sockaddr *)&ot->addr, ot->addrlen) != 0 && errno != EINPROGRESS)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "origin unreachable: %s", strerror(errno));
        log_error("origin %s (%s:%u): connection failed: %s", r->o->name, r->o->host, r->o->port, strerror(errno));
        if (fd != -1)
            close(fd);
        /* callbacks never run from inside origin_req_start: report from the loop */
        r->deferred_error = h2o_strdup(&r->pool, msg, SIZE_MAX).base;
        r->conn = NULL;
        --ot->num_conns;
        origin_release(c->o);
        free(c);
        h2o_timeout_unlink(&r->timer);
        r->timer.cb = on_deferred_error;
        h2o_timeout_link(ot->worker->ctx.loop, &ot->worker->ctx.zero_timeout, &r->timer);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    /* h2o reads a socket until the kernel has nothing left, so whatever the kernel queued lands in memory at once, even when
     * the fill is about to pause for a slow client: clamp the receive window (Debian's default tcp_rmem maximum of 6 MB gives
     * about this window anyway, but tuned hosts allow 32 MB and more). Autotuning raises the clamp as it grows the buffer, so
     * this bounds only the start: the first pause fixes the buffer (lock_receive_buffer) */
    int clamp = ORIGIN_RECEIVE_WINDOW_CLAMP;
    setsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
    c->sock = h2o_evloop_socket_create(ot->worker->ctx.loop, fd, 0);
    c->sock->data = c;
    h2o_socket_notify_write(c->sock, on_connect_writable);
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *getaddr, const char *errstr, struct addrinfo *res, void *data)
{
    origin_req_impl_t *r = data;
    r->getaddr = NULL;
    if (errstr != NULL) {
        char msg[256];
        log_error("origin %s: cannot resolve %s: %s", r->o->name, r->o->host, errstr);
        /* the host name stays in the error log: what viewers get names no internal host */
        snprintf(msg, sizeof(msg), "origin unreachable: cannot resolve its host name: %s", errstr);
        finish(r, 502, h2o_strdup(&r->pool, msg, SIZE_MAX).base);
        return;
    }
    struct addrinfo *ai = h2o_hostinfo_select_one(res);
    memcpy(&r->ot->addr, ai->ai_addr, ai->ai_addrlen);
    r->ot->addrlen = ai->ai_addrlen;
    r->ot->resolved_at = server_now_ms();
    do_connect(r);
}

static void start_attempt(origin_req_impl_t *r)
{
    origin_thread_t *ot = r->ot;
    ++r->attempts;
    /* a pooled connection on which nothing arrived while it was idle */
    while (!h2o_linklist_is_empty(&ot->idle)) {
        origin_conn_t *c = H2O_STRUCT_FROM_MEMBER(origin_conn_t, idle_link, ot->idle.next);
        h2o_linklist_unlink(&c->idle_link);
        h2o_timeout_unlink(&c->idle_entry);
        h2o_socket_read_stop(c->sock);
        if (!conn_is_quiet(c)) {
            conn_close(c);
            continue;
        }
        c->req = r;
        r->conn = c;
        send_request(r);
        return;
    }
    if (ot->num_conns >= r->o->per_thread_max) {
        r->state = ST_WAIT_SLOT;
        set_timer(r, ot->t_connect); /* waiting for a slot counts as connecting */
        h2o_linklist_insert(&ot->waiting, &r->wait_link);
        return;
    }
    /* a new connection; names are resolved every ADDR_CACHE_MS at most */
    if (ot->addrlen != 0 && server_now_ms() - ot->resolved_at < ADDR_CACHE_MS) {
        do_connect(r);
        return;
    }
    {
        struct sockaddr_in *sin = (void *)&ot->addr;
        struct sockaddr_in6 *sin6 = (void *)&ot->addr;
        memset(&ot->addr, 0, sizeof(ot->addr));
        if (inet_pton(AF_INET, r->o->host, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            sin->sin_port = htons(r->o->port);
            ot->addrlen = sizeof(*sin);
            ot->resolved_at = INT64_MAX / 2;
            do_connect(r);
            return;
        }
        if (inet_pton(AF_INET6, r->o->host, &sin6->sin6_addr) == 1) {
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(r->o->port);
            ot->addrlen = sizeof(*sin6);
            ot->resolved_at = INT64_MAX / 2;
            do_connect(r);
            return;
        }
    }
    {
        char port[8];
        snprintf(port, sizeof(port), "%u", r->o->port);
        r->state = ST_RESOLVING;
        set_timer(r, ot->t_connect);
        r->getaddr = h2o_hostinfo_getaddr(&ot->worker->ctx.receivers.hostinfo_getaddr,
                                          h2o_iovec_init(r->o->host, strlen(r->o->host)), h2o_strdup(&r->pool, port, SIZE_MAX),
                                          AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, r);
    }
}

origin_req_t *origin_req_start(origin_t *o, h2o_iovec_t method, h2o_iovec_t path, const h2o_header_t *headers, size_t num_headers,
                               h2o_iovec_t body, int idempotent, const origin_req_callbacks_t *cb, void *data)
{
    origin_req_impl_t *r = h2o_mem_alloc_recycle(&req_recycle, sizeof(*r));
    const char *bad;
    size_t cap, i;
    char *p;

    memset(r, 0, sizeof(*r));
    r->super.data = data;
    r->o = o;
    origin_addref(o);
    r->ot = get_thread(o);
    r->cb = cb;
    r->timer.cb = on_timeout;
    r->idempotent = idempotent;
    r->is_head = method.len == 4 && memcmp(method.base, "HEAD", 4) == 0;
    r->body = body;
    h2o_mem_init_pool(&r->pool);
    atomic_fetch_add_explicit(&o->stats[ORIGIN_STAT_REQUESTS], 1, memory_order_relaxed);
    r->started_ns = edge_mono_ns();

    /* the request head; nothing a caller passes may split it, and the framing (Content-Length) is ours */
    bad = origin_request_check(method.base, method.len, path.base, path.len);
    cap = method.len + path.len + 64;
    for (i = 0; i != num_headers; ++i)
        cap += headers[i].name->len + headers[i].value.len + 4;
    if ((r->head.base = malloc(cap)) == NULL)
        h2o_fatal("no memory");
    p = r->head.base;
    memcpy(p, method.base, method.len);
    p += method.len;
    *p++ = ' ';
    memcpy(p, path.base, path.len);
    p += path.len;
    memcpy(p, " HTTP/1.1\r\n", 11);
    p += 11;
    for (i = 0; i != num_headers; ++i) {
        const h2o_header_t *h = headers + i;
        const char *name = h->orig_name != NULL ? h->orig_name : h->name->base;
        const char *why = origin_request_check_field(name, h->name->len, h->value.base, h->value.len);
        if (why != NULL && bad == NULL)
            bad = why;
        if (h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("content-length")) ||
            h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("transfer-encoding")))
            continue;
        memcpy(p, name, h->name->len);
        p += h->name->len;
        *p++ = ':';
        *p++ = ' ';
        if (h->value.len != 0)
            memcpy(p, h->value.base, h->value.len);
        p += h->value.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (body.len != 0 || (method.len == 4 && memcmp(method.base, "POST", 4) == 0) ||
        (method.len == 3 && memcmp(method.base, "PUT", 3) == 0) || (method.len == 5 && memcmp(method.base, "PATCH", 5) == 0))
        p += sprintf(p, "content-length: %zu\r\n", body.len);
    *p++ = '\r';
    *p++ = '\n';
    r->head.len = p - r->head.base;

    if (bad != NULL) {
        char msg[256];
        log_error("origin %s: refused to send a request with %s", o->name, bad);
        snprintf(msg, sizeof(msg), "refused to send the request to the origin: %s", bad);
        /* callbacks never run from inside origin_req_start: report from the loop */
        r->deferred_error = h2o_strdup(&r->pool, msg, SIZE_MAX).base;
        r->timer.cb = on_deferred_error;
        h2o_timeout_link(r->ot->worker->ctx.loop, &r->ot->worker->ctx.zero_timeout, &r->timer);
        return &r->super;
    }
    start_attempt(r);
    return &r->super;
}

void origin_req_cancel(origin_req_t *_r)
{
    origin_req_impl_t *r = (void *)_r;
    if (r->in_cb) {
        /* finished by the code that called the callback */
        r->cancelled = 1;
        return;
    }
    r->cancelled = 1;
    if (r->conn != NULL) {
        origin_conn_t *c = r->conn;
        r->conn = NULL;
        conn_close(c); /* mid-response: the connection cannot be reused */
    }
    req_free(r);
}

static void on_resume(h2o_timeout_entry_t *entry)
{
    origin_req_impl_t *r = H2O_STRUCT_FROM_MEMBER(origin_req_impl_t, resume_entry, entry);
    if (r->paused || r->conn == NULL)
        return;
    /* the consumer may end the request from what process_input delivers (the body completes, or it cancels) */
    req_hold(r);
    process_input(r);
    if (r->state == ST_BODY && !r->paused && r->conn != NULL)
        h2o_socket_read_start(r->conn->sock, on_conn_read);
    req_unhold(r);
}

/*
 * The first pause shows the response goes at a client's pace: its receive buffer is fixed small from then on. TCP_WINDOW_CLAMP
 * (do_connect) does not hold: receive autotuning raises the clamp with the buffer (up to tcp_rmem's maximum, 32 MB on tuned
 * hosts), and h2o reads a socket until the kernel has nothing left, doubling its input buffer as it goes; on a loaded machine the
 * origin refills the window while the worker waits for a core, and single reads of 26 MB were seen (RSS up 60 MB for one slow
 * client). SO_RCVBUF stops the autotuning; the connection is not pooled again, so a later fast response gets a normal window.
 */
static void lock_receive_buffer(origin_req_impl_t *r)
{
    int fd = h2o_socket_get_fd(r->conn->sock), size = ORIGIN_PAUSED_RECEIVE_BUFFER;
    if (r->conn->rcvbuf_locked || fd < 0)
        return;
    r->conn->rcvbuf_locked = 1;
    r->keepalive = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

void origin_req_pause(origin_req_t *_r)
{
    origin_req_impl_t *r = (void *)_r;
    if (r->paused)
        return;
    r->paused = 1;
    if (r->state == ST_BODY) {
        /* D4: no read timeout while we deliberately do not read */
        h2o_timeout_unlink(&r->timer);
        if (r->conn != NULL) {
            h2o_socket_read_stop(r->conn->sock);
            lock_receive_buffer(r);
        }
    }
}

void origin_req_resume(origin_req_t *_r)
{
    origin_req_impl_t *r = (void *)_r;
    if (!r->paused)
        return;
    r->paused = 0;
    if (r->state == ST_BODY && r->conn != NULL) {
        set_timer(r, r->ot->t_read);
        /* process what is already buffered from the loop, not from inside the consumer */
        r->resume_entry.cb = on_resume;
        if (!h2o_timeout_is_linked(&r->resume_entry))
            h2o_timeout_link(r->ot->worker->ctx.loop, &r->ot->worker->ctx.zero_timeout, &r->resume_entry);
    }
}

/* ---- response parsing ----------------------------------------------------------------------------------------------------- */

static int call_head(origin_req_impl_t *r, const origin_head_t *head)
{
    h2o_headers_t hdrs = {NULL, 0, 0};
    h2o_headers_t raw = {NULL, 0, 0};
    headers_connection_list_t conn;
    size_t i;

    /* raw list first, to learn which names Connection lists */
    h2o_vector_reserve(&r->pool, &raw, head->num_fields);
    for (i = 0; i != head->num_fields; ++i) {
        const origin_head_field_t *src = &head->fields[i];
        h2o_iovec_t *name;
        const h2o_token_t *token;
        char *lc = h2o_mem_alloc_pool(&r->pool, src->name_len + 1);
        memcpy(lc, src->name, src->name_len);
        lc[src->name_len] = '\0';
        h2o_strtolower(lc, src->name_len);
        if ((token = h2o_lookup_token(lc, src->name_len)) != NULL) {
            name = (h2o_iovec_t *)&token->buf;
        } else {
            name = h2o_mem_alloc_pool(&r->pool, sizeof(*name));
            *name = h2o_iovec_init(lc, src->name_len);
        }
        raw.entries[raw.size].name = name;
        raw.entries[raw.size].orig_name = h2o_strdup(&r->pool, src->name, src->name_len).base;
        raw.entries[raw.size].value = h2o_strdup(&r->pool, src->value, src->value_len);
        ++raw.size;
    }
    headers_connection_tokens(&raw, &conn);
    h2o_vector_reserve(&r->pool, &hdrs, raw.size);
    for (i = 0; i != raw.size; ++i) {
        const h2o_iovec_t *name = raw.entries[i].name;
        /* hop-by-hop and framing headers are ours to set; Date is set by h2o when we answer (the cache keeps the origin's Date
         * for its age computations through the object's fields) */
        if (headers_is_hop_by_hop(name, &conn) || name == &H2O_TOKEN_CONTENT_LENGTH->buf)
            continue;
        hdrs.entries[hdrs.size++] = raw.entries[i];
    }
    atomic_fetch_add_explicit(&r->o->stats[ORIGIN_STAT_HEADS], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->o->stats[ORIGIN_STAT_HEAD_US], (edge_mono_ns() - r->started_ns) / 1000, memory_order_relaxed);
    r->in_cb = 1;
    r->cb->on_head(&r->super, head->status, h2o_strdup(&r->pool, head->reason, head->reason_len), hdrs.entries, hdrs.size,
                   head->content_length);
    r->in_cb = 0;
    return r->cancelled ? -1 : 0;
}

/* refuses the response: one error-log line with the cause, 502 to whoever waits for a head; the connection is closed */
static void refuse_response(origin_req_impl_t *r, const char *why)
{
    char msg[256];
    log_error("origin %s (%s:%u): invalid response: %s", r->o->name, r->o->host, r->o->port, why);
    snprintf(msg, sizeof(msg), "invalid response from the origin: %s", why);
    r->keepalive = 0;
    finish(r, 502, h2o_strdup(&r->pool, msg, SIZE_MAX).base);
}

/* parses the response head from the connection's input; returns 1 when the head was handled, 0 if more is needed, -1 when the
 * request ended */
static int parse_head(origin_req_impl_t *r)
{
    origin_head_t head; /* about 16 KB: the field slices */
    h2o_buffer_t *in;
    int ret;

Again:
    in = r->conn->sock->input; /* consuming may have replaced the buffer */
    if (in->size == 0)
        return 0;
    /* a head trickled in a few bytes per read is parsed again only when a line may have ended (or the start of the status line
     * may be wrong, or the limit is reached): never once per byte of a 64 KB head */
    if (in->size > r->head_scanned && r->head_scanned >= 64 && in->size < ORIGIN_HEAD_MAX_SIZE &&
        memchr(in->bytes + r->head_scanned, '\n', in->size - r->head_scanned) == NULL) {
        r->head_scanned = in->size;
        return 0;
    }
    ret = origin_parse_head(in->bytes, in->size, r->is_head ? ORIGIN_HEAD_REQ_HEAD : 0, &head);
    if (ret == ORIGIN_HEAD_INCOMPLETE) {
        r->head_scanned = in->size;
        return 0;
    }
    if (ret == ORIGIN_HEAD_ERROR) {
        refuse_response(r, head.error);
        return -1;
    }
    if (head.status < 200) {
        /* informational responses (100 Continue, 103 Early Hints) are not forwarded */
        if (++r->informational > MAX_INFORMATIONAL) {
            refuse_response(r, "too many informational (1xx) responses");
            return -1;
        }
        h2o_buffer_consume(&r->conn->sock->input, head.head_len);
        r->head_scanned = 0;
        goto Again;
    }
    r->keepalive = head.keepalive;
    r->framing = head.framing;
    if (head.framing == ORIGIN_FRAMING_LENGTH)
        r->remaining = (uint64_t)head.content_length;
    else if (head.framing == ORIGIN_FRAMING_CHUNKED)
        origin_chunked_init(&r->chunked);
    r->state = ST_BODY;
    set_timer(r, r->paused ? NULL : r->ot->t_read);
    if (call_head(r, &head) != 0) {
        /* cancelled by the consumer */
        origin_conn_t *c = r->conn;
        r->conn = NULL;
        if (c != NULL)
            conn_close(c);
        req_free(r);
        return -1;
    }
    h2o_buffer_consume(&r->conn->sock->input, head.head_len);
    if (r->framing == ORIGIN_FRAMING_NONE || (r->framing == ORIGIN_FRAMING_LENGTH && r->remaining == 0)) {
        finish(r, 200, NULL);
        return -1;
    }
    return 1;
}

/* delivers body bytes; returns -1 when the request ended (or was cancelled) */
static int deliver(origin_req_impl_t *r, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    r->in_cb = 1;
    r->cb->on_body(&r->super, data, len);
    r->in_cb = 0;
    if (r->cancelled) {
        origin_conn_t *c = r->conn;
        r->conn = NULL;
        if (c != NULL)
            conn_close(c);
        req_free(r);
        return -1;
    }
    return 0;
}

static void process_input(origin_req_impl_t *r)
{
    if (r->state == ST_SENDING || r->state == ST_HEAD) {
        if (parse_head(r) != 1)
            return;
    }
    while (r->state == ST_BODY && !r->paused && r->conn != NULL && r->conn->sock->input->size != 0) {
        h2o_buffer_t **in = &r->conn->sock->input;
        switch (r->framing) {
        case ORIGIN_FRAMING_LENGTH: {
            size_t n = (*in)->size < r->remaining ? (*in)->size : (size_t)r->remaining;
            if (n > ORIGIN_DELIVER_MAX)
                n = ORIGIN_DELIVER_MAX;
            r->remaining -= n;
            if (deliver(r, (*in)->bytes, n) != 0)
                return;
            h2o_buffer_consume(in, n);
            if (r->remaining == 0) {
                finish(r, 200, NULL);
                return;
            }
        } break;
        case ORIGIN_FRAMING_CHUNKED: {
            size_t size = (*in)->size;
            ssize_t ret = origin_chunked_decode(&r->chunked, (*in)->bytes, &size);
            if (ret == ORIGIN_CHUNKED_ERROR) {
                char msg[256];
                snprintf(msg, sizeof(msg), "invalid chunked encoding from the origin: %s", r->chunked.error);
                finish(r, 502, h2o_strdup(&r->pool, msg, SIZE_MAX).base);
                return;
            }
            /* the decoded bytes are at the front of the buffer now: hand them over, then drop the whole buffer */
            char *data = (*in)->bytes;
            size_t total = (*in)->size;
            if (deliver(r, data, size) != 0)
                return;
            if (ret >= 0) {
                if (ret != 0 && r->keepalive) {
                    /* bytes after the last chunk and trailers: the origin sent more than the framing says */
                    log_warn("origin %s (%s:%u): %zd bytes after the end of a chunked response: connection closed", r->o->name,
                             r->o->host, r->o->port, ret);
                    r->keepalive = 0;
                }
                h2o_buffer_consume(in, total);
                finish(r, 200, NULL);
                return;
            }
            h2o_buffer_consume(in, total);
        } break;
        case ORIGIN_FRAMING_EOF: {
            size_t n = (*in)->size < ORIGIN_DELIVER_MAX ? (*in)->size : ORIGIN_DELIVER_MAX;
            if (deliver(r, (*in)->bytes, n) != 0)
                return;
            h2o_buffer_consume(in, n);
        } break;
        case ORIGIN_FRAMING_NONE:
            return; /* finished with its head: never in ST_BODY */
        }
    }
    if (r->state == ST_BODY && r->paused && r->conn != NULL)
        h2o_socket_read_stop(r->conn->sock);
}

/* on_conn_read for a connection that carries r, which the caller holds: once r ended (r->state == ST_DONE), neither r's
 * connection nor sock may be used (they went back to the pool or were closed) */
static void handle_read(origin_req_impl_t *r, h2o_socket_t *sock, const char *err)
{
    if (err == NULL) {
        r->bytes_in += sock->input->size;
        if (r->state == ST_BODY && !r->paused)
            set_timer(r, r->ot->t_read);
        process_input(r);
        return;
    }
    /* EOF or error; a paused response sees the end again once resumed, and a reset reads as a plain EOF the second time: keep
     * the first */
    if (r->read_err == NULL)
        r->read_err = err;
    err = r->read_err;
    if (r->state == ST_SENDING || r->state == ST_HEAD) {
        if (sock->input->size == 0 && maybe_retry(r))
            return;
        if (r->bytes_in == 0)
            finish(r, 502, "origin closed the connection without responding");
        else
            refuse_response(r, "the connection ended in the middle of the response head");
        return;
    }
    if (r->state == ST_BODY) {
        /* deliver what was buffered before the EOF */
        if (sock->input->size != 0 && !r->paused) {
            process_input(r);
            if (r->state != ST_BODY)
                return;
        }
        if (r->framing == ORIGIN_FRAMING_EOF && sock->input->size == 0 && err == h2o_socket_error_closed) {
            /* read until close: only a clean close ends the body; a reset or a read error leaves it incomplete (RFC 9112 §8) */
            r->keepalive = 0;
            finish(r, 200, NULL);
        } else if (r->paused && sock->input->size != 0) {
            /* keep the buffered bytes; resume will deliver them and then see EOF again through on_resume */
            h2o_socket_read_stop(sock);
            r->keepalive = 0;
        } else {
            finish(r, 502,
                   r->framing == ORIGIN_FRAMING_CHUNKED ? "origin closed the connection before the last chunk"
                   : r->framing == ORIGIN_FRAMING_EOF   ? "the connection to the origin failed before the end of the body"
                                                        : "origin closed the connection before the end of the body");
        }
    }
}

static void on_conn_read(h2o_socket_t *sock, const char *err)
{
    origin_conn_t *c = sock->data;
    origin_req_impl_t *r = c->req;

    if (r == NULL) {
        conn_close(c);
        return;
    }
    req_hold(r);
    handle_read(r, sock, err);
    req_unhold(r);
}
