/* tests/hooks/garbage.c - test plugin that returns garbage: an action that does not exist (viewer events), or answers
 * EDGE_RESPOND without a response (origin-request), or sets a status out of range (origin-response). Each must be a 502. */
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    switch (event) {
    case EDGE_ORIGIN_REQUEST:
        return EDGE_RESPOND; /* no host->respond() before */
    case EDGE_ORIGIN_RESPONSE:
        host->set_status(ctx, 42);
        return EDGE_CONTINUE;
    default:
        return (edge_action_t)12345;
    }
}

EDGE_HOOK_PLUGIN("garbage", "1", EDGE_ALL_EVENTS, NULL, on_event, NULL);
