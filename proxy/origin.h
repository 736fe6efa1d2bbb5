/* proxy/origin.h - origins and our own HTTP/1.1 origin client on h2o's socket API: keep-alive pools per worker thread with a
 * connection cap, separate connect / first-byte / idle-read timeouts, one retry on a stale pooled connection, strict response
 * framing (proxy/originhead.h: a badly framed head is a 502, a chunked body cut before its last chunk is an error, a connection
 * that received more than its responses is never reused), streaming with backpressure, verified TLS (H2O.md D1-D5). */
#ifndef EDGE_PROXY_ORIGIN_H
#define EDGE_PROXY_ORIGIN_H

#include <stdatomic.h>
#include <h2o.h>
#include "conf/config.h"

struct origin_thread;
struct s3_signer;

/** a place requests are sent to; shared by all worker threads (the pools inside are per thread) */
typedef struct origin {
    _Atomic uint32_t refcnt;
    char *name;
    int https;
    char *host;
    uint16_t port;
    h2o_iovec_t host_header; /* Host sent to the origin */
    char *sni;
    h2o_iovec_t path_prefix;
    uint64_t connect_timeout_ms, first_byte_timeout_ms, read_timeout_ms, keepalive_timeout_ms;
    unsigned max_connections, per_thread_max, retries;
    SSL_CTX *ssl_ctx;
    char *ca_file;          /* NULL: the system store */
    int tls_verify;         /* the certificate is checked (chain and name) */
    unsigned ssl_protocols; /* the TLS versions offered as bits of hooks/event.h's HOOK_SSL_* (the lowest is the minimum) */
    uint64_t serial;        /* unique per origin built in this process (a dynamic origin made from another names it) */
    struct s3_signer *s3;   /* S3 origins: signs each request (proxy/s3origin.c) */
    int pass_amz_headers;   /* S3 origins: x-amz-* response headers reach viewers (conf `pass_amz_headers`; proxy/fill.c) */
    struct parents *parents; /* tiered caching: cache misses go to these first (proxy/parents.h); NULL: none */
    struct origin_thread *threads;
    unsigned num_threads;
    _Atomic uint64_t *stats; /* ORIGIN_STAT_*: shared with the origins of the same name other generations built (base/series.h) */
} origin_t;
/* HEADS: response heads received; HEAD_US: their time to first byte summed, in microseconds (from the request's start: pool wait,
 * connect and TLS included) */
enum { ORIGIN_STAT_REQUESTS, ORIGIN_STAT_FAILURES, ORIGIN_STAT_CONNECTS, ORIGIN_STAT_HEADS, ORIGIN_STAT_HEAD_US, ORIGIN_STAT_NUM };

/**
 * Builds an origin from its config for `num_threads` workers. Returns NULL with a message in err (TLS setup). The returned origin
 * has refcnt 1.
 */
origin_t *origin_new(const conf_origin_t *conf, unsigned num_threads, char *err, size_t errlen);
/** what an origin is made of, for one built from explicit fields (a hook's dynamic origin, proxy/dynorigin.h) */
typedef struct origin_spec {
    int https;
    const char *host; /* where to connect */
    uint16_t port;
    const char *path_prefix; /* "" or "/prefix" */
    const char *host_header; /* NULL: host[:port] (the port when it is not the scheme's) */
    const char *sni;         /* NULL: host */
    const char *ca_file;     /* NULL: the system store */
    int tls_verify;
    unsigned ssl_protocols; /* HOOK_SSL_* bits: TLS versions from the lowest one set are offered (OpenSSL's security level may
                               still refuse the old ones); 0: TLS 1.2 and up */
    uint64_t connect_timeout_ms, first_byte_timeout_ms, read_timeout_ms, keepalive_timeout_ms;
    unsigned max_connections, retries;
} origin_spec_t;

/** the defaults of a dynamic origin: https on 443 of no host, verified, the timeouts and limits of an origin configured with none
 * given but a first-byte timeout equal to the read timeout and 64 connections per worker thread */
void origin_spec_init(origin_spec_t *spec, unsigned num_threads);
/** the spec an origin was built with; strings borrowed from o */
void origin_spec_of(const origin_t *o, origin_spec_t *spec);
/** an origin from a spec (strings copied); NULL with a message in err (TLS setup). refcnt 1 */
origin_t *origin_new_spec(const char *name, const origin_spec_t *spec, unsigned num_threads, char *err, size_t errlen);
/** an origin with explicit fields, the rest origin_spec_init's; timeouts in ms (0 = defaults) */
origin_t *origin_new_dynamic(const char *name, int https, const char *host, uint16_t port, const char *path_prefix,
                             uint64_t read_timeout_ms, uint64_t keepalive_timeout_ms, unsigned num_threads, char *err, size_t errlen);
void origin_addref(origin_t *o);
/** drops a reference; the last one frees the origin (only once no worker holds a pooled connection of it) */
void origin_release(origin_t *o);

typedef struct origin_req origin_req_t;

/** what the client reports; every callback runs on the worker thread that started the request */
typedef struct origin_req_callbacks {
    /**
     * the response head (1xx are dropped); headers (hop-by-hop and Content-Length removed) live until on_done; content_length:
     * the body's length, 0 for 204 and 304, for a HEAD the length a GET would have had, -1 when unknown (chunked, until close)
     */
    void (*on_head)(origin_req_t *req, int status, h2o_iovec_t reason, h2o_header_t *headers, size_t num_headers,
                    int64_t content_length);
    /** body bytes (decoded); the consumer may call origin_req_pause() */
    void (*on_body)(origin_req_t *req, const char *data, size_t len);
    /**
     * the end: err NULL when the response was complete; otherwise `status` is what a client that saw no head yet should get
     * (502 for connection failures and badly framed responses, 504 for timeouts) and err says why (static text, never bytes of
     * the origin's). After this, req is gone.
     */
    void (*on_done)(origin_req_t *req, int status, const char *err);
} origin_req_callbacks_t;

struct origin_req {
    void *data; /* for the caller */
};

/**
 * Sends a request. `path` is what goes on the request line (prefix included); headers are sent as given (the caller builds Host,
 * X-Forwarded-For, Via...); `body` is sent with a Content-Length and must stay valid until on_done. `idempotent` allows the retry
 * on a stale pooled connection. Must be called on a worker thread.
 */
origin_req_t *origin_req_start(origin_t *o, h2o_iovec_t method, h2o_iovec_t path, const h2o_header_t *headers, size_t num_headers,
                               h2o_iovec_t body, int idempotent, const origin_req_callbacks_t *cb, void *data);
/** stops reading the response (backpressure); the read timeout does not run while paused */
void origin_req_pause(origin_req_t *req);
void origin_req_resume(origin_req_t *req);
/** aborts the request; no callback runs afterwards (safe inside a callback) */
void origin_req_cancel(origin_req_t *req);

#endif
