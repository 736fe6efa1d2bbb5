/* tests/hooks/kv_reader.c - test plugin reading a kv store through host->kv_get (ABI 1.1): viewer-request answers 200 with
 * the value of the store named by the request's X-Store header (default "flags") at the key X-Key, 404 when absent, 403 when
 * the hook may not read that store; X-Key2 reads a second key into the response header X-Value2 (one snapshot per call). */
#include <stddef.h>
#include <string.h>
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    edge_header_t key, store, key2;
    edge_str_t val;
    const char *sname = "flags";
    size_t slen = 5;
    if (host->size < offsetof(edge_host_t, kv_get) + sizeof(host->kv_get)) {
        host->fail(ctx, "host too old", 12);
        return EDGE_FAIL;
    }
    if (host->header_get(ctx, EDGE_MSG_REQUEST, "x-key", 5, 0, &key) != EDGE_OK)
        return EDGE_CONTINUE;
    if (host->header_get(ctx, EDGE_MSG_REQUEST, "x-store", 7, 0, &store) == EDGE_OK)
        sname = store.value.ptr, slen = store.value.len;
    int r = host->kv_get(ctx, sname, slen, key.value.ptr, key.value.len, &val);
    if (r == EDGE_E_DENIED) {
        host->respond(ctx, 403, "Forbidden", 9, "denied", 6);
        return EDGE_RESPOND;
    }
    if (r == EDGE_E_NOTFOUND) {
        host->respond(ctx, 404, "Not Found", 9, "absent", 6);
        return EDGE_RESPOND;
    }
    host->respond(ctx, 200, "OK", 2, val.ptr, val.len);
    if (host->header_get(ctx, EDGE_MSG_REQUEST, "x-key2", 6, 0, &key2) == EDGE_OK &&
        host->kv_get(ctx, sname, slen, key2.value.ptr, key2.value.len, &val) == EDGE_OK)
        host->header_add(ctx, EDGE_MSG_RESPONSE, "X-Value2", 8, val.ptr, val.len);
    return EDGE_RESPOND;
}

EDGE_HOOK_PLUGIN("kv-reader", "1", EDGE_EVENT_BIT(EDGE_VIEWER_REQUEST), NULL, on_event, NULL);
