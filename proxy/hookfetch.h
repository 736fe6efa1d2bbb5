/* proxy/hookfetch.h - edge.fetch on the server's side: the requests a parked hook call made (hooks/hooks.h: hook_fetch_t) go out
 * through the origin client (proxy/origin.h: pooled connections, verified TLS, its timeouts) on the worker's event loop, each
 * checked against the hook's fetch_allow, bounded by its timeout and the call's, and with a cap on the answer's size. */
#ifndef EDGE_PROXY_HOOKFETCH_H
#define EDGE_PROXY_HOOKFETCH_H

#include <h2o.h>
#include "hooks/hooks.h"

/** the largest body a fetch returns to a hook: a larger answer fails the fetch ("too large") */
#define HOOKFETCH_MAX_BODY (1024 * 1024)

typedef struct hookfetch hookfetch_t;

/**
 * Starts the fetches of the parked call c (answers into hook_call_fetch_pool(c)); `done(arg)` runs once all have an answer, later,
 * on this worker thread. Denied or malformed ones are answered at once. Never calls done from inside hookfetch_start.
 */
hookfetch_t *hookfetch_start(hook_call_t *c, void (*done)(void *arg), void *arg);
/** stops the fetches still in flight (counted as failed); done never runs */
void hookfetch_cancel(hookfetch_t *f);

#endif
