/* tests/hooks/s3_plugin.c - test plugin for host->s3 (ABI 1.6): on each S3 event (on_invoke), for an object KEY it writes
 * "c-out/KEY" (content-type text/plain, x-amz-meta-from: c) with the body "from C: " + the object's body, reads it back with a
 * GET and a HEAD, lists c-out/, deletes "c-out/KEY.tmp" (absent: 204), and fails (host->fail) if any answer is not as expected. */
#include <stdio.h>
#include <string.h>
#include "edge_hook.h"

typedef struct answer {
    int status;
    char body[512];
    size_t len;
    char etag[64], ctype[64], meta[64];
} answer_t;

static void on_done(edge_ctx_t *ctx, void *arg, const edge_fetch_response_t *r)
{
    answer_t *a = arg;
    (void)ctx;
    a->status = r->status;
    a->len = r->body.len < sizeof(a->body) - 1 ? r->body.len : sizeof(a->body) - 1;
    memcpy(a->body, r->body.ptr, a->len);
    a->body[a->len] = '\0';
    for (size_t i = 0; i != r->num_headers; ++i) {
        const edge_header_t *h = &r->headers[i];
        char *dst = NULL;
        if (h->name.len == 4 && memcmp(h->name.ptr, "etag", 4) == 0)
            dst = a->etag;
        else if (h->name.len == 12 && memcmp(h->name.ptr, "content-type", 12) == 0)
            dst = a->ctype;
        else if (h->name.len == 15 && memcmp(h->name.ptr, "x-amz-meta-from", 15) == 0)
            dst = a->meta;
        if (dst != NULL)
            snprintf(dst, 64, "%.*s", (int)h->value.len, h->value.ptr);
    }
}

/* one operation, waited for */
static int op(const edge_host_t *host, edge_ctx_t *ctx, int what, const char *bucket, const char *key, const char *body,
              const edge_header_t *headers, size_t nh, answer_t *a)
{
    edge_s3_request_t r = {.size = sizeof(r), .op = what};
    r.bucket = (edge_str_t){bucket, strlen(bucket)};
    if (what == EDGE_S3_LIST)
        r.prefix = (edge_str_t){key, strlen(key)};
    else
        r.key = (edge_str_t){key, strlen(key)};
    if (body != NULL)
        r.body = (edge_str_t){body, strlen(body)};
    r.headers = headers;
    r.num_headers = nh;
    memset(a, 0, sizeof(*a));
    if (host->s3(ctx, &r, on_done, a) != EDGE_OK || host->fetch_wait(ctx) != EDGE_OK)
        return -1;
    return a->status;
}

/* the first "name":"value" string after `after` in the JSON text (keys here have no escapes) */
static int find_str(const char *p, size_t len, const char *name, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    const char *s = memmem(p, len, pat, strlen(pat));
    if (s == NULL)
        return -1;
    s += strlen(pat);
    const char *e = memchr(s, '"', len - (size_t)(s - p));
    if (e == NULL || (size_t)(e - s) >= outlen)
        return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 0;
}

static edge_action_t fail(const edge_host_t *host, edge_ctx_t *ctx, const char *what, const answer_t *a)
{
    char msg[700];
    int n = snprintf(msg, sizeof(msg), "%s: status %d body %s", what, a->status, a->body);
    host->fail(ctx, msg, (size_t)n);
    return EDGE_FAIL;
}

static edge_action_t on_invoke(void *state, const edge_host_t *host, edge_ctx_t *ctx, const char *payload, size_t len,
                               edge_str_t *result)
{
    char bucket[64], key[256], out[300], body[600];
    answer_t a;
    (void)state;
    if (find_str(payload, len, "name", bucket, sizeof(bucket)) != 0 || find_str(payload, len, "key", key, sizeof(key)) != 0) {
        host->fail(ctx, "not an S3 event", 15);
        return EDGE_FAIL;
    }
    if (op(host, ctx, EDGE_S3_GET, bucket, key, NULL, NULL, 0, &a) != 200)
        return fail(host, ctx, "get", &a);
    snprintf(body, sizeof(body), "from C: %s", a.body);
    snprintf(out, sizeof(out), "c-out/%s", key);
    edge_header_t hs[2] = {{{"content-type", 12}, {"", 0}, {"text/plain", 10}}, {{"x-amz-meta-from", 15}, {"", 0}, {"c", 1}}};
    if (op(host, ctx, EDGE_S3_PUT, bucket, out, body, hs, 2, &a) != 200 || a.etag[0] != '"')
        return fail(host, ctx, "put", &a);
    if (op(host, ctx, EDGE_S3_GET, bucket, out, NULL, NULL, 0, &a) != 200 || strcmp(a.body, body) != 0 ||
        strcmp(a.ctype, "text/plain") != 0 || strcmp(a.meta, "c") != 0)
        return fail(host, ctx, "get back", &a);
    if (op(host, ctx, EDGE_S3_HEAD, bucket, out, NULL, NULL, 0, &a) != 200 || a.len != 0)
        return fail(host, ctx, "head", &a);
    if (op(host, ctx, EDGE_S3_LIST, bucket, "c-out/", NULL, NULL, 0, &a) != 200 || strstr(a.body, out) == NULL)
        return fail(host, ctx, "list", &a);
    snprintf(out, sizeof(out), "c-out/%s.tmp", key);
    if (op(host, ctx, EDGE_S3_DELETE, bucket, out, NULL, NULL, 0, &a) != 204)
        return fail(host, ctx, "delete", &a);
    if (op(host, ctx, EDGE_S3_GET, "no-such-bucket-here", "k", NULL, NULL, 0, &a) != 404)
        return fail(host, ctx, "get from a missing bucket", &a);
    result->ptr = "{\"ok\":true}";
    result->len = 11;
    return EDGE_CONTINUE;
}

EDGE_HOOK_PLUGIN_INVOKE("s3-plugin", "1", NULL, NULL, on_invoke);
