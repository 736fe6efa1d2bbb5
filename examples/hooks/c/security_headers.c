/* examples/hooks/c/security_headers.c - native hook: adds security headers to every response (viewer-response or origin-response).
 */
#include <string.h>
#include "edge_hook.h"

static const char *const headers[][2] = {
    {"Strict-Transport-Security", "max-age=63072000; includeSubdomains; preload"},
    {"Content-Security-Policy", "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"X-XSS-Protection", "1; mode=block"},
    {"Referrer-Policy", "same-origin"},
};

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    for (size_t i = 0; i != sizeof(headers) / sizeof(headers[0]); ++i)
        host->header_set(ctx, EDGE_MSG_RESPONSE, headers[i][0], strlen(headers[i][0]), headers[i][1], strlen(headers[i][1]));
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN("security-headers", "1.0", EDGE_EVENT_BIT(EDGE_VIEWER_RESPONSE) | EDGE_EVENT_BIT(EDGE_ORIGIN_RESPONSE), NULL,
                 on_event, NULL);
