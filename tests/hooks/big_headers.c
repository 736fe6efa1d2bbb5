/* tests/hooks/big_headers.c - test plugin: adds header fields to the response (response events) or the request (request events),
 * as many as the request's x-big-count header says, each with a value of x-big-size bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_hook.h"

static size_t number(const edge_host_t *host, edge_ctx_t *ctx, const char *name)
{
    edge_header_t h;
    char buf[32];
    if (host->header_get(ctx, EDGE_MSG_REQUEST, name, strlen(name), 0, &h) != 0 || h.value.len >= sizeof(buf))
        return 0;
    memcpy(buf, h.value.ptr, h.value.len);
    buf[h.value.len] = '\0';
    return (size_t)strtoul(buf, NULL, 10);
}

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    int msg = event == EDGE_ORIGIN_RESPONSE || event == EDGE_VIEWER_RESPONSE ? EDGE_MSG_RESPONSE : EDGE_MSG_REQUEST;
    size_t count = number(host, ctx, "x-big-count"), size = number(host, ctx, "x-big-size");
    char *value = host->alloc(ctx, size + 1);
    if (value == NULL)
        return EDGE_FAIL;
    memset(value, 'c', size);
    for (size_t i = 0; i != count; ++i) {
        char name[32];
        int n = snprintf(name, sizeof(name), "X-Big-%zu", i);
        if (host->header_add(ctx, msg, name, (size_t)n, value, size) != 0)
            return EDGE_FAIL;
    }
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN("big-headers", "1.0", EDGE_ALL_EVENTS, NULL, on_event, NULL);
