/* store/http1.c - the store listener's HTTP/1.1 connections, request bodies streamed to the store threads (see http1.h) */
#include "store/http1.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <h2o/http2.h>
#include "store/h1chunked.h"
#include "store/jobs.h"

/* picohttpparser, inside libh2o (which installs no header for it): its request-head parser */
struct phr_header {
    const char *name; /* NULL: a continuation line (obs-fold) */
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

static store_http1_conf_t conf;

void store_http1_configure(const store_http1_conf_t *c)
{
    conf = *c;
}

/* ---- the body: a bounded ring between the loop (writer) and a store thread (reader) ------------------------------------------ */

struct h1conn;

/* one per store loop thread: where readers send their wake-ups */
struct loop_rx {
    h2o_multithread_receiver_t receiver;
    int registered;
};
static __thread struct loop_rx loop_rx;

struct store_h1body {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    char *buf; /* ring of cap bytes: len bytes from head */
    size_t cap, head, len;
    uint64_t length;   /* Content-Length, or UINT64_MAX (chunked) */
    int eof;           /* every byte of the body is in the ring or was read */
    int failed;        /* it will not come */
    int started;       /* the reader asked for data (100 Continue may go) */
    int paused;        /* the loop stopped reading the socket: the ring was full */
    int notify_queued; /* msg is on the loop's queue */
    uint64_t wait_ms;  /* how long a reader waits for the loop before it gives up (a safety net behind the loop's timeout) */
    h2o_multithread_message_t msg;
    struct loop_rx *rx;
    struct h1conn *conn; /* loop thread only; NULL once the connection is done with it */
};

static void notify_locked(store_h1body_t *b)
{
    if (b->notify_queued)
        return;
    b->notify_queued = 1;
    ++b->refs; /* the message's */
    h2o_multithread_send_message(&b->rx->receiver, &b->msg);
}

void store_h1body_release(store_h1body_t *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    int refs = --b->refs;
    pthread_mutex_unlock(&b->lock);
    if (refs != 0)
        return;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b->buf);
    free(b);
}

uint64_t store_h1body_length(store_h1body_t *b)
{
    return b->length;
}

