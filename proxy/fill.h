/* proxy/fill.h - a fill: one origin fetch that writes its response into a cache object, which any number of clients read. It
 * outlives the request that started it when the response is being stored; a passed-through response stops with its reader. */
#ifndef EDGE_PROXY_FILL_H
#define EDGE_PROXY_FILL_H

#include <h2o.h>
#include "cache/object.h"
#include "proxy/origin.h"

struct fill;

/** what to fetch; everything is copied by fill_start */
typedef struct fill_request {
    h2o_iovec_t method;
    h2o_iovec_t path; /* path and query as the origin should see them, before the origin's path prefix */
    const h2o_headers_t *headers; /* the client's request headers (hop-by-hop ones are dropped here) */
    h2o_iovec_t body;
    h2o_iovec_t client_ip;
    int client_https;
    h2o_iovec_t request_id;
} fill_request_t;

/** decisions a fill asks of its owner (the pipeline with the cache), all on the fill's thread */
typedef struct fill_ops {
    /**
     * the response head arrived; returns 1 when the object may be stored and shared, 0 to pass it through to the one client.
     * May adjust nothing; storage bookkeeping happens in the callbacks.
     */
    int (*on_head)(struct fill *f, int status, const h2o_header_t *headers, size_t num_headers, int64_t content_length);
    /** the fill ended: ok (complete), or failed */
    void (*on_end)(struct fill *f, int ok);
} fill_ops_t;

typedef struct fill {
    cache_obj_t *obj; /* holds a reference */
    origin_t *origin;
    origin_req_t *oreq;
    const fill_ops_t *ops;
    void *data;
    h2o_mem_pool_t pool;
    cache_waiter_t producer;
    int transient;
    int paused;
    uint64_t received;
    int64_t request_time_ms;
    int origin_status;
} fill_t;

/**
 * Starts fetching `req` from `origin` into `obj` (BUSY). With ops NULL the response is passed through (never stored). Returns the
 * fill, which frees itself when done.
 */
fill_t *fill_start(origin_t *origin, const fill_request_t *req, cache_obj_t *obj, const fill_ops_t *ops, void *data);
/** builds the headers sent to the origin from the client's (shared with the tests) */
void fill_build_origin_headers(h2o_mem_pool_t *pool, origin_t *origin, const fill_request_t *req, h2o_headers_t *out);

/** bytes a passed-through response may run ahead of its slowest reader before the origin read pauses */
#define FILL_PASS_WINDOW (1024 * 1024)

#endif
