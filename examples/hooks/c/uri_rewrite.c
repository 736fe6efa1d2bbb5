/* examples/hooks/c/uri_rewrite.c - native hook: pretty URLs (/about/ and /about -> /about/index.html) and a legacy prefix
 * (/blog/... -> /articles/...), in viewer-request or origin-request. */
#include <string.h>
#include "edge_hook.h"

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    edge_str_t uri;
    if (host->get(ctx, EDGE_FIELD_URI, &uri) != 0 || uri.len == 0)
        return EDGE_CONTINUE;
    static const char old_prefix[] = "/blog/", new_prefix[] = "/articles/", index[] = "index.html";
    size_t skip = 0, plen = 0;
    if (uri.len >= sizeof(old_prefix) - 1 && memcmp(uri.ptr, old_prefix, sizeof(old_prefix) - 1) == 0) {
        skip = sizeof(old_prefix) - 1;
        plen = sizeof(new_prefix) - 1;
    }
    /* does the last segment have an extension? */
    const char *last = uri.ptr + uri.len;
    while (last > uri.ptr && last[-1] != '/')
        --last;
    int has_ext = memchr(last, '.', (size_t)(uri.ptr + uri.len - last)) != NULL;
    int slash = uri.ptr[uri.len - 1] == '/';
    if (skip == 0 && has_ext)
        return EDGE_CONTINUE;
    size_t len = plen + (uri.len - skip) + (has_ext ? 0 : (slash ? 0 : 1) + sizeof(index) - 1);
    char *out = host->alloc(ctx, len);
    if (out == NULL)
        return EDGE_FAIL;
    size_t o = 0;
    if (plen != 0) {
        memcpy(out, new_prefix, plen);
        o = plen;
    }
    memcpy(out + o, uri.ptr + skip, uri.len - skip);
    o += uri.len - skip;
    if (!has_ext) {
        if (!slash)
            out[o++] = '/';
        memcpy(out + o, index, sizeof(index) - 1);
        o += sizeof(index) - 1;
    }
    host->set(ctx, EDGE_FIELD_URI, out, o);
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN("uri-rewrite", "1.0", EDGE_EVENT_BIT(EDGE_VIEWER_REQUEST) | EDGE_EVENT_BIT(EDGE_ORIGIN_REQUEST), NULL, on_event,
                 NULL);