long store_h1body_read(store_h1body_t *b, void *out, size_t max)
{
    long n;
    pthread_mutex_lock(&b->lock);
    if (!b->started) {
        b->started = 1;
        notify_locked(b); /* 100 Continue, if expected */
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(b->wait_ms / 1000);
    deadline.tv_nsec += (long)(b->wait_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000;
    }
    if (b->len == 0 && !b->eof && !b->failed) {
        store_jobs_blocking(1); /* other requests get a thread meanwhile */
        while (b->len == 0 && !b->eof && !b->failed) {
            if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) == ETIMEDOUT && b->len == 0 && !b->eof) {
                b->failed = 1;
                break;
            }
        }
        store_jobs_blocking(0);
    }
    if (b->failed) {
        n = -1;
    } else if (b->len == 0) {
        n = 0;
    } else {
        size_t want = max < b->len ? max : b->len, first = b->cap - b->head;
        if (first > want)
            first = want;
        memcpy(out, b->buf + b->head, first);
        if (want > first)
            memcpy((char *)out + first, b->buf, want - first);
        b->head = (b->head + want) % b->cap;
        b->len -= want;
        if (b->len == 0)
            b->head = 0;
        n = (long)want;
        if (b->paused && b->cap - b->len >= b->cap / 2) {
            b->paused = 0;
            notify_locked(b);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* ---- the connection ----------------------------------------------------------------------------------------------------------- */

enum { P_HEAD, P_BODY, P_WAIT, P_DRAIN };

/* a response that left the request's body in the socket: up to this much of the rest is read and dropped before the connection
 * closes (a client that sends its whole body before it reads the answer sees the answer, not a reset); more, or an Expect:
 * 100-continue body never asked for, and it closes at once */
#define DRAIN_MAX (64ull << 20)

typedef struct h1conn {
    h2o_conn_t super;
    h2o_socket_t *sock;
    h2o_accept_ctx_t *actx;
    h2o_timeout_entry_t timeout;
    uint64_t req_index;
    int phase;
    /* the current request's body */
    store_h1body_t *body;
    int chunked;
    uint64_t cl_left;
    store_h1chunked_t dec;
    int body_done; /* every byte of it was taken from the socket */
    uint64_t body_bytes;
    uint64_t drained;
    int expect; /* Expect: 100-continue */
    int continue_sent;
    /* the response */
    int writing; /* a socket write is in flight */
    int sent_headers, res_chunked, res_nobody, keepalive;
    struct {
        int pending;
        h2o_iovec_t *bufs;
        size_t cnt;
        h2o_send_state_t state;
    } stash; /* a response send that came while 100 Continue was being written */
    h2o_ostream_t ostr;
    h2o_req_t req; /* last: large */
} h1conn_t;

static void on_read(h2o_socket_t *sock, const char *err);
static void handle_head(h1conn_t *c);
static void pump_body(h1conn_t *c);
static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state);
static void drain_body(h1conn_t *c);

static void set_timeout(h1conn_t *c, h2o_timeout_cb cb)
{
    if (h2o_timeout_is_linked(&c->timeout))
        h2o_timeout_unlink(&c->timeout);
    if (cb != NULL) {
        c->timeout.cb = cb;
        h2o_timeout_link(c->super.ctx->loop, &c->super.ctx->http1.req_timeout, &c->timeout);
    }
}

/* the connection lets go of the current body: a reader still waiting learns that the rest will not come */
static void detach_body(h1conn_t *c)
{
    store_h1body_t *b = c->body;
    if (b == NULL)
        return;
    c->body = NULL;
    pthread_mutex_lock(&b->lock);
    b->conn = NULL;
    if (!b->eof)
        b->failed = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    store_h1body_release(b);
}

static void init_req(h1conn_t *c)
{
    h2o_init_request(&c->req, &c->super, NULL);
    ++c->req_index;
    c->req._ostr_top = &c->ostr;
    c->ostr = (h2o_ostream_t){NULL, do_send, NULL, NULL};
    c->phase = P_HEAD;
    c->chunked = 0;
    c->cl_left = 0;
    c->body_done = 0;
    c->body_bytes = 0;
    c->expect = 0;
    c->continue_sent = 0;
    c->sent_headers = c->res_chunked = c->res_nobody = c->keepalive = 0;
    c->stash.pending = 0;
}

static void dispose_req(h1conn_t *c)
{
    detach_body(c);
    /* what the loggers (metrics) see as the request body's size */
    c->req.entity = h2o_iovec_init(NULL, (size_t)c->body_bytes);
    h2o_dispose_request(&c->req);
}

static void conn_close(h1conn_t *c)
{
    set_timeout(c, NULL);
    dispose_req(c);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    free(c);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    conn_close(H2O_STRUCT_FROM_MEMBER(h1conn_t, timeout, entry));
}

static void on_error_sent(h2o_socket_t *sock, const char *err)
{
    conn_close(sock->data);
}

/* a refusal before any handler saw the request: a plain answer, then the connection closes */
static void send_plain_error(h1conn_t *c, int status, const char *reason, const char *msg)
{
    char *buf = h2o_mem_alloc_pool(&c->req.pool, 256 + strlen(msg));
    int n = snprintf(buf, 256 + strlen(msg),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     status, reason, strlen(msg), msg);
    h2o_iovec_t v = h2o_iovec_init(buf, (size_t)n);
    set_timeout(c, NULL);
    h2o_socket_read_stop(c->sock);
    c->phase = P_WAIT;
    c->writing = 1;
    h2o_socket_write(c->sock, &v, 1, on_error_sent);
}

static void start_head(h1conn_t *c)
{
    set_timeout(c, on_idle_timeout);
    h2o_socket_read_start(c->sock, on_read);
    if (c->sock->input->size != 0)
        handle_head(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    h1conn_t *c = sock->data;
    if (err != NULL) {
        conn_close(c);
        return;
    }
    switch (c->phase) {
    case P_HEAD:
        handle_head(c);
        break;
    case P_BODY:
        pump_body(c);
        break;
    case P_DRAIN:
        drain_body(c);
        break;
    default:
        h2o_socket_read_stop(sock);
        break;
    }
}

/* a strict Content-Length: 1 to 19 digits */
static int parse_length(const char *v, size_t len, uint64_t *out)
{
    uint64_t n = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}

static void handle_head(h1conn_t *c)
{
    h2o_req_t *req = &c->req;
    size_t avail = c->sock->input->size, inlen = avail < STORE_H1_MAX_HEAD ? avail : STORE_H1_MAX_HEAD;
    const char *method, *path;
    size_t method_len, path_len, num_headers = H2O_MAX_HEADERS;
    int minor, reqlen;
    struct phr_header headers[H2O_MAX_HEADERS];

    if (req->timestamps.request_begin_at.tv_sec == 0)
        req->timestamps.request_begin_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    reqlen = phr_parse_request(c->sock->input->bytes, inlen, &method, &method_len, &path, &path_len, &minor, headers, &num_headers,
                               0);
    if (reqlen == -2) {
        if (inlen == STORE_H1_MAX_HEAD)
            send_plain_error(c, 431, "Request Header Fields Too Large", "request head too large");
        return;
    }
    if (reqlen < 0) {
        static const char preface[] = "PRI * HTTP/2.0\r\n";
        if (avail >= sizeof(preface) - 1 && memcmp(c->sock->input->bytes, preface, sizeof(preface) - 1) == 0) {
            /* h2c with prior knowledge: h2o's HTTP/2 takes the socket (bodies buffered there) */
            h2o_socket_t *sock = c->sock;
            h2o_accept_ctx_t *actx = c->actx;
            struct timeval at = c->super.connected_at;
            c->sock = NULL;
            h2o_socket_read_stop(sock);
            conn_close(c);
            h2o_http2_accept(actx, sock, at);
            return;
        }
        size_t i = 0;
        while (i != avail && i < 4 && (c->sock->input->bytes[i] == '\r' || c->sock->input->bytes[i] == '\n'))
            ++i;
        if (i == avail && avail <= 4) {
            conn_close(c); /* a client's stray CRLFs before closing */
            return;
        }
        send_plain_error(c, 400, "Bad Request", "malformed request head");
        return;
    }
    const char *reason = NULL;
    int status;
    if (conf.check_head != NULL && (status = conf.check_head(c->sock->input->bytes, (size_t)reqlen, &reason)) != 0) {
        send_plain_error(c, status, status == 505 ? "HTTP Version Not Supported" : "Bad Request", reason);
        return;
    }

    /* the request: everything copied into its pool (the input buffer moves on) */
    h2o_mem_pool_t *pool = &req->pool;
    req->input.method = h2o_strdup(pool, method, method_len);
    req->input.path = h2o_strdup(pool, path, path_len);
    req->input.scheme = c->sock->ssl != NULL ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    req->version = 0x100 | (minor != 0);
    int has_cl = 0, has_te = 0, conn_close_tok = 0, conn_keepalive = 0;
    uint64_t cl = 0;
    h2o_iovec_t expect = {NULL, 0};
    h2o_vector_reserve(pool, &req->headers, num_headers);
    for (size_t i = 0; i != num_headers; ++i) {
        const struct phr_header *ph = &headers[i];
        if (ph->name == NULL) {
            send_plain_error(c, 400, "Bad Request", "obs-fold in the request head");
            return;
        }
        char *orig = h2o_mem_alloc_pool(pool, ph->name_len + 1), *lc = h2o_mem_alloc_pool(pool, ph->name_len + 1);
        memcpy(orig, ph->name, ph->name_len);
        memcpy(lc, ph->name, ph->name_len);
        orig[ph->name_len] = lc[ph->name_len] = '\0';
        h2o_strtolower(lc, ph->name_len);
        h2o_iovec_t value = h2o_strdup(pool, ph->value, ph->value_len);
        const h2o_token_t *token = h2o_lookup_token(lc, ph->name_len);
        if (token == H2O_TOKEN_HOST) {
            if (req->input.authority.base == NULL)
                req->input.authority = value;
            continue;
        }
        if (token == H2O_TOKEN_CONTENT_LENGTH) {
            if (has_cl || parse_length(value.base, value.len, &cl) != 0) {
                send_plain_error(c, 400, "Bad Request", "invalid or repeated Content-Length");
                return;
            }
            has_cl = 1;
            continue;
        }
        if (token == H2O_TOKEN_TRANSFER_ENCODING) {
            /* kept among the headers (a SigV4 signature may cover it) */
            if (has_te || !h2o_lcstris(value.base, value.len, H2O_STRLIT("chunked"))) {
                send_plain_error(c, 400, "Bad Request", "Transfer-Encoding other than one `chunked`");
                return;
            }
            has_te = 1;
        } else if (token == H2O_TOKEN_EXPECT) {
            expect = value;
            continue;
        } else if (token == H2O_TOKEN_UPGRADE) {
            continue; /* no upgrades on this listener */
        } else if (token == H2O_TOKEN_CONNECTION) {
            conn_close_tok |= h2o_contains_token(value.base, value.len, H2O_STRLIT("close"), ',');
            conn_keepalive |= h2o_contains_token(value.base, value.len, H2O_STRLIT("keep-alive"), ',');
        }
        if (token != NULL)
            h2o_add_header(pool, &req->headers, token, orig, value.base, value.len);
        else
            h2o_add_header_by_str(pool, &req->headers, lc, ph->name_len, 0, orig, value.base, value.len);
    }
    if (has_cl && has_te) {
        send_plain_error(c, 400, "Bad Request", "both Content-Length and Transfer-Encoding");
        return;
    }
    if (expect.base != NULL && !h2o_lcstris(expect.base, expect.len, H2O_STRLIT("100-continue")))
        expect = h2o_iovec_init(NULL, 0); /* another expectation (or an empty one) is ignored, as S3 and RGW do */
    req->http1_is_persistent = req->version >= 0x101 ? !conn_close_tok : conn_keepalive;
    if (c->super.ctx->shutdown_requested)
        req->http1_is_persistent = 0;
    h2o_buffer_consume(&c->sock->input, (size_t)reqlen);

    if (has_te || cl != 0) {
        store_h1body_t *b = calloc(1, sizeof(*b));
        size_t cap = has_te || cl > STORE_H1BODY_BUFFER ? STORE_H1BODY_BUFFER : (size_t)cl;
        if (b == NULL || (b->buf = malloc(cap)) == NULL) {
            free(b);
            send_plain_error(c, 503, "Service Unavailable", "out of memory");
            return;
        }
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        b->refs = 1;
        b->cap = cap;
        b->length = has_te ? UINT64_MAX : cl;
        b->wait_ms = c->super.ctx->globalconf->http1.req_timeout * 4 > 60000 ? c->super.ctx->globalconf->http1.req_timeout * 4 : 60000;
        b->rx = &loop_rx;
        b->conn = c;
        c->body = b;
        c->chunked = has_te;
        c->cl_left = cl;
        c->expect = expect.base != NULL;
        if (has_te)
            store_h1chunked_init(&c->dec);
        c->phase = P_BODY;
        req->timestamps.request_body_begin_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    } else {
        if (has_cl)
            req->entity = h2o_iovec_init("", 0); /* Content-Length: 0 is a body, an empty one (as in h2o) */
        c->phase = P_WAIT;
        c->body_done = 1;
        set_timeout(c, NULL);
        h2o_socket_read_stop(c->sock);
    }
    h2o_process_request(req);
    /* the handler may have answered already (the write completes later, never in this call) */
    if (c->phase == P_BODY)
        pump_body(c);
}

/* moves body bytes from the socket's input into the ring, as many as fit; reads on, pauses or ends reading accordingly */
static void pump_body(h1conn_t *c)
{
    store_h1body_t *b = c->body;
    int bad = 0, progress = 0;
    const char *why = NULL;
    pthread_mutex_lock(&b->lock);
    while (!c->body_done && b->len != b->cap && c->sock->input->size != 0) {
        size_t room = b->cap - b->len, tail = (b->head + b->len) % b->cap;
        if (room > b->cap - tail)
            room = b->cap - tail; /* up to the ring's end; the next round wraps */
        const char *data = c->sock->input->bytes;
        size_t n, used;
        if (!c->chunked) {
            n = c->sock->input->size;
            if (n > c->cl_left)
                n = (size_t)c->cl_left;
            if (n > room)
                n = room;
            used = n;
            c->cl_left -= n;
            if (c->cl_left == 0)
                c->body_done = 1;
        } else {
            int r = store_h1chunked_decode(&c->dec, c->sock->input->bytes, c->sock->input->size, room, &used, &data, &n);
            if (r == STORE_H1CHUNKED_ERROR) {
                bad = 1;
                why = c->dec.error;
                break;
            }
            if (r == STORE_H1CHUNKED_DONE)
                c->body_done = 1;
        }
        if (n != 0) {
            memcpy(b->buf + tail, data, n);
            b->len += n;
            c->body_bytes += n;
            progress = 1;
        }
        h2o_buffer_consume(&c->sock->input, used);
        if (used == 0 && n == 0)
            break;
    }
    if (c->body_done)
        b->eof = 1;
    if (bad)
        b->failed = 1;
    b->paused = !c->body_done && !bad && b->len == b->cap;
    int paused = b->paused;
    if (progress || c->body_done || bad)
        pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);

    if (bad) {
        (void)why; /* the store thread sees a failed read; the client gets no answer (its framing is broken) */
        conn_close(c);
        return;
    }
    if (c->body_done) {
        c->phase = P_WAIT;
        set_timeout(c, NULL);
        h2o_socket_read_stop(c->sock);
    } else if (paused) {
        set_timeout(c, NULL); /* the store thread is behind, not the client */
        h2o_socket_read_stop(c->sock);
    } else if (c->expect && !c->continue_sent) {
        set_timeout(c, NULL); /* the client waits for our 100 Continue: the wait is ours, not the client's */
        if (!h2o_socket_is_reading(c->sock))
            h2o_socket_read_start(c->sock, on_read);
    } else {
        if (progress || !h2o_timeout_is_linked(&c->timeout))
            set_timeout(c, on_idle_timeout);
        if (!h2o_socket_is_reading(c->sock))
            h2o_socket_read_start(c->sock, on_read);
    }
}

/* reads and drops the rest of a body nobody reads, then closes (the answer said Connection: close) */
static void drain_body(h1conn_t *c)
{
    size_t before = c->sock->input->size;
    while (!c->body_done && c->sock->input->size != 0) {
        size_t used, n;
        const char *data;
        if (!c->chunked) {
            used = c->sock->input->size < c->cl_left ? c->sock->input->size : (size_t)c->cl_left;
            c->cl_left -= used;
            c->body_done = c->cl_left == 0;
        } else {
            int r = store_h1chunked_decode(&c->dec, c->sock->input->bytes, c->sock->input->size, SIZE_MAX, &used, &data, &n);
            if (r == STORE_H1CHUNKED_ERROR)
                break;
            c->body_done = r == STORE_H1CHUNKED_DONE;
        }
        h2o_buffer_consume(&c->sock->input, used);
        c->drained += used;
        if (used == 0)
            break;
    }
    if (c->body_done || c->drained > DRAIN_MAX || c->dec.error != NULL) {
        conn_close(c);
        return;
    }
    if (c->sock->input->size != before)
        set_timeout(c, on_idle_timeout);
}

/* ---- wake-ups from the readers --------------------------------------------------------------------------------------------- */

static void write_bufs(h1conn_t *c, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state);

static void on_continue_sent(h2o_socket_t *sock, const char *err)
{
    h1conn_t *c = sock->data;
    c->writing = 0;
    if (err != NULL) {
        conn_close(c);
        return;
    }
    if (c->stash.pending) {
        c->stash.pending = 0;
        write_bufs(c, c->stash.bufs, c->stash.cnt, c->stash.state);
    }
}

static void on_body_event(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        store_h1body_t *b = H2O_STRUCT_FROM_MEMBER(store_h1body_t, msg.link, messages->next);
        h2o_linklist_unlink(&b->msg.link);
        pthread_mutex_lock(&b->lock);
        b->notify_queued = 0;
        int started = b->started;
        pthread_mutex_unlock(&b->lock);
        h1conn_t *c = b->conn;
        if (c != NULL && c->body == b) {
            if (c->expect && started && !c->continue_sent && !c->sent_headers && !c->writing) {
                static h2o_iovec_t cont = {H2O_STRLIT("HTTP/1.1 100 Continue\r\n\r\n")};
                c->continue_sent = 1;
                c->writing = 1;
                h2o_socket_write(c->sock, &cont, 1, on_continue_sent);
                set_timeout(c, on_idle_timeout); /* now the body is the client's to send */
            }
            if (c->phase == P_BODY)
                pump_body(c);
        }
        store_h1body_release(b);
    }
}

