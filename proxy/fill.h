/* proxy/fill.h - a fill: one origin fetch that writes its response into a cache object, which any number of clients read. A fill
 * outlives the request that started it when its response is stored (the cache gets it even if that client leaves); a
 * passed-through response stops with its last reader. */
#ifndef EDGE_PROXY_FILL_H
#define EDGE_PROXY_FILL_H

#include <h2o.h>
#include "cache/disk.h"
#include "cache/memory.h"
#include "cache/object.h"
#include "cache/partial.h"
#include "cache/policy.h"
#include "proxy/origin.h"
#include "proxy/parents.h"
#include "hooks/hooks.h"
#include "proxy/hookcall.h"

/** what to fetch; everything is copied by fill_start */
typedef struct fill_request {
    h2o_iovec_t method;
    h2o_iovec_t path; /* path and query as the origin should see them, before the origin's path prefix */
    const h2o_headers_t *headers; /* the client's request headers (hop-by-hop ones are dropped here; a cache fill forwards only
                                     what cache/forward.h allows) */
    h2o_iovec_t body; /* base NULL: the request has none; a cache fill (a GET) does not forward one */
    h2o_iovec_t authority;
    h2o_iovec_t client_ip;
    int client_https;
    h2o_iovec_t request_id;
    h2o_iovec_t host; /* fill_build_origin_headers: the Host to send (an origin-request hook set it); base NULL: the origin's */
    h2o_iovec_t distribution_id, distribution_domain; /* what origin events show as config.distributionId and
                                                         distributionDomainName (len 0: the defaults of hookcall_request_t) */
} fill_request_t;

/** how the response is to be cached; NULL for a pass-through */
typedef struct fill_cache {
    cache_mem_t *mem;
    cache_policy_t policy; /* a copy: a fill may outlive the configuration generation it started in (so policy.forward, which
                              the generation owns, is read in fill_start only and cleared in the fill's copy) */
    uint64_t max_object_size;
    cache_obj_t *stale; /* revalidate this stored response (conditional request); borrowed, the fill takes a reference */
    int insert;         /* the object is not in the index yet (a miss that did not collapse): insert it when storable */
    cache_partial_t *partial; /* cache.ranges forward: the request's Range goes to the origin, and a 206 is stored as a part
                                 there (cache/partial.h); NULL: a fill asks for the whole */
    uint64_t partial_epoch;   /* cache_partial_epoch() when the request looked up */
    h2o_iovec_t range;        /* with partial: the client's Range value (copied) */
} fill_cache_t;

/** the hooks a fill runs (origin-request before it fetches, origin-response on the head); the fill holds references */
typedef struct fill_hooks {
    hook_fn_t *origin_request;
    hook_fn_t *origin_response;
    hook_head_limits_t limits; /* the caps on the heads they return (hookcall_limits) */
} fill_hooks_t;

