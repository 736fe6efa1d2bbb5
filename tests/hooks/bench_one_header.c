/* tests/hooks/bench_one_header.c - the benchmark's native hook: a viewer-response that adds one header. */
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    host->header_add(ctx, EDGE_MSG_RESPONSE, "Strict-Transport-Security", 25, "max-age=63072000", 16);
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN("bench-one-header", "1", EDGE_EVENT_BIT(EDGE_VIEWER_RESPONSE), NULL, on_event, NULL);