/* ---- the response ------------------------------------------------------------------------------------------------------------ */

static void on_send_next(h2o_socket_t *sock, const char *err)
{
    h1conn_t *c = sock->data;
    c->writing = 0;
    if (err != NULL) {
        conn_close(c);
        return;
    }
    h2o_proceed_response(&c->req);
}

static void on_send_done(h2o_socket_t *sock, const char *err)
{
    h1conn_t *c = sock->data;
    c->writing = 0;
    if (err == NULL && !c->body_done && !(c->expect && !c->continue_sent) && (c->chunked || c->cl_left <= DRAIN_MAX)) {
        detach_body(c);
        c->phase = P_DRAIN;
        c->drained = 0;
        set_timeout(c, on_idle_timeout);
        h2o_socket_read_start(c->sock, on_read);
        drain_body(c);
        return;
    }
    if (err != NULL || !c->keepalive || !c->body_done) {
        conn_close(c);
        return;
    }
    c->req.timestamps.response_end_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    dispose_req(c);
    init_req(c);
    start_head(c); /* a pipelined request may be waiting in the input already */
}

static size_t flatten_head(h1conn_t *c, char *dst, size_t cap)
{
    h2o_req_t *req = &c->req;
    h2o_timestamp_t ts;
    size_t n;
    h2o_get_timestamp(c->super.ctx, &req->pool, &ts);
    n = (size_t)snprintf(dst, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: %s\r\n", req->res.status, req->res.reason,
                         ts.str->rfc1123, c->keepalive ? "keep-alive" : "close");
    if (req->res.content_length != SIZE_MAX && !(req->res.status == 204 || req->res.status == 304 || req->res.status < 200))
        n += (size_t)snprintf(dst + n, cap - n, "Content-Length: %zu\r\n", req->res.content_length);
    else if (c->res_chunked)
        n += (size_t)snprintf(dst + n, cap - n, "Transfer-Encoding: chunked\r\n");
    for (size_t i = 0; i != req->res.headers.size; ++i) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        memcpy(dst + n, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        n += h->name->len;
        dst[n++] = ':';
        dst[n++] = ' ';
        memcpy(dst + n, h->value.base, h->value.len);
        n += h->value.len;
        dst[n++] = '\r';
        dst[n++] = '\n';
    }
    dst[n++] = '\r';
    dst[n++] = '\n';
    return n;
}

