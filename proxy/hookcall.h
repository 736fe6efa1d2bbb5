/* proxy/hookcall.h - hook calls for the pipeline: one completion-based call API (hookcall_start), Lambda@Edge events from h2o
 * requests and responses, and what the hooks changed back into h2o's terms. */
#ifndef EDGE_PROXY_HOOKCALL_H
#define EDGE_PROXY_HOOKCALL_H

#include <h2o.h>
#include "hooks/hooks.h"

struct offload_job;
struct hookfetch;

/**
 * One hook call, completion-based: hookcall_start runs fn on an event and either finishes at once or goes on elsewhere and
 * reports later, on this thread, through `done`. The module knows nothing of who calls it (a request, a fill): it takes the
 * function, the event, the memory, the caps on what the hook returns, and a completion.
 *
 * A Lua call that runs past its inline budget (OFFLOAD_INLINE_BUDGET_MS) on the event loop is suspended where it is and goes on,
 * exactly once, on an offload thread (proxy/offload.h); that move is this module's business only. The caller sees a call that
 * completes later, as it will when hooks can wait for I/O.
 */
typedef struct hookcall hookcall_t;
/** a call that went on elsewhere has finished: call->status and call->ev hold its outcome */
typedef void (*hookcall_done_t)(hookcall_t *call, void *arg);

typedef enum hookcall_progress {
    HOOKCALL_DONE = 0, /* finished within hookcall_start: the outcome is in the call; `done` is not called */
    HOOKCALL_PENDING,  /* goes on elsewhere: `done` runs later on this thread, unless hookcall_cancel comes first */
} hookcall_progress_t;

struct hookcall {
    /* the outcome, once done */
    hook_status_t status; /* HOOK_CONTINUE, HOOK_RESPOND, HOOK_INVALID or HOOK_FAILED */
    int http_status;      /* HOOK_INVALID, HOOK_FAILED: the status to answer (502, 503), as the runtime's report gives it */
    hook_report_t rep;    /* the runtime's report (its strings valid as ev's) */
    hook_event_t *ev;     /* the event as the hook left it: the one given to hookcall_start, or one in the call's own memory
                             (valid until hookcall_cancel) */
    /* private */
    hookcall_done_t done;
    void *arg;
    hook_event_t *given;          /* the event given to hookcall_start */
    struct hook_call *running;    /* a call not finished yet: running elsewhere, or waiting for its fetches */
    struct offload_job *pending;  /* the job of a call that moved (it owns the call's memory from then on) */
    int at_offload;               /* the job is with the offload threads */
    struct hookfetch *fetch;      /* the fetches a parked call waits for */
    struct offload_job *finished; /* calls back from elsewhere, whose results are still in use */
    unsigned fetches, fetches_failed; /* edge.fetch requests answered for the calls so far (the access log) */
};

/** a call that has not started: zeroed memory is one too */
#define HOOKCALL_INIT                                                                                                              \
    {                                                                                                                              \
        0                                                                                                                          \
    }

/**
 * Runs fn on ev (memory from pool, which must outlive the call), holding its result to `limits` (copied into ev->limits; NULL
 * keeps them). One call at a time per hookcall_t; a finished one may be started again, and the results of the earlier calls stay
 * valid until hookcall_cancel.
 */
hookcall_progress_t hookcall_start(hookcall_t *call, hook_fn_t *fn, hook_event_t *ev, h2o_mem_pool_t *pool,
                                   const hook_head_limits_t *limits, hookcall_done_t done, void *arg);
/** the caller is going away: a pending call is abandoned (`done` never runs) and the memory of results is freed; the hookcall_t
 * may be started again. Does nothing to a call that never started. */
void hookcall_cancel(hookcall_t *call);
/** 1 while a call runs elsewhere or waits for its fetches */
static inline int hookcall_is_pending(const hookcall_t *call)
{
    return call->running != NULL;
}
/**
 * The hooks runtime and the offload receiver of this thread. A server worker's are found on their own
 * (server_worker_current()); other threads (tests) set theirs here first.
 */
void hookcall_thread_init(hook_thread_t *hooks, h2o_multithread_receiver_t *offload_receiver);

/** the caps on the heads a hook may leave (hook_head_limits_t) from the configuration: limits.max_request_header_size and
 * limits.max_request_headers for requests, limits.max_response_header_size and HOOK_MAX_RESPONSE_HEADERS fields for responses */
void hookcall_limits(const conf_t *conf, hook_head_limits_t *limits);

/** what a request event is made of: the request as the trigger point sees it (the viewer's, or the one a fill keeps) */
typedef struct hookcall_request {
    h2o_iovec_t request_id, authority, client_ip, method;
    h2o_iovec_t path; /* path and query */
    size_t query_at;  /* where '?' is in path, SIZE_MAX: none */
    const h2o_header_t *headers;
    size_t num_headers;
    h2o_iovec_t body; /* base NULL: none (or not shown at this trigger point) */
    /* config.distributionId and distributionDomainName (the configuration's `distribution:`); len 0: "edgehook" and the
     * viewer's Host (authority) */
    h2o_iovec_t distribution_id, distribution_domain;
} hookcall_request_t;

/**
 * Fills ev (hook_event_init) with the request part of a `type` event from `r`, pointing into r's memory (lists in pool): uri
 * and querystring from path, headers in order with Host from authority (disallowed headers left out), the body (at most
 * hook_size_limit(type)) when fn has include_body.
 */
void hookcall_request_event(h2o_mem_pool_t *pool, int type, hook_fn_t *fn, const hookcall_request_t *r, hook_event_t *ev);
/** the request part of an h2o request, for hookcall_request_event (no distribution identity: set it after) */
void hookcall_request_of(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t client_ip, hookcall_request_t *r);
/** writes a request event's uri, querystring, headers and body back into the h2o request */
void hookcall_apply_request(h2o_req_t *req, const hook_event_t *ev);

/**
 * Normalises a path (with its query) that a hook returned the way a viewer's target is (proxy/reqcheck.h: dot segments, `//`,
 * %-encoding; `;` allowed, absolute URLs refused), into pool memory: the origin then reads the path the cache stores the
 * response under. Returns 0 with *path (and *query_at, when not NULL) updated, or 400 with *reason set.
 */
int hookcall_normalize_uri(h2o_mem_pool_t *pool, h2o_iovec_t *path, size_t *query_at, const char **reason);
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

#endif
