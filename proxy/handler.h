/* proxy/handler.h - the request pipeline: viewer-request hook, cache lookup, origin-request hook and fetch (collapsed),
 * origin-response hook, store, viewer-response hook, delivery from the cache object. */
#ifndef EDGE_PROXY_HANDLER_H
#define EDGE_PROXY_HANDLER_H

#include <h2o.h>
#include "cache/memory.h"
#include "cache/disk.h"
#include "cache/partial.h"
#include "cache/object.h"
#include "proxy/gen.h"
#include "proxy/hookcall.h"
#include "proxy/reqfsm.h"

/** what the cache did for a request: the access log's cache= field, the X-Cache header and the cache metrics, from one table
 * (handler.c) */
typedef enum edge_cache_status {
    EDGE_CACHE_NONE = 0,       /* not decided (answered before the cache): "-" in the log, no X-Cache */
    EDGE_CACHE_HIT,            /* X-Cache: Hit */
    EDGE_CACHE_REFRESH_HIT,    /* a stored response revalidated with a 304; X-Cache: RefreshHit */
    EDGE_CACHE_MISS,           /* X-Cache: Miss */
    EDGE_CACHE_STALE_HIT,      /* stale-while-revalidate; X-Cache: Hit */
    EDGE_CACHE_STALE_IF_ERROR, /* the stored response instead of the origin's error; X-Cache: Hit */
    EDGE_CACHE_PASS,           /* not cacheable; X-Cache: Miss */
    EDGE_CACHE_GENERATED,      /* answered by a viewer-request hook; no X-Cache */
    EDGE_CACHE_ERROR,          /* an error of ours (5xx); X-Cache: Error */
    EDGE_CACHE_NUM_STATUSES
} edge_cache_status_t;

/** the name of a status for the access log (Hit, RefreshHit, Miss, StaleHit, StaleIfError, Pass, Generated, Error), NULL for
 * EDGE_CACHE_NONE */
const char *handler_cache_status_name(edge_cache_status_t status);

/** the length of a request id (x-request-id, the access log, config.requestId of hook events): CloudFront's, 40 bytes in
 * base64url with padding */
#define HANDLER_REQUEST_ID_LEN 56

/** per request, allocated from req->pool; found again by the logger through the prefilter list. The request goes through the
 * steps of proxy/reqfsm.h; the parts below are what each side of it keeps. */
typedef struct edge_txn {
    h2o_req_prefilter_t super; /* first: the logger finds the transaction by its on_setup_ostream */
    h2o_req_t *req;
    struct server_worker *worker;
    edge_gen_t *gen;           /* the configuration generation the request runs in (a reference) */
    edge_behavior_t *behavior; /* the cache behavior its path matched */
    req_step_t step;           /* where it is: the step that runs next, or REQ_DONE */

    /** the viewer and what it asked */
    struct edge_txn_viewer {
        h2o_iovec_t request_id;
        h2o_iovec_t client_ip; /* looked up on first use (handler_client_ip) */
        uint64_t started_us;
        int head_only;                   /* a HEAD request */
        int cf_added;                    /* the behavior's CloudFront-* headers are in req->headers (proxy/cfheaders.h) */
        h2o_timeout_entry_t defer_entry; /* REQ_DEFER */
    } viewer;

    /** the viewer-side hooks (origin-request and origin-response run in the fill) */
    struct edge_txn_hooks {
        hookcall_t call; /* viewer-request, then viewer-response: their results stay valid until the request ends */
        char log[256];   /* what the access log lists: "vreq:NAME@VERSION,..." */
        size_t log_len;
        unsigned fetches_logged[2]; /* the call's fetches and failed ones already in the list (hooks_log_fetches) */
    } hooks;

    /** the cache lookup */
    struct edge_txn_lookup {
        h2o_iovec_t key, url;
        uint64_t hash;
        int cacheable;      /* the behavior caches and the method is GET or HEAD */
        int restarts;       /* lookups again after an object that could not serve this request */
        int disk_tried;     /* the disk tier was asked once: a restart does not read it again */
        cache_obj_t *found; /* REQ_HIT, REQ_STALE_HIT: the stored object to serve; REQ_MISS: the stale one to revalidate (or NULL);
                               a reference the step takes over */
        edge_cache_status_t cache_status;
    } lookup;

    /** the origin fetch (proxy/fill.c) */
    struct edge_txn_fetch {
        int leader;              /* this request started the fill of the object it reads */
        const char *origin_name; /* for the access log */
        const char *ores_label;  /* the origin-response hook version the fill runs */
        size_t oreq_log_at;      /* the end of the origin-request hook's entry in hooks.log, until its fetches are written there */
    } fetch;

    /** the response: the object read, the head decided, the body's progress */
    struct edge_txn_out {
        h2o_generator_t generator;
        cache_obj_t *obj; /* holds a reference until the request is disposed */
        cache_reader_t reader;
        cache_waiter_t waiter;
        uint64_t pos, end, sent_to;
        int head_sent;
        int resp_status, not_modified; /* REQ_HEAD's decisions, for REQ_SEND */
        int status;                    /* the status sent */
    } out;

    /** a custom error response (`error_pages`): the page is being fetched in place of an error the origin gave */
    struct edge_txn_errpage {
        const conf_error_page_t *page; /* the entry (in txn->gen's configuration); NULL: none */
        int orig_status;               /* the error it replaces */
    } errpage;

    /** flow control: HTTP/2 output pacing, and the worker's watch over slow readers (handler.c, stall watch) */
    struct edge_txn_flow {
        h2o_timeout_entry_t pace_entry; /* HTTP/2: the body waits while the connection's output backlog is high */
        h2o_socket_t *h2_sock;          /* HTTP/2: the connection's socket, and its bytes_written when the body began */
        size_t h2_written_base;
        uint64_t h2_pos_base;
        h2o_linklist_t watch_link; /* a delivering body is on its worker's watch list */
        int64_t progress_ms;       /* when the client last took body bytes (or the body began) */
        uint64_t acked;            /* HTTP/1: the bytes its connection had acknowledged then (handler.c, stall watch) */
    } flow;
} edge_txn_t;

/** registers the pipeline handler and the logger that ends each transaction on the main host's pathconf */
void handler_register(h2o_pathconf_t *pathconf);

/**
 * What a viewer sent, checked before anything routes it (the proxy's handler, and the guard in front of the store and admin
 * handlers): the raw HTTP/1 head (reqcheck_http1_head), on HTTP/2 the :method, header names and values (they become an HTTP/1.1
 * head for the origin), and the header list against limits.max_request_headers / max_request_header_size (target and
 * authority included). The target itself is not looked at. Returns 0, or the status to answer (400, 431, 505) with *reason (a
 * static string) and *metric (a METRIC_REFUSED_* of proxy/metrics.h) set.
 */
int handler_check_head(h2o_req_t *req, const conf_t *conf, const char **reason, int *metric);

/** the client's address as text, in the request's pool; looked up on first use and kept in the transaction */
h2o_iovec_t handler_client_ip(edge_txn_t *txn);

/** the shared cache (created by the server) */
extern cache_mem_t *handler_cache;
/** the disk tier (cache/disk.h), NULL without cache.disk */
extern cache_disk_t *handler_disk;
/** the stored parts of 206 responses (cache.ranges: forward at start; NULL otherwise), cache/partial.h */
extern cache_partial_t *handler_partial;

#endif
