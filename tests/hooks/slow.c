/* tests/hooks/slow.c - test plugin that blocks for 300 ms: C cannot be stopped, so the call is answered 503 as timed out. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <time.h>
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN("slow", "1", EDGE_ALL_EVENTS, NULL, on_event, NULL);
