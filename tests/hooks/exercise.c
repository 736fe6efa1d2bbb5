/* tests/hooks/exercise.c - test plugin that drives the host API by the request's x-test header: generated responses,
 * origin selection (with sslProtocols, as a 1.0 plugin, and where the request went at origin-response), body replacement, read-only
 * and disallowed headers, EDGE_FAIL, and its config from init. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_hook.h"

typedef struct state {
    char greeting[64];
} state_t;

static int init(const edge_host_t *host, const char *config, size_t len, void **out, char *err, size_t errlen)
{
    state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    /* a deliberately tiny "parser": the value of "greeting" if the config has one */
    const char *g = strstr(config, "\"greeting\":\"");
    if (g != NULL) {
        g += 12;
        size_t n = 0;
        while (g[n] != '\0' && g[n] != '"' && n + 1 < sizeof(s->greeting))
            ++n;
        memcpy(s->greeting, g, n);
    } else {
        strcpy(s->greeting, "hello");
    }
    if (strstr(config, "\"fail_init\"") != NULL) {
        free(s);
        strncpy(err, "asked to fail", errlen - 1);
        return -1;
    }
    *out = s;
    return 0;
}

static int is(edge_header_t *h, const char *v)
{
    return h->value.len == strlen(v) && memcmp(h->value.ptr, v, h->value.len) == 0;
}

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    state_t *s = state;
    edge_header_t t;
    if (host->header_get(ctx, EDGE_MSG_REQUEST, "x-test", 6, 0, &t) != 0)
        return EDGE_CONTINUE;
    if (is(&t, "respond")) {
        host->respond(ctx, 403, "Forbidden", 9, s->greeting, strlen(s->greeting));
        host->header_add(ctx, EDGE_MSG_RESPONSE, "Content-Type", 12, "text/plain", 10);
        return EDGE_RESPOND;
    }
    if (is(&t, "origin") || is(&t, "origin-1.0") || is(&t, "origin-badssl")) {
        edge_header_t ch = {{"x-secret", 8}, {"X-Secret", 8}, {"s3cr3t", 6}};
        edge_origin_t o;
        memset(&o, 0, sizeof(o));
        o.size = sizeof(o);
        o.kind = EDGE_ORIGIN_CUSTOM;
        o.domain_name = (edge_str_t){"backup.example.com", 18};
        o.protocol = (edge_str_t){"https", 5};
        o.port = 443;
        o.read_timeout = 10;
        o.num_custom_headers = 1;
        o.custom_headers = &ch;
        o.ssl_protocols = EDGE_SSL_TLSV1_2 | EDGE_SSL_TLSV1_3;
        if (is(&t, "origin-1.0"))
            o.size = offsetof(edge_origin_t, ssl_protocols); /* a plugin built against ABI 1.0 */
        else if (is(&t, "origin-badssl"))
            o.ssl_protocols = 64;
        return host->set_origin(ctx, &o) == 0 ? EDGE_CONTINUE : EDGE_FAIL;
    }
    if (is(&t, "origin-seen")) {
        /* origin-response: where the request went */
        edge_origin_t o;
        char buf[300];
        memset(&o, 0, sizeof(o));
        o.size = sizeof(o);
        if (host->get_origin(ctx, &o) != 0)
            return EDGE_FAIL;
        int n = snprintf(buf, sizeof(buf), "%.*s:%u", (int)o.domain_name.len, o.domain_name.ptr, o.ssl_protocols);
        host->header_set(ctx, EDGE_MSG_RESPONSE, "X-Origin-Seen", 13, buf, (size_t)n);
        return EDGE_CONTINUE;
    }
    if (is(&t, "rewrite")) {
        char *uri = host->alloc(ctx, 64);
        memcpy(uri, "/rewritten", 10);
        host->set(ctx, EDGE_FIELD_URI, uri, 10);
        host->set(ctx, EDGE_FIELD_QUERYSTRING, "a=1", 3);
        host->header_set(ctx, EDGE_MSG_REQUEST, "X-Greeting", 10, s->greeting, strlen(s->greeting));
        return EDGE_CONTINUE;
    }
    if (is(&t, "readonly")) {
        host->header_set(ctx, EDGE_MSG_REQUEST, "Host", 4, "evil.example", 12);
        return EDGE_CONTINUE;
    }
    if (is(&t, "disallowed")) {
        host->header_add(ctx, event >= EDGE_ORIGIN_RESPONSE ? EDGE_MSG_RESPONSE : EDGE_MSG_REQUEST, "Connection", 10, "close", 5);
        return EDGE_CONTINUE;
    }
    if (is(&t, "fail")) {
        host->fail(ctx, "exercise: asked to fail", 23);
        return EDGE_FAIL;
    }
    if (is(&t, "body") && event == EDGE_ORIGIN_RESPONSE) {
        host->set_status(ctx, 201);
        host->set(ctx, EDGE_FIELD_RESPONSE_BODY, "replaced", 8);
        return EDGE_CONTINUE;
    }
    if (is(&t, "origin-body") && event == EDGE_ORIGIN_RESPONSE) {
        /* ABI 1.7: the origin's body (when the host read it), replaced by "seen:" + it; offload is denied outside the proxy */
        edge_str_t b;
        int r = host->get(ctx, EDGE_FIELD_ORIGIN_BODY, &b);
        const char *off = host->offload(ctx) == EDGE_E_DENIED ? "denied" : "moved";
        host->header_add(ctx, EDGE_MSG_RESPONSE, "X-Offload", 9, off, strlen(off));
        if (r == EDGE_E_NOTFOUND) {
            host->header_add(ctx, EDGE_MSG_RESPONSE, "X-Origin-Body", 13, "none", 4);
            return EDGE_CONTINUE;
        }
        char *out = host->alloc(ctx, b.len + 5);
        memcpy(out, "seen:", 5);
        memcpy(out + 5, b.ptr, b.len);
        host->set(ctx, EDGE_FIELD_RESPONSE_BODY, out, b.len + 5);
        return EDGE_CONTINUE;
    }
    if (is(&t, "origin-body-set") && event == EDGE_ORIGIN_RESPONSE) {
        host->set(ctx, EDGE_FIELD_ORIGIN_BODY, "x", 1); /* read-only: 502 */
        return EDGE_CONTINUE;
    }
    if (is(&t, "status")) {
        host->set_status(ctx, 418); /* allowed in origin-response, not in viewer-response */
        return EDGE_CONTINUE;
    }
    return EDGE_CONTINUE;
}

static void fini(void *state)
{
    free(state);
}

EDGE_HOOK_PLUGIN("exercise", "1.0", EDGE_ALL_EVENTS, init, on_event, fini);
