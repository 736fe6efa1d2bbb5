/* proxy/reqfsm.h - the steps of a request through the proxy, and the loop that runs them. Each step is one function that does
 * its part and returns the next step; a step that has to wait (a hook call that completes later, a fetch the response waits for,
 * the next loop tick) returns REQ_WAIT_AT(step), and whoever ends the wait runs the loop again from there. */
#ifndef EDGE_PROXY_REQFSM_H
#define EDGE_PROXY_REQFSM_H

/*
 * The steps (proxy/handler.c). "~>" marks a wait: the loop stops, and whoever ends the wait runs it again from there.
 *
 *   RECV --(refused, 404, 405, 413)--> DONE
 *     |-- HTTP/2 --> DEFER ~> next loop tick ~> VIEWER_REQUEST
 *     `-- HTTP/1 --> VIEWER_REQUEST
 *   VIEWER_REQUEST --(no hook)--> LOOKUP
 *     `-- hook call ~> its completion ~> VIEWER_REQUEST_DONE --(continue)--> LOOKUP
 *                                          `--(generated response, error)--> DONE
 *   LOOKUP --> HIT | STALE_HIT | MISS | MISS_UNCOLLAPSED | PASS --> DELIVER
 *   DELIVER --(object busy)~> the object's head ~> DELIVER
 *     |-- (failed, no stale copy) --> DONE
 *     |-- (failed, stale-if-error) --> HEAD
 *     |-- (not shareable, other variant) --> RESTART --> LOOKUP (or DONE after MAX_RESTARTS)
 *     `--> HEAD --(412, 416)--> DONE
 *           `--> VIEWER_RESPONSE --(no hook, origin error)--> SEND
 *                 `-- hook call ~> its completion ~> VIEWER_RESPONSE_DONE --> SEND (or DONE with 502/503)
 *   SEND --> DONE (the body streams on: h2o's proceed and the object's waiter drive it, not the steps)
 */
typedef enum req_step {
    REQ_RECV = 0,             /* checks what the viewer sent, picks the behavior */
    REQ_DEFER,                /* HTTP/2: go on one loop tick later (a stream reset in the same read never reaches an origin) */
    REQ_VIEWER_REQUEST,       /* runs the viewer-request hook, if any */
    REQ_VIEWER_REQUEST_DONE,  /* applies its result: the request rewritten, or a generated response, or an error */
    REQ_LOOKUP,               /* the cache: hit, stale, miss, hit-for-miss, or pass */
    REQ_HIT,                  /* serves the stored object found */
    REQ_STALE_HIT,            /* stale-while-revalidate: refreshes the object in the background, serves it stale */
    REQ_MISS,                 /* one fetch per key (or a revalidation of the stale object found); others wait for it */
    REQ_MISS_UNCOLLAPSED,     /* a fetch for this request alone (the key recently gave an uncacheable response) */
    REQ_PASS,                 /* not cacheable: a fetch for this request, never stored */
    REQ_DELIVER,              /* waits for the object's head: then the head, a stale-if-error fallback, an error or a restart */
    REQ_RESTART,              /* the object cannot serve this request (not shareable, another variant): look up again */
    REQ_HEAD,                 /* the response head from the object: conditionals, Range, Age, X-Cache */
    REQ_VIEWER_RESPONSE,      /* runs the viewer-response hook, if any */
    REQ_VIEWER_RESPONSE_DONE, /* applies its result */
    REQ_SEND,                 /* the head goes out; the body follows as the object fills and the client takes it */
    REQ_NUM_STEPS,
    REQ_DONE = REQ_NUM_STEPS, /* the request is answered (or its answer is streaming): the loop stops */
} req_step_t;

/** a step that waits returns REQ_WAIT_AT(the step to go on with); the loop stops there */
#define REQ_WAITING 0x100
#define REQ_WAIT_AT(step) ((req_step_t)((step) | REQ_WAITING))

/** one step: does its part for `txn` and returns the next step, REQ_WAIT_AT(next) or REQ_DONE */
typedef req_step_t (*req_step_fn)(void *txn);

/**
 * Runs steps from *step: each step's return value is the next, until one returns REQ_DONE or REQ_WAIT_AT(s). *step is then
 * REQ_DONE or s, where the next reqfsm_run goes on. `steps` has REQ_NUM_STEPS entries.
 */
void reqfsm_run(const req_step_fn *steps, req_step_t *step, void *txn);

/** the name of a step ("recv", "viewer-request", ...), for logs and tests; "done" for REQ_DONE, "?" for anything else */
const char *reqfsm_step_name(req_step_t step);

#endif
