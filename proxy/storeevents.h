/* proxy/storeevents.h - the embedded store's events on the server's side: notifications go to the async queue
 * (proxy/lambdaasync.h), a write purges the cached copies of what it replaced (cache/memory.h: store tags), and hooks reach the
 * store without HTTP (edge.s3.get/head/put/delete/list: a hook's fetch of an `edge-s3:` URL, answered here). */
#ifndef EDGE_PROXY_STORE_EVENTS_H
#define EDGE_PROXY_STORE_EVENTS_H

#include <h2o.h>
#include "cache/object.h"
#include "hooks/hooks.h"
#include "proxy/origin.h"

typedef struct store store_t;

/** plugs the queue and the cache into the store's notifications (after lambda_async_start and the cache's creation) */
void storeevents_start(store_t *store);

/** a fill from the embedded store: tags obj with the object's (bucket, key) from the origin request path (after signing) */
void storeevents_tag_fill(cache_obj_t *obj, origin_t *origin, h2o_iovec_t path);

/** the URL scheme of edge.s3's requests */
#define STOREEVENTS_SCHEME "edge-s3:"
/**
 * Answers one edge.s3 request of call c (f: its fetch, method GET/HEAD/PUT/DELETE/LIST; bucket and key in the x-edge-s3-bucket
 * and x-edge-s3-key headers) on the control thread (the store's I/O blocks): done(arg) runs later on this worker's loop once f
 * has its answer (status 200/204/404/400/503/500 with a body and headers). Returns a handle for storeevents_hook_op_cancel, or
 * NULL when f was answered at once (status 0 and an error; done does not run).
 */
void *storeevents_hook_op(hook_call_t *c, hook_fetch_t *f, h2o_mem_pool_t *pool, void (*done)(void *arg), void *arg);
/** the call is gone: done will not run (the operation itself, already under way, finishes) */
void storeevents_hook_op_cancel(void *job);

/** the notification metrics (Prometheus text) */
void storeevents_metrics(h2o_buffer_t **buf);

#endif
