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
} hookcall_result_t;

/** fills a request event from the h2o request (Host from :authority, headers in order, body if include_body) */
void hookcall_request_event(h2o_req_t *req, struct edge_txn *txn, int type, hook_fn_t *fn, h2o_iovec_t client_ip, hook_event_t *ev);
/** writes a request event's uri, querystring, headers and body back into the h2o request */
void hookcall_apply_request(h2o_req_t *req, const hook_event_t *ev);
/** runs fn; records `label` in the transaction's hook log; returns what to do and, for HOOKCALL_ERROR, the status in *status */
hookcall_result_t hookcall_run(struct edge_txn *txn, hook_fn_t *fn, const char *label, hook_event_t *ev, h2o_mem_pool_t *pool,
                               int *status);
/** converts hook headers to h2o headers (names interned as tokens when known) in pool */
void hookcall_to_h2o_headers(h2o_mem_pool_t *pool, const hook_headers_t *src, h2o_headers_t *dst);
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