static void write_bufs(h1conn_t *c, h2o_iovec_t *inbufs, size_t cnt, h2o_send_state_t state)
{
    h2o_req_t *req = &c->req;
    h2o_iovec_t *bufs = h2o_mem_alloc_pool(&req->pool, sizeof(*bufs) * (cnt * 3 + 2));
    size_t n = 0;
    if (!c->sent_headers) {
        int status = req->res.status;
        c->res_nobody = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")) || status == 204 ||
                        status == 304 || status < 200;
        /* the connection stays only if the request's body is entirely out of the socket */
        c->keepalive = req->http1_is_persistent && c->body_done && !c->super.ctx->shutdown_requested;
        if (!c->res_nobody && req->res.content_length == SIZE_MAX) {
            if (req->version >= 0x101)
                c->res_chunked = 1;
            else
                c->keepalive = 0; /* HTTP/1.0: the close ends the body */
        }
        size_t cap = 200 + H2O_TIMESTR_RFC1123_LEN + strlen(req->res.reason);
        for (size_t i = 0; i != req->res.headers.size; ++i)
            cap += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
        char *head = h2o_mem_alloc_pool(&req->pool, cap);
        bufs[n++] = h2o_iovec_init(head, flatten_head(c, head, cap));
        c->sent_headers = 1;
        req->timestamps.response_start_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    }
    if (state == H2O_SEND_STATE_ERROR)
        c->keepalive = 0;
    if (!c->res_nobody) {
        for (size_t i = 0; i != cnt; ++i) {
            if (inbufs[i].len == 0)
                continue;
            if (!req->bytes_counted_by_ostream)
                req->bytes_sent += inbufs[i].len;
            if (c->res_chunked) {
                char *sz = h2o_mem_alloc_pool(&req->pool, 20);
                bufs[n++] = h2o_iovec_init(sz, (size_t)snprintf(sz, 20, "%zx\r\n", inbufs[i].len));
                bufs[n++] = inbufs[i];
                bufs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n"));
            } else {
                bufs[n++] = inbufs[i];
            }
        }
        if (c->res_chunked && state == H2O_SEND_STATE_FINAL)
            bufs[n++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
    }
    c->writing = 1;
    h2o_socket_write(c->sock, bufs, n, h2o_send_state_is_in_progress(state) ? on_send_next : on_send_done);
}

static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state)
{
    h1conn_t *c = H2O_STRUCT_FROM_MEMBER(h1conn_t, ostr, self);
    if (c->writing) {
        /* 100 Continue is on its way: this goes after it (the buffers stay valid until the response proceeds) */
        c->stash.pending = 1;
        c->stash.bufs = h2o_mem_alloc_pool(&req->pool, sizeof(*bufs) * (cnt + 1));
        if (cnt != 0) /* a final send without data passes bufs NULL */
            memcpy(c->stash.bufs, bufs, sizeof(*bufs) * cnt);
        c->stash.cnt = cnt;
        c->stash.state = state;
        return;
    }
    write_bufs(c, bufs, cnt, state);
}

