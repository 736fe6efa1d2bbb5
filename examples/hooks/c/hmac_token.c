/* examples/hooks/c/hmac_token.c - native hook: signed URLs. A request needs ?expires=UNIX&token=HEX where
 * HEX = hex(HMAC-SHA256(secret, uri + ":" + expires)) and expires is in the future; otherwise 403 (viewer-request).
 * config: {"secret": "..."} or {"secret_env": "NAME"} (the secret is read from that environment variable at load). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "edge_hook.h"

typedef struct state {
    char secret[256];
    size_t secret_len;
} state_t;

/* the string value of "key" in a flat JSON object (enough for this plugin's config; no escapes) */
static int json_get(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        ++p;
    if (*p++ != '"')
        return -1;
    size_t n = 0;
    while (*p != '\0' && *p != '"' && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
    return (int)n;
}

static int init(const edge_host_t *host, const char *config, size_t len, void **out, char *err, size_t errlen)
{
    state_t *s = calloc(1, sizeof(*s));
    char env[128];
    if (s == NULL)
        return -1;
    if (json_get(config, "secret", s->secret, sizeof(s->secret)) <= 0) {
        const char *v = json_get(config, "secret_env", env, sizeof(env)) > 0 ? getenv(env) : NULL;
        if (v == NULL || *v == '\0' || strlen(v) >= sizeof(s->secret)) {
            snprintf(err, errlen, "hmac_token: config needs \"secret\" or \"secret_env\" naming a set variable");
            free(s);
            return -1;
        }
        strcpy(s->secret, v);
    }
    s->secret_len = strlen(s->secret);
    *out = s;
    return 0;
}

/* the value of `name` in a query string, or NULL */
static const char *query_param(edge_str_t qs, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = qs.ptr, *end = qs.ptr + qs.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *len = (size_t)(stop - p - nl - 1);
            return p + nl + 1;
        }
        p = stop + 1;
    }
    return NULL;
}

static edge_action_t deny(const edge_host_t *host, edge_ctx_t *ctx, const char *why)
{
    host->respond(ctx, 403, "Forbidden", 9, why, strlen(why));
    host->header_add(ctx, EDGE_MSG_RESPONSE, "Content-Type", 12, "text/plain", 10);
    return EDGE_RESPOND;
}

static edge_action_t on_event(void *state, const edge_host_t *host, edge_ctx_t *ctx, edge_event_t event)
{
    state_t *s = state;
    edge_str_t uri, qs;
    size_t elen = 0, tlen = 0;
    host->get(ctx, EDGE_FIELD_URI, &uri);
    host->get(ctx, EDGE_FIELD_QUERYSTRING, &qs);
    const char *expires = query_param(qs, "expires", &elen), *token = query_param(qs, "token", &tlen);
    if (expires == NULL || token == NULL || elen == 0 || elen > 20)
        return deny(host, ctx, "missing expires or token\n");
    char ebuf[24];
    memcpy(ebuf, expires, elen);
    ebuf[elen] = '\0';
    for (size_t i = 0; i != elen; ++i)
        if (!isdigit((unsigned char)ebuf[i]))
            return deny(host, ctx, "bad expires\n");
    if (strtoll(ebuf, NULL, 10) < (long long)time(NULL))
        return deny(host, ctx, "expired\n");
    /* message = uri ":" expires, in the request arena */
    char *msg = host->alloc(ctx, uri.len + 1 + elen);
    if (msg == NULL)
        return EDGE_FAIL;
    memcpy(msg, uri.ptr, uri.len);
    msg[uri.len] = ':';
    memcpy(msg + uri.len + 1, expires, elen);
    unsigned char mac[32];
    size_t maclen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, s->secret, s->secret_len, (unsigned char *)msg, uri.len + 1 + elen, mac,
                  sizeof(mac), &maclen) == NULL)
        return EDGE_FAIL;
    char hex[65];
    for (size_t i = 0; i != maclen; ++i)
        snprintf(hex + i * 2, 3, "%02x", mac[i]);
    if (tlen != maclen * 2 || CRYPTO_memcmp(hex, token, tlen) != 0)
        return deny(host, ctx, "bad token\n");
    return EDGE_CONTINUE;
}

static void fini(void *state)
{
    free(state);
}

EDGE_HOOK_PLUGIN("hmac-token", "1.0", EDGE_EVENT_BIT(EDGE_VIEWER_REQUEST), init, on_event, fini);
