/* tests/hooks/invoke_plugin.c - test plugin for generic invocations (ABI 1.4 on_invoke, no trigger point): answers
 * {"bytes": N, "payload": PAYLOAD} (the payload embedded as it came), logs a line through host->log, takes `alloc` bytes from
 * host->alloc when the payload contains "alloc", and fails with host->fail when it contains "fail". */
#include <stdio.h>
#include <string.h>
#include "edge_hook.h"

static edge_action_t on_invoke(void *state, const edge_host_t *host, edge_ctx_t *ctx, const char *payload, size_t len,
                               edge_str_t *result)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "invoke_plugin got %zu bytes", len);
    host->log(ctx, EDGE_LOG_INFO, line, (size_t)n);
    if (memmem(payload, len, "fail", 4) != NULL) {
        host->fail(ctx, "the payload asked to fail", 25);
        return EDGE_FAIL;
    }
    if (memmem(payload, len, "alloc", 5) != NULL && host->alloc(ctx, 3u << 20) == NULL) {
        host->fail(ctx, "no memory", 9);
        return EDGE_FAIL;
    }
    char *out = host->alloc(ctx, len + 64);
    if (out == NULL) {
        host->fail(ctx, "no memory", 9);
        return EDGE_FAIL;
    }
    n = snprintf(out, 64, "{\"bytes\": %zu, \"payload\": ", len);
    memcpy(out + n, payload, len);
    out[n + len] = '}';
    result->ptr = out;
    result->len = (size_t)n + len + 1;
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN_INVOKE("invoke-plugin", "1", NULL, NULL, on_invoke);
