/* proxy/hookcall.h - runs hooks at the four trigger points: builds Lambda@Edge events from h2o requests and responses, applies
 * what the hooks changed, answers generated responses and hook failures (502/503). */
#ifndef EDGE_PROXY_HOOKCALL_H
#define EDGE_PROXY_HOOKCALL_H

#include <h2o.h>
#include "hooks/hooks.h"

struct edge_txn;

/** the outcome of a trigger point for the pipeline */
typedef enum hookcall_result {
    HOOKCALL_CONTINUE = 0, /* go on (the request or response may have been changed) */
    HOOKCALL_RESPOND,      /* the hook generated a response: ev->response */
    HOOKCALL_ERROR,        /* answer `status` (502 invalid output, 503 error/timeout) */
    HOOKCALL_OFFLOADED,    /* the call outgrew its inline budget and runs again on an offload thread: the continuation follows */
} hookcall_result_t;

/** what a trigger point does with a result that comes back from an offload thread (ev lives in the job's memory) */
typedef void (*hookcall_cont_t)(struct edge_txn *txn, hook_event_t *ev, hookcall_result_t res, int status);
/** builds a trigger point's event afresh (a preempted call left the first one half changed) */
typedef void (*hookcall_build_t)(struct edge_txn *txn, hook_fn_t *fn, hook_event_t *ev);

/** fills a request event from the h2o request (Host from :authority, headers in order, body if include_body) */
void hookcall_request_event(h2o_req_t *req, struct edge_txn *txn, int type, hook_fn_t *fn, h2o_iovec_t client_ip, hook_event_t *ev);
/** writes a request event's uri, querystring, headers and body back into the h2o request */
void hookcall_apply_request(h2o_req_t *req, const hook_event_t *ev);
/**
 * Runs fn on ev; records `label` in the transaction's hook log; returns what to do and, for HOOKCALL_ERROR, the status in
 * *status. A Lua call that runs past OFFLOAD_INLINE_BUDGET_MS on the event loop is stopped and run again from an event that
 * `build` makes afresh on an offload thread: then HOOKCALL_OFFLOADED is returned, the caller returns, and `cont` runs with the
 * result when it is ready (not at all if the request has ended by then).
 */
hookcall_result_t hookcall_run(struct edge_txn *txn, hook_fn_t *fn, const char *label, hook_event_t *ev, h2o_mem_pool_t *pool,
                               int *status, hookcall_build_t build, hookcall_cont_t cont);
/**
 * Sets the caps on the heads a hook may leave in ev (hook_head_limits_t) from the configuration: limits.max_request_header_size
 * and limits.max_request_headers for requests, limits.max_response_header_size and HOOK_MAX_RESPONSE_HEADERS fields for
 * responses. hookcall_run does it for the events it runs; events run otherwise (fill.c) keep hook_event_init's defaults
 * unless their builder calls this.
 */
void hookcall_set_limits(hook_event_t *ev, const conf_t *conf);

/**
 * Normalises a path (with its query) that a hook returned the way a viewer's target is (proxy/reqcheck.h: dot segments, `//`,
 * %-encoding; `;` allowed, absolute URLs refused), into pool memory: the origin then reads the path the cache stores the
 * response under. Returns 0 with *path (and *query_at, when not NULL) updated, or 400 with *reason set.
 */
int hookcall_normalize_uri(h2o_mem_pool_t *pool, h2o_iovec_t *path, size_t *query_at, const char **reason);
/** maps an offload job's outcome to a result and a status */
hookcall_result_t hookcall_result_of(hook_status_t st, int *status);
/** the request ended: jobs still out are forgotten, those back are freed */
void hookcall_txn_done(struct edge_txn *txn);
/** converts hook headers to h2o headers (names interned as tokens when known) in pool */
void hookcall_to_h2o_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst);
/** the same for a response: the framing headers h2o writes itself (Content-Length, Transfer-Encoding, Date, hop-by-hop) are
 * dropped, the body's length decides them */
void hookcall_to_h2o_response_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst);
/** replaces `headers` (a response's, which the hook saw through hookcall_from_h2o_headers) with the hook's list `out`, keeping
 * the disallowed headers the hook could not see; a list the hook only appended to is extended in place */
void hookcall_apply_response_headers(h2o_mem_pool_t *pool, const hook_headers_t *out, h2o_headers_t *headers);
/** appends to dst the headers of orig that hooks never see (Lambda@Edge's disallowed list), after a hook rewrote a list */
void hookcall_keep_disallowed(h2o_mem_pool_t *pool, const h2o_header_t *orig, size_t n, h2o_headers_t *dst);
/** converts h2o headers to hook headers without copying the bytes; disallowed headers are left out */
void hookcall_from_h2o_headers(h2o_mem_pool_t *pool, const h2o_header_t *src, size_t n, hook_headers_t *dst);
/** records `event:NAME@VERSION` in the transaction's hook list (the access log's hooks= field) */
void hookcall_log(struct edge_txn *txn, int type, const char *label);
/**
 * The hook version this request runs at trigger point `type` (NULL when the behavior has none): the binding's version, or for
 * a split alias the one the viewer's sticky key (client IP, cookie or header) lands on. *label gets "NAME@VERSION".
 */
hook_fn_t *hookcall_pick(struct edge_txn *txn, int type, const char **label);

#endif
