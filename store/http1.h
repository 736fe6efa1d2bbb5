/* store/http1.h - the store listener's own HTTP/1.1 connections: request bodies streamed to the store threads as they arrive
 *
 * libh2o 2.2.5's HTTP/1 server buffers a whole request body before it calls a handler. The store listener does not use it: its
 * connections are served here (TLS through h2o's socket layer; ALPN h2 and the h2c preface go to h2o's HTTP/2, where bodies stay
 * buffered). A request head is parsed with picohttpparser and checked strictly (the server's head check, see
 * store_http1_configure), becomes an h2o_req_t of a connection of this file and runs through h2o_process_request, so the
 * handlers and their responses are h2o's as usual. Its body is not read into req->entity: the store handler takes it with
 * store_http1_body() and a store thread reads it with store_h1body_read() while the connection receives it into a bounded
 * buffer (STORE_H1BODY_BUFFER per request); the socket is not read while that buffer is full (backpressure).
 *
 * `Expect: 100-continue`: `100 Continue` is sent when the body is first read, i.e. after the store authenticated and accepted
 * the request; an answer sent before (403, EntityTooLarge, ...) goes without it. A response that leaves the body unread in the
 * socket closes the connection.
 */
#ifndef EDGE_STORE_HTTP1_H
#define EDGE_STORE_HTTP1_H

#include <stdint.h>
#include <h2o.h>

/** what a request's body may keep buffered between the socket and the store thread that reads it */
#define STORE_H1BODY_BUFFER (1u << 20)
/** over HTTP/2 (h2o buffers request bodies whole there): the largest store request body; a larger one has its stream refused */
#define STORE_H2_MAX_BODY (64ull << 20)
/** the largest request head (request line and header fields) */
#define STORE_H1_MAX_HEAD 65536

typedef struct store_http1_conf {
    /* an extra check of the raw head (buf, len: the whole head with its empty line): 0, or the status (400, 505) and a reason */
    int (*check_head)(const char *buf, size_t len, const char **reason);
} store_http1_conf_t;

/** sets what every store connection uses; call before any store loop accepts */
void store_http1_configure(const store_http1_conf_t *conf);

/** serves an accepted socket of the store listener (instead of h2o_accept): TLS handshake if ctx->ssl_ctx, then HTTP/1.1 here or
 * HTTP/2 (ALPN h2, or the h2c preface) in h2o */
void store_http1_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock);

/** 1 if conn is a connection of this file */
int store_http1_is_conn(h2o_conn_t *conn);

typedef struct store_h1body store_h1body_t;

/** the streamed body of req, with a reference the caller releases (NULL: no body, or not a connection of this file) */
store_h1body_t *store_http1_body(h2o_req_t *req);
/** the Content-Length of the body, or UINT64_MAX for `Transfer-Encoding: chunked` */
uint64_t store_h1body_length(store_h1body_t *b);
/**
 * On a store thread: waits for body bytes and copies up to max of them into buf. Returns the number copied, 0 at the end of the
 * body, -1 if it will not come (the client went away, sent a malformed chunked body or nothing for the idle timeout).
 */
long store_h1body_read(store_h1body_t *b, void *buf, size_t max);
/** drops a reference (any thread) */
void store_h1body_release(store_h1body_t *b);

#endif