typedef struct fill {
    cache_obj_t *obj; /* holds a reference */
    origin_t *origin; /* where the fetch goes (a reference) */
    origin_req_t *oreq;
    h2o_mem_pool_t pool;
    cache_waiter_t producer;
    fill_cache_t cache;
    const char **origin_name_out; /* fill_start's out parameter, while fill_start runs */
    cache_disk_stream_t *disk_stream; /* a body too big for memory, written to the disk tier as it arrives (NULL: none) */

    /** the request the origin gets: the client's, copied (the fill may outlive it), as the origin-request hook leaves it */
    struct fill_req {
        h2o_iovec_t method, path, client_ip, request_id, authority, body; /* path: with the query, before the origin's prefix */
        h2o_iovec_t distribution_id, distribution_domain;                 /* fill_request_t's */
        h2o_iovec_t host; /* the Host an origin-request hook set (it changed the one it was shown); base NULL: the origin's */
        int client_https;
        h2o_headers_t headers;        /* the request headers the origin gets (before the proxy's own): the client's, filtered by
                                         the behavior's forwarding rules when the response may be stored (cache/forward.h), then
                                         as the origin-request hook returns them; what the origin-request event shows, and what
                                         the storage rules read (Authorization) */
        h2o_headers_t vary_headers;   /* copy of the client's request headers: the secondary key (Vary) of the stored response
                                         is computed from them, as lookups compute it from the next client's */
        h2o_headers_t custom_headers; /* the origin's customHeaders set by the origin-request hook, sent to the origin */
    } req;

    /** the origin-request and origin-response hooks */
    struct fill_hooks_state {
        hook_fn_t *request, *response; /* references */
        origin_t *default_origin;      /* what the origin-request event shows (the behavior's origin); a reference */
        hook_origin_t chosen;          /* request.origin as the origin-request hook left it (kind NONE: no hook ran), which the
                                          origin-response event shows; in the fill's pool */
        hookcall_t call;               /* the hook call in progress (proxy/hookcall.h) */
        unsigned fetches_seen[2];      /* the call's fetch counts already given to the object (record_hook_fetches) */
        hook_head_limits_t limits;     /* the caps on what the hooks return */
        /* the response head an origin-response call that completes later was given, and how the origin ended meanwhile */
        struct {
            int pending, status, origin_done, origin_status;
            h2o_iovec_t reason;
            h2o_headers_t headers;
            int64_t content_length;
            const char *origin_err;
            /* the hook's origin_body: the body is read whole (into body, content_length bytes at most) before the hook runs */
            int buffering;
            h2o_iovec_t body;
        } ores;
    } hooks;

    /** an S3 origin's 403 or 5xx: its error document is read for the error log, and the viewers get a short body instead */
    struct fill_s3_error {
        int active, status;
        h2o_iovec_t reason, request_id;
        char doc[2048]; /* the start of the error document (<Error><Code>..</Code><Message>..</Message>) */
        size_t doc_len;
    } s3err;

    /** tiered caching: a cache miss of an origin with parents goes to them first, in rendezvous order (proxy/parents.h) */
    struct fill_tier {
        int planned;   /* order was computed */
        int current;   /* the parent the fetch goes to (an index of origin->parents), -1: the origin */
        size_t num, next; /* parents in order, and the position of the one tried now */
        unsigned char order[PARENTS_MAX];
    } tier;

    /** a 206 to a forwarded Range (cache.ranges forward) that is to be stored as a part, once its body is whole */
    struct fill_part {
        int active;
        uint64_t first, last, complete;
        h2o_iovec_t etag;
        h2o_headers_t headers; /* what the part keeps of the head (in the pool) */
        cache_decision_t decision;
        h2o_iovec_t *tags;
        size_t num_tags;
        char *body; /* malloc'd, last - first + 1 bytes */
        uint64_t received;
    } part;

    /** how the response is going */
    struct fill_progress {
        int origin_status;
        int transient; /* passed through: not stored, read by the readers it has */
        int paused;    /* the origin read waits for the slowest reader (FILL_PASS_WINDOW) */
        int stored, revalidated;
        int done_early; /* the object was completed before the origin's response ended (a 304 to a revalidation) */
        uint64_t received;
        int64_t request_time_ms;
    } progress;
} fill_t;

/**
 * Starts filling `obj` (BUSY) for `req`: the origin-request hook first, if any (it may rewrite the request, pick another origin,
 * or answer: its answer is stored like an origin's; a hook call may complete later, proxy/hookcall.h), then
 * the fetch from `origin` with the origin-response hook. With `cache` (the response may be stored), the request headers are
 * first reduced to what cache->policy.forward allows (the hook sees that list, and what it returns is sent as it is) and the
 * request body is not sent. A stored response never keeps Set-Cookie (cache_policy_shareable_headers()): not even the client
 * that caused the fetch gets it then, since the other readers share the same head. Everything of req is copied, and
 * cache->policy.forward is not kept. The fill frees itself when done. *origin_name gets the name of the origin the fetch goes
 * to when that is known before fill_start returns (unchanged otherwise). Returns nothing: the object reports the outcome
 * (FAILED, with a status, when the fill could not start).
 */
void fill_start(origin_t *origin, const fill_request_t *req, cache_obj_t *obj, const fill_cache_t *cache, const fill_hooks_t *hooks,
                   const char **origin_name);
/** builds the headers sent to the origin from the client's: Host (req->host, else the origin's), the client's headers without
 * hop-by-hop ones, X-Forwarded-For, X-Forwarded-Proto, Via */
void fill_build_origin_headers(h2o_mem_pool_t *pool, origin_t *origin, const fill_request_t *req, h2o_headers_t *out);

/** bytes a passed-through response may run ahead of its slowest reader before the origin read pauses */
#define FILL_PASS_WINDOW (1024 * 1024)
/** how long a key whose response was not cacheable skips request collapsing (Varnish's hit-for-miss) */
#define FILL_HIT_FOR_MISS_MS 120000

#endif
