/* proxy/reqfsm.c - the loop that runs a request's steps. */
#include <stddef.h>
#include "proxy/reqfsm.h"

void reqfsm_run(const req_step_fn *steps, req_step_t *step, void *txn)
{
    req_step_t s = *step;
    while (s < REQ_NUM_STEPS) {
        *step = s;
        s = steps[s](txn);
    }
    *step = (req_step_t)(s & ~REQ_WAITING);
}

const char *reqfsm_step_name(req_step_t step)
{
    static const char *const names[REQ_NUM_STEPS + 1] = {
        [REQ_RECV] = "recv",
        [REQ_DEFER] = "defer",
        [REQ_VIEWER_REQUEST] = "viewer-request",
        [REQ_VIEWER_REQUEST_DONE] = "viewer-request-done",
        [REQ_LOOKUP] = "lookup",
        [REQ_HIT] = "hit",
        [REQ_STALE_HIT] = "stale-hit",
        [REQ_MISS] = "miss",
        [REQ_MISS_UNCOLLAPSED] = "miss-uncollapsed",
        [REQ_PASS] = "pass",
        [REQ_DELIVER] = "deliver",
        [REQ_RESTART] = "restart",
        [REQ_HEAD] = "head",
        [REQ_VIEWER_RESPONSE] = "viewer-response",
        [REQ_VIEWER_RESPONSE_DONE] = "viewer-response-done",
        [REQ_SEND] = "send",
        [REQ_DONE] = "done",
    };
    return (unsigned)step <= REQ_NUM_STEPS && names[step] != NULL ? names[step] : "?";
}