/* ---- accepting ---------------------------------------------------------------------------------------------------------------- */

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((h1conn_t *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((h1conn_t *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((h1conn_t *)conn)->sock;
}

#define TLS_LOGGER(name)                                                                                                           \
    static h2o_iovec_t log_##name(h2o_req_t *req)                                                                                  \
    {                                                                                                                              \
        return h2o_socket_log_ssl_##name(((h1conn_t *)req->conn)->sock, &req->pool);                                               \
    }
TLS_LOGGER(protocol_version)
TLS_LOGGER(session_reused)
TLS_LOGGER(cipher)
TLS_LOGGER(cipher_bits)
TLS_LOGGER(session_id)
#undef TLS_LOGGER

static h2o_iovec_t log_request_index(h2o_req_t *req)
{
    char *s = h2o_mem_alloc_pool(&req->pool, 24);
    return h2o_iovec_init(s, (size_t)snprintf(s, 24, "%llu", (unsigned long long)((h1conn_t *)req->conn)->req_index));
}

static const h2o_conn_callbacks_t conn_callbacks = {
    get_sockname,
    get_peername,
    NULL,
    get_socket,
    NULL,
    {{{log_protocol_version, log_session_reused, log_cipher, log_cipher_bits, log_session_id}, {log_request_index}, {NULL}}}};

int store_http1_is_conn(h2o_conn_t *conn)
{
    return conn != NULL && conn->callbacks == &conn_callbacks;
}

store_h1body_t *store_http1_body(h2o_req_t *req)
{
    if (!store_http1_is_conn(req->conn))
        return NULL;
    h1conn_t *c = (h1conn_t *)req->conn;
    if (&c->req != req || c->body == NULL)
        return NULL;
    pthread_mutex_lock(&c->body->lock);
    ++c->body->refs;
    pthread_mutex_unlock(&c->body->lock);
    return c->body;
}

static void accept_http1(h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval connected_at)
{
    if (!loop_rx.registered) {
        h2o_multithread_register_receiver(actx->ctx->queue, &loop_rx.receiver, on_body_event);
        loop_rx.registered = 1;
    }
    h1conn_t *c = (h1conn_t *)h2o_create_connection(sizeof(*c), actx->ctx, actx->hosts, connected_at, &conn_callbacks);
    memset((char *)c + sizeof(c->super), 0, offsetof(h1conn_t, req) - sizeof(c->super));
    c->sock = sock;
    c->actx = actx;
    sock->data = c;
    init_req(c);
    start_head(c);
}

typedef struct tls_accept {
    h2o_accept_ctx_t *actx;
    h2o_socket_t *sock;
    struct timeval at;
    h2o_timeout_entry_t timeout;
} tls_accept_t;

static void on_handshake_timeout(h2o_timeout_entry_t *entry)
{
    tls_accept_t *t = H2O_STRUCT_FROM_MEMBER(tls_accept_t, timeout, entry);
    h2o_socket_t *sock = t->sock;
    free(t);
    h2o_socket_close(sock);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    tls_accept_t *t = sock->data;
    h2o_accept_ctx_t *actx = t->actx;
    struct timeval at = t->at;
    h2o_timeout_unlink(&t->timeout);
    free(t);
    sock->data = NULL;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    for (const h2o_iovec_t *id = h2o_http2_alpn_protocols; id->len != 0; ++id) {
        if (proto.len == id->len && memcmp(proto.base, id->base, proto.len) == 0) {
            h2o_http2_accept(actx, sock, at);
            return;
        }
    }
    accept_http1(actx, sock, at);
}

void store_http1_accept(h2o_accept_ctx_t *actx, h2o_socket_t *sock)
{
    struct timeval at = *h2o_get_timestamp(actx->ctx, NULL, NULL);
    if (actx->ssl_ctx == NULL) {
        accept_http1(actx, sock, at);
        return;
    }
    tls_accept_t *t = malloc(sizeof(*t));
    if (t == NULL) {
        h2o_socket_close(sock);
        return;
    }
    *t = (tls_accept_t){actx, sock, at, {0}};
    t->timeout.cb = on_handshake_timeout;
    h2o_timeout_link(actx->ctx->loop, &actx->ctx->handshake_timeout, &t->timeout);
    sock->data = t;
    h2o_socket_ssl_handshake(sock, actx->ssl_ctx, NULL, on_handshake);
}
