/* hooks/host.c - the host functions (edge_host_t) that C plugins and the Lua bridge both use, and the final validation of a call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"
#include "hooks/internal.h"
#include "hooks/logtail.h"
#include "kv/kv.h"

void hook_ctx_invalid(struct edge_ctx *ctx, const char *fmt, ...)
{
    if (ctx->invalid)
        return;
    ctx->invalid = 1;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    char *p = h2o_mem_alloc_pool(ctx->pool, (size_t)n + 1);
    memcpy(p, buf, (size_t)n + 1);
    ctx->error = p;
}

static int is_request_event(const struct edge_ctx *ctx)
{
    return ctx->ev->type == HOOK_VIEWER_REQUEST || ctx->ev->type == HOOK_ORIGIN_REQUEST;
}

static h2o_iovec_t ctx_dup(struct edge_ctx *ctx, const char *s, size_t len)
{
    char *p = h2o_mem_alloc_pool(ctx->pool, len + 1);
    if (len != 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return h2o_iovec_init(p, len);
}

static int put(edge_str_t *out, h2o_iovec_t v)
{
    out->ptr = v.base != NULL ? v.base : "";
    out->len = v.len;
    return 0;
}

static int on_get(edge_ctx_t *ctx, int field, edge_str_t *out)
{
    if (ctx == NULL || out == NULL)
        return EDGE_E_INVALID;
    hook_event_t *ev = ctx->ev;
    int resp_visible = !is_request_event(ctx) || ctx->responding;
    switch (field) {
    case EDGE_FIELD_EVENT_TYPE: {
        const char *n = hook_event_type_name(ev->type);
        return put(out, h2o_iovec_init(n, strlen(n)));
    }
    case EDGE_FIELD_REQUEST_ID:
        return put(out, ev->request_id);
    case EDGE_FIELD_DISTRIBUTION_DOMAIN:
        return put(out, ev->distribution_domain_name);
    case EDGE_FIELD_DISTRIBUTION_ID:
        return put(out, ev->distribution_id);
    case EDGE_FIELD_CLIENT_IP:
        return put(out, ev->request.client_ip);
    case EDGE_FIELD_METHOD:
        return put(out, ev->request.method);
    case EDGE_FIELD_URI:
        return put(out, ev->request.uri);
    case EDGE_FIELD_QUERYSTRING:
        return put(out, ev->request.querystring);
    case EDGE_FIELD_REQUEST_BODY:
        if (!ev->request.body.present)
            return EDGE_E_NOTFOUND;
        put(out, ev->request.body.data);
        return ev->request.body.truncated ? 1 : 0;
    case EDGE_FIELD_STATUS_DESCRIPTION:
        return resp_visible ? put(out, ev->response.status_description) : EDGE_E_NOTFOUND;
    case EDGE_FIELD_RESPONSE_BODY:
        return resp_visible && ev->response.has_body ? put(out, ev->response.body) : EDGE_E_NOTFOUND;
    case EDGE_FIELD_ORIGIN_BODY:
        return ev->type == HOOK_ORIGIN_RESPONSE && ev->response.has_origin_body ? put(out, ev->response.origin_body)
                                                                                 : EDGE_E_NOTFOUND;
    }
    return EDGE_E_NOTFOUND;
}

static int deny(struct edge_ctx *ctx, const char *what)
{
    hook_ctx_invalid(ctx, "%s is read-only in %s", what, hook_event_type_name(ctx->ev->type));
    return EDGE_E_DENIED;
}

static int bad(struct edge_ctx *ctx, const char *fmt, const char *what)
{
    hook_ctx_invalid(ctx, fmt, what);
    return EDGE_E_INVALID;
}

static int valid_uri_part(const char *s, size_t len)
{
    if (len >= 8192)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '#' || c == 0x7f)
            return 0;
    }
    return 1;
}

static int set_locked(edge_ctx_t *ctx, int field, const char *value, size_t len)
{
    hook_event_t *ev = ctx->ev;
    int req_ev = is_request_event(ctx);
    if (value == NULL && len != 0)
        return bad(ctx, "%s: NULL value", "set");
    switch (field) {
    case EDGE_FIELD_URI:
        if (!req_ev)
            return deny(ctx, "uri");
        if (len == 0 || value[0] != '/' || !valid_uri_part(value, len))
            return bad(ctx, "%s must start with '/', be under 8192 bytes and have no spaces, controls or '#'", "uri");
        ev->request.uri = ctx_dup(ctx, value, len);
        return 0;
    case EDGE_FIELD_QUERYSTRING:
        if (!req_ev)
            return deny(ctx, "querystring");
        if (!valid_uri_part(value, len) || (len != 0 && value[0] == '?'))
            return bad(ctx, "%s must be under 8192 bytes, without '?', spaces, controls or '#'", "querystring");
        ev->request.querystring = ctx_dup(ctx, value, len);
        return 0;
    case EDGE_FIELD_REQUEST_BODY:
        if (!req_ev)
            return deny(ctx, "request body");
        if (!ctx->fn->include_body)
            return bad(ctx, "%s can be replaced only by a hook with include_body", "the request body");
        if (len > hook_response_size_limit(ev->type))
            return bad(ctx, "%s replacement is over the limit of the event (40 KB viewer, 1 MB origin)", "request body");
        ev->request.body.data = ctx_dup(ctx, value, len);
        ev->request.body.present = 1;
        ev->request.body.truncated = 0;
        ev->request.body.replaced = 1;
        return 0;
    case EDGE_FIELD_STATUS_DESCRIPTION:
        if (!hook_header_value_valid(value, len))
            return bad(ctx, "%s has CR, LF or NUL", "statusDescription");
        if (req_ev ? !ctx->responding : ev->type != HOOK_ORIGIN_RESPONSE) {
            if (!req_ev && h2o_memis(value, len, ev->response.status_description.base, ev->response.status_description.len))
                return 0;
            return deny(ctx, "statusDescription");
        }
        ev->response.status_description = ctx_dup(ctx, value, len);
        return 0;
    case EDGE_FIELD_RESPONSE_BODY:
        if (req_ev ? !ctx->responding : ev->type != HOOK_ORIGIN_RESPONSE)
            return deny(ctx, "the response body");
        ev->response.body = ctx_dup(ctx, value, len);
        ev->response.has_body = 1;
        return 0;
    case EDGE_FIELD_EVENT_TYPE:
    case EDGE_FIELD_REQUEST_ID:
    case EDGE_FIELD_DISTRIBUTION_DOMAIN:
    case EDGE_FIELD_DISTRIBUTION_ID:
        return deny(ctx, "config");
    case EDGE_FIELD_CLIENT_IP:
        return deny(ctx, "clientIp");
    case EDGE_FIELD_METHOD:
        return deny(ctx, "method");
    case EDGE_FIELD_ORIGIN_BODY:
        return deny(ctx, "the origin's body (replace the response body instead)");
    }
    return bad(ctx, "%s: unknown field", "set");
}

static int on_set(edge_ctx_t *ctx, int field, const char *value, size_t len)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = set_locked(ctx, field, value, len);
    HOST_LEAVE();
    return r;
}

static int on_get_status(edge_ctx_t *ctx)
{
    if (ctx == NULL)
        return 0;
    return is_request_event(ctx) && !ctx->responding ? 0 : ctx->ev->response.status;
}

static int set_status_locked(edge_ctx_t *ctx, int status)
{
    hook_event_t *ev = ctx->ev;
    if (is_request_event(ctx) && !ctx->responding)
        return deny(ctx, "the status (no response yet: use respond)");
    if (ev->type == HOOK_VIEWER_RESPONSE) {
        if (status == ev->response.status)
            return 0;
        return deny(ctx, "status");
    }
    if (status < 200 || status > 599) {
        hook_ctx_invalid(ctx, "status %d is not in 200-599", status);
        return EDGE_E_INVALID;
    }
    ev->response.status = status;
    return 0;
}

static int on_set_status(edge_ctx_t *ctx, int status)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = set_status_locked(ctx, status);
    HOST_LEAVE();
    return r;
}

static hook_headers_t *headers_of(struct edge_ctx *ctx, int msg, int write)
{
    if (msg == EDGE_MSG_REQUEST) {
        if (write && !is_request_event(ctx)) {
            deny(ctx, "the request");
            return NULL;
        }
        return &ctx->ev->request.headers;
    }
    if (msg == EDGE_MSG_RESPONSE) {
        if (is_request_event(ctx) && !ctx->responding) {
            if (write)
                deny(ctx, "the response (no response yet: use respond)");
            return NULL;
        }
        return &ctx->ev->response.headers;
    }
    if (write)
        hook_ctx_invalid(ctx, "no message %d", msg);
    return NULL;
}

static size_t on_header_count(edge_ctx_t *ctx, int msg)
{
    hook_headers_t *h = ctx != NULL ? headers_of(ctx, msg, 0) : NULL;
    return h != NULL ? h->size : 0;
}

static void put_header(edge_header_t *out, const hook_header_t *h)
{
    put(&out->name, h->name);
    put(&out->key, h->key);
    put(&out->value, h->value);
}

static int on_header_at(edge_ctx_t *ctx, int msg, size_t index, edge_header_t *out)
{
    hook_headers_t *h = ctx != NULL && out != NULL ? headers_of(ctx, msg, 0) : NULL;
    if (h == NULL || index >= h->size)
        return EDGE_E_NOTFOUND;
    put_header(out, &h->entries[index]);
    return 0;
}

static int on_header_get(edge_ctx_t *ctx, int msg, const char *name, size_t name_len, size_t nth, edge_header_t *out)
{
    hook_headers_t *h = ctx != NULL && out != NULL && name != NULL ? headers_of(ctx, msg, 0) : NULL;
    if (h == NULL)
        return EDGE_E_NOTFOUND;
    ssize_t i = -1;
    do {
        i = hook_headers_find(h, name, name_len, (size_t)(i + 1));
    } while (i >= 0 && nth-- != 0);
    if (i < 0)
        return EDGE_E_NOTFOUND;
    put_header(out, &h->entries[i]);
    return 0;
}

/* before the first change of a read-only or disallowed header of msg, keep the list to compare at the end */
static void protect(struct edge_ctx *ctx, int msg, hook_headers_t *h, const char *lname, size_t len)
{
    if (ctx->protected_touched[msg])
        return;
    if (!hook_header_is_readonly(ctx->ev->type, msg, lname, len) && !hook_header_is_disallowed(lname, len))
        return;
    ctx->protected_touched[msg] = 1;
    hook_headers_copy(ctx->pool, &ctx->snapshot[msg], h);
}

static int lower_name(const char *s, size_t len, char *buf, size_t cap)
{
    if (len == 0 || len >= cap)
        return -1;
    for (size_t i = 0; i != len; ++i)
        buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    return 0;
}

static int header_add_locked(edge_ctx_t *ctx, int msg, const char *key, size_t klen, const char *value, size_t vlen)
{
    hook_headers_t *h = headers_of(ctx, msg, 1);
    if (h == NULL)
        return EDGE_E_DENIED;
    if (key == NULL || !hook_header_name_valid(key, klen)) {
        hook_ctx_invalid(ctx, "invalid header name \"%.*s\"", (int)(key != NULL && klen < 100 ? klen : 0), key);
        return EDGE_E_INVALID;
    }
    if ((value == NULL && vlen != 0) || !hook_header_value_valid(value, vlen)) {
        hook_ctx_invalid(ctx, "header \"%.*s\": value has CR, LF or NUL", (int)klen, key);
        return EDGE_E_INVALID;
    }
    char lname[1025]; /* a valid name is at most 1024 bytes */
    lower_name(key, klen, lname, sizeof(lname));
    if (hook_header_is_disallowed(lname, klen)) {
        hook_ctx_invalid(ctx, "header \"%.*s\" is disallowed", (int)klen, key);
        return EDGE_E_DENIED;
    }
    protect(ctx, msg, h, lname, klen);
    hook_headers_add(ctx->pool, h, key, klen, value != NULL ? value : "", vlen);
    return 0;
}

int hook_header_put(edge_ctx_t *ctx, int msg, const char *name, size_t nlen, const char *key, size_t klen, const char *value,
                    size_t vlen)
{
    char title[1024];
    if (ctx == NULL || name == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = EDGE_E_INVALID;
    for (size_t i = 0; i != nlen; ++i) {
        if (name[i] >= 'A' && name[i] <= 'Z') {
            hook_ctx_invalid(ctx, "header name '%.*s' must be lowercase (the key field keeps the case)",
                             (int)(nlen < 200 ? nlen : 200), name);
            goto out;
        }
    }
    /* as CloudFront: the map's name says which header it is; the key gives its case only when it spells that name. A key
     * that names another header (an entry copied from one header to another, as AWS's "override a response header" example
     * does) is ignored, as if it were left out: the name in Title-Case */
    int match = key != NULL && klen == nlen;
    for (size_t i = 0; match && i != klen; ++i)
        match = (key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]) == name[i];
    if (!match) {
        if (nlen == 0 || nlen >= sizeof(title)) {
            hook_ctx_invalid(ctx, "invalid header name \"%.*s\"", (int)(nlen < 200 ? nlen : 200), name);
            goto out;
        }
        hook_header_title_case(title, name, nlen);
        key = title;
        klen = nlen;
    }
    r = header_add_locked(ctx, msg, key, klen, value, vlen);
out:
    HOST_LEAVE();
    return r;
}

static int on_header_add(edge_ctx_t *ctx, int msg, const char *key, size_t klen, const char *value, size_t vlen)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = header_add_locked(ctx, msg, key, klen, value, vlen);
    HOST_LEAVE();
    return r;
}

static int header_remove_locked(edge_ctx_t *ctx, int msg, const char *name, size_t len)
{
    hook_headers_t *h = headers_of(ctx, msg, 1);
    char lname[1025];
    if (h == NULL)
        return EDGE_E_DENIED;
    if (name == NULL || lower_name(name, len, lname, sizeof(lname)) != 0)
        return 0;
    if (hook_headers_find(h, lname, len, 0) < 0)
        return 0;
    protect(ctx, msg, h, lname, len);
    return (int)hook_headers_remove(h, lname, len);
}

static int on_header_remove(edge_ctx_t *ctx, int msg, const char *name, size_t len)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = header_remove_locked(ctx, msg, name, len);
    HOST_LEAVE();
    return r;
}

static int on_header_set(edge_ctx_t *ctx, int msg, const char *key, size_t klen, const char *value, size_t vlen)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = header_remove_locked(ctx, msg, key, klen);
    if (r >= 0)
        r = header_add_locked(ctx, msg, key, klen, value, vlen);
    HOST_LEAVE();
    return r;
}

static int respond_locked(edge_ctx_t *ctx, int status, const char *desc, size_t dlen, const char *body, size_t blen)
{
    if (!is_request_event(ctx))
        return deny(ctx, "a generated response (only request events may answer)");
    if (status < 200 || status > 599) {
        hook_ctx_invalid(ctx, "status %d is not in 200-599", status);
        return EDGE_E_INVALID;
    }
    if ((desc == NULL && dlen != 0) || (body == NULL && blen != 0))
        return bad(ctx, "%s: NULL with a length", "respond");
    if (!hook_header_value_valid(desc, dlen))
        return bad(ctx, "%s has CR, LF or NUL", "statusDescription");
    hook_response_t *r = &ctx->ev->response;
    memset(r, 0, sizeof(*r));
    r->status = status;
    r->status_description = ctx_dup(ctx, desc, dlen);
    if (body != NULL) {
        r->body = ctx_dup(ctx, body, blen);
        r->has_body = 1;
    }
    ctx->responding = 1;
    ctx->protected_touched[1] = 0;
    return 0;
}

static int on_respond(edge_ctx_t *ctx, int status, const char *desc, size_t dlen, const char *body, size_t blen)
{
    if (ctx == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = respond_locked(ctx, status, desc, dlen, body, blen);
    HOST_LEAVE();
    return r;
}

static int on_get_origin(edge_ctx_t *ctx, edge_origin_t *out)
{
    if (ctx == NULL || out == NULL || out->size < offsetof(edge_origin_t, custom_headers) + sizeof(void *))
        return EDGE_E_INVALID;
    if (ctx->ev->type != HOOK_ORIGIN_REQUEST && ctx->ev->type != HOOK_ORIGIN_RESPONSE)
        return EDGE_E_NOTFOUND;
    const hook_origin_t *o = &ctx->ev->request.origin;
    if (o->kind == HOOK_ORIGIN_NONE)
        return EDGE_E_NOTFOUND;
    uint32_t size = out->size;
    memset(out, 0, size < sizeof(*out) ? size : sizeof(*out));
    out->size = size;
    out->kind = (uint32_t)o->kind;
    put(&out->domain_name, o->domain_name);
    put(&out->path, o->path);
    put(&out->protocol, o->protocol);
    put(&out->region, o->region);
    put(&out->auth_method, o->auth_method);
    out->port = o->port;
    out->read_timeout = (uint32_t)o->read_timeout_s;
    out->keepalive_timeout = (uint32_t)o->keepalive_timeout_s;
    out->num_custom_headers = (uint32_t)o->custom_headers.size;
    if (size >= offsetof(edge_origin_t, ssl_protocols) + sizeof(out->ssl_protocols))
        out->ssl_protocols = o->ssl_protocols;
    if (size >= offsetof(edge_origin_t, version_id) + sizeof(out->version_id))
        put(&out->version_id, o->version_id);
    if (o->custom_headers.size != 0) {
        HOST_ENTER();
        edge_header_t *hs = h2o_mem_alloc_pool(ctx->pool, sizeof(*hs) * o->custom_headers.size);
        HOST_LEAVE();
        for (size_t i = 0; i != o->custom_headers.size; ++i)
            put_header(&hs[i], &o->custom_headers.entries[i]);
        out->custom_headers = hs;
    }
    return 0;
}

static int eq(edge_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

_Static_assert((int)EDGE_SSL_SSLV3 == (int)HOOK_SSL_SSLV3 && (int)EDGE_SSL_TLSV1 == (int)HOOK_SSL_TLSV1 &&
                   (int)EDGE_SSL_TLSV1_1 == (int)HOOK_SSL_TLSV1_1 && (int)EDGE_SSL_TLSV1_2 == (int)HOOK_SSL_TLSV1_2 &&
                   (int)EDGE_SSL_TLSV1_3 == (int)HOOK_SSL_TLSV1_3,
               "EDGE_SSL_* and HOOK_SSL_* differ");

static int set_origin_locked(edge_ctx_t *ctx, const edge_origin_t *in)
{
    if (ctx->ev->type != HOOK_ORIGIN_REQUEST)
        return deny(ctx, "request.origin");
    if (in->size < offsetof(edge_origin_t, custom_headers) + sizeof(void *))
        return bad(ctx, "%s: edge_origin_t too small", "set_origin");
    edge_str_t strs[5] = {in->domain_name, in->path, in->protocol, in->region, in->auth_method};
    for (size_t i = 0; i != 5; ++i)
        if ((strs[i].ptr == NULL && strs[i].len != 0) || !hook_header_value_valid(strs[i].ptr, strs[i].len) || strs[i].len > 1024)
            return bad(ctx, "%s: a string field is invalid", "request.origin");
    if (in->domain_name.len == 0 || !valid_uri_part(in->domain_name.ptr, in->domain_name.len))
        return bad(ctx, "%s.domainName must be a host name", "request.origin");
    if (in->path.len != 0 && (in->path.ptr[0] != '/' || in->path.ptr[in->path.len - 1] == '/'))
        return bad(ctx, "%s.path must be empty or start with '/' and not end with '/'", "request.origin");
    hook_origin_t o = {0};
    o.changed = 1;
    if (in->kind == EDGE_ORIGIN_CUSTOM) {
        o.kind = HOOK_ORIGIN_CUSTOM;
        if (!eq(in->protocol, "http") && !eq(in->protocol, "https"))
            return bad(ctx, "%s.custom.protocol must be http or https", "request.origin");
        if (!(in->port == 80 || in->port == 443 || (in->port >= 1024 && in->port <= 65535)))
            return bad(ctx, "%s.custom.port must be 80, 443 or 1024-65535", "request.origin");
        if (in->read_timeout != 0 && (in->read_timeout < 4 || in->read_timeout > 60))
            return bad(ctx, "%s.custom.readTimeout must be 4-60", "request.origin");
        if (in->keepalive_timeout != 0 && (in->keepalive_timeout < 1 || in->keepalive_timeout > 60))
            return bad(ctx, "%s.custom.keepaliveTimeout must be 1-60", "request.origin");
        if (in->size >= offsetof(edge_origin_t, version_id) + sizeof(in->version_id) && in->version_id.len != 0)
            return bad(ctx, "%s.custom has no versionId (an S3 origin's)", "request.origin");
        o.port = (uint16_t)in->port;
        o.read_timeout_s = in->read_timeout != 0 ? (int)in->read_timeout : 30;
        o.keepalive_timeout_s = in->keepalive_timeout != 0 ? (int)in->keepalive_timeout : 5;
        o.protocol = ctx_dup(ctx, in->protocol.ptr, in->protocol.len);
        if (in->size >= offsetof(edge_origin_t, ssl_protocols) + sizeof(in->ssl_protocols)) {
            if ((in->ssl_protocols & ~(uint32_t)HOOK_SSL_ALL) != 0)
                return bad(ctx, "%s.custom.sslProtocols has an unknown value", "request.origin");
            o.ssl_protocols = in->ssl_protocols;
        }
    } else if (in->kind == EDGE_ORIGIN_S3) {
        o.kind = HOOK_ORIGIN_S3;
        if (in->auth_method.len != 0 && !eq(in->auth_method, "origin-access-identity") && !eq(in->auth_method, "none"))
            return bad(ctx, "%s.s3.authMethod must be origin-access-identity or none", "request.origin");
        o.auth_method =
            in->auth_method.len != 0 ? ctx_dup(ctx, in->auth_method.ptr, in->auth_method.len) : h2o_iovec_init("none", 4);
        o.region = ctx_dup(ctx, in->region.ptr, in->region.len);
        if (in->size >= offsetof(edge_origin_t, version_id) + sizeof(in->version_id) && in->version_id.len != 0) {
            if (in->version_id.ptr == NULL || !hook_origin_version_id_valid(in->version_id.ptr, in->version_id.len))
                return bad(ctx, "%s.s3.versionId must be 1-1024 of A-Z a-z 0-9 . _ - + / =", "request.origin");
            o.version_id = ctx_dup(ctx, in->version_id.ptr, in->version_id.len);
        }
    } else {
        return bad(ctx, "%s must have exactly one of custom or s3", "request.origin");
    }
    o.domain_name = ctx_dup(ctx, in->domain_name.ptr, in->domain_name.len);
    o.path = ctx_dup(ctx, in->path.ptr, in->path.len);
    if (in->num_custom_headers != 0 && in->custom_headers == NULL)
        return bad(ctx, "%s.customHeaders: NULL", "request.origin");
    for (uint32_t i = 0; i != in->num_custom_headers; ++i) {
        const edge_header_t *h = &in->custom_headers[i];
        edge_str_t k = h->key.len != 0 ? h->key : h->name;
        char lname[1025];
        if (!hook_header_name_valid(k.ptr, k.len) || !hook_header_value_valid(h->value.ptr, h->value.len))
            return bad(ctx, "%s.customHeaders has an invalid header", "request.origin");
        lower_name(k.ptr, k.len, lname, sizeof(lname));
        if (hook_header_is_disallowed(lname, k.len))
            return bad(ctx, "%s.customHeaders has a disallowed header", "request.origin");
        hook_headers_add(ctx->pool, &o.custom_headers, k.ptr, k.len, h->value.ptr, h->value.len);
    }
    ctx->ev->request.origin = o;
    return 0;
}

static int on_set_origin(edge_ctx_t *ctx, const edge_origin_t *in)
{
    if (ctx == NULL || in == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    int r = set_origin_locked(ctx, in);
    HOST_LEAVE();
    return r;
}

static void *on_alloc(edge_ctx_t *ctx, size_t size)
{
    if (ctx == NULL || size > (64u << 20))
        return NULL;
    HOST_ENTER();
    void *p = h2o_mem_alloc_pool(ctx->pool, size);
    ctx->alloc_bytes += size;
    HOST_LEAVE();
    return p;
}

static void on_log(edge_ctx_t *ctx, int level, const char *msg, size_t len)
{
    if (ctx == NULL || msg == NULL)
        return;
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    HOST_ENTER(); /* first: the call cannot move (and its event change) from here */
    hook_logtail_t *tail = ctx->ev->invoke.tail;
    if (tail != NULL) /* an invocation's own log (--log-type Tail): every level */
        hook_logtail_line(tail, ctx->ev->request_id.base, ctx->ev->request_id.len, level, msg, len);
    if (level <= log_get_level())
        log_write(level, "hook %s [%.*s]: %.*s", ctx->fn->name, (int)ctx->ev->request_id.len, ctx->ev->request_id.base,
                  (int)(len > 8192 ? 8192 : len), msg);
    HOST_LEAVE();
}

static void on_fail(edge_ctx_t *ctx, const char *msg, size_t len)
{
    if (ctx == NULL)
        return;
    HOST_ENTER();
    ctx->failed = 1;
    if (msg != NULL) {
        size_t n = len > 4096 ? 4096 : len;
        ctx->error = ctx_dup(ctx, msg, n).base;
    }
    HOST_LEAVE();
}

/* ---- kv stores ---------------------------------------------------------------------------------------------------------- */

/* the index of store in the call's kv snapshot (taken now if this is the call's first read), or EDGE_E_DENIED when the hook's
 * kv: list does not name it or no such store is open */
static int kv_store_index(struct edge_ctx *ctx, const char *store, size_t len)
{
    size_t i;
    for (i = 0; i != ctx->fn->num_kv; ++i)
        if (strlen(ctx->fn->kv_names[i]) == len && memcmp(ctx->fn->kv_names[i], store, len) == 0)
            break;
    if (i == ctx->fn->num_kv)
        return EDGE_E_DENIED;
    if (ctx->kv == NULL) {
        kv_db_t *db = kv_global();
        if (db == NULL)
            return EDGE_E_DENIED;
        ctx->kv = kv_view_acquire(db);
    }
    int idx = kv_db_find(kv_view_db(ctx->kv), store, len);
    return idx < 0 ? EDGE_E_DENIED : idx;
}

static int on_kv_get(edge_ctx_t *ctx, const char *store, size_t store_len, const char *key, size_t key_len, edge_str_t *out)
{
    if (ctx == NULL || store == NULL || (key == NULL && key_len != 0) || out == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    const char *val;
    size_t vlen;
    int r = kv_store_index(ctx, store, store_len);
    if (r >= 0) {
        if (kv_view_get(ctx->kv, r, key != NULL ? key : "", key_len, &val, &vlen)) {
            out->ptr = val;
            out->len = vlen;
            r = EDGE_OK;
        } else {
            r = EDGE_E_NOTFOUND;
        }
    }
    HOST_LEAVE();
    return r;
}

int hook_kv_meta(edge_ctx_t *ctx, const char *store, size_t len, uint64_t *out)
{
    if (ctx == NULL || store == NULL || out == NULL)
        return EDGE_E_INVALID;
    HOST_ENTER();
    kv_meta_t meta;
    int r = kv_store_index(ctx, store, len);
    if (r >= 0) {
        kv_view_meta(ctx->kv, r, &meta);
        out[0] = meta.keys;
        out[1] = meta.bytes;
        out[2] = meta.version;
        r = EDGE_OK;
    }
    HOST_LEAVE();
    return r;
}

void hook_ctx_kv_release(struct edge_ctx *ctx)
{
    if (ctx->kv != NULL) {
        kv_view_release(ctx->kv);
        ctx->kv = NULL;
    }
}

const edge_host_t hook_host = {
    .abi_major = EDGE_HOOK_ABI_MAJOR,
    .abi_minor = EDGE_HOOK_ABI_MINOR,
    .size = sizeof(edge_host_t),
    .get = on_get,
    .set = on_set,
    .get_status = on_get_status,
    .set_status = on_set_status,
    .header_count = on_header_count,
    .header_at = on_header_at,
    .header_get = on_header_get,
    .header_add = on_header_add,
    .header_remove = on_header_remove,
    .header_set = on_header_set,
    .respond = on_respond,
    .get_origin = on_get_origin,
    .set_origin = on_set_origin,
    .alloc = on_alloc,
    .log = on_log,
    .fail = on_fail,
    .fetch = hook_native_fetch,
    .fetch_wait = hook_native_fetch_wait,
    .thread_state = hook_native_thread_state,
    .kv_get = on_kv_get,
    .s3 = hook_native_s3,
    .offload = hook_native_offload,
};

/* 1 if the values of `name` (in order) differ between a and b */
static int values_differ(const hook_headers_t *a, const hook_headers_t *b, h2o_iovec_t name)
{
    ssize_t i = -1, j = -1;
    for (;;) {
        i = hook_headers_find(a, name.base, name.len, (size_t)(i + 1));
        j = hook_headers_find(b, name.base, name.len, (size_t)(j + 1));
        if (i < 0 || j < 0)
            return (i < 0) != (j < 0);
        if (!h2o_memis(a->entries[i].value.base, a->entries[i].value.len, b->entries[j].value.base, b->entries[j].value.len))
            return 1;
    }
}

/* 1 if `now` has a value of `name` that `before` does not have (an added or changed header; a removal is not) */
static int values_added(const hook_headers_t *before, const hook_headers_t *now, h2o_iovec_t name)
{
    for (ssize_t j = hook_headers_find(now, name.base, name.len, 0); j >= 0;
         j = hook_headers_find(now, name.base, name.len, (size_t)j + 1)) {
        int found = 0;
        for (ssize_t i = hook_headers_find(before, name.base, name.len, 0); i >= 0 && !found;
             i = hook_headers_find(before, name.base, name.len, (size_t)i + 1))
            found = h2o_memis(before->entries[i].value.base, before->entries[i].value.len, now->entries[j].value.base,
                              now->entries[j].value.len);
        if (!found)
            return 1;
    }
    return 0;
}

static int check_protected(struct edge_ctx *ctx, int msg, const hook_headers_t *now)
{
    const hook_headers_t *before = &ctx->snapshot[msg];
    const hook_headers_t *lists[2] = {before, now};
    for (size_t l = 0; l != 2; ++l) {
        for (size_t i = 0; i != lists[l]->size; ++i) {
            h2o_iovec_t n = lists[l]->entries[i].name;
            int ro = hook_header_is_readonly(ctx->ev->type, msg, n.base, n.len);
            /* read-only: any change, removal included; disallowed: adding or changing (dropping one is fine) */
            if (ro ? values_differ(before, now, n) : hook_header_is_disallowed(n.base, n.len) && values_added(before, now, n)) {
                hook_ctx_invalid(ctx, "the hook changed the %s header \"%.*s\"", ro ? "read-only" : "disallowed",
                                 (int)lists[l]->entries[i].key.len, lists[l]->entries[i].key.base);
                return -1;
            }
        }
    }
    return 0;
}

static int check_response(struct edge_ctx *ctx, const hook_response_t *r)
{
    if (r->status < 200 || r->status > 599) {
        hook_ctx_invalid(ctx, "status %d is not in 200-599", r->status);
        return -1;
    }
    if (r->has_body && r->body.len != 0 && (r->status == 204 || r->status == 304)) {
        hook_ctx_invalid(ctx, "a %d response cannot have a body", r->status);
        return -1;
    }
    size_t size = hook_response_size(r), limit = hook_response_size_limit(ctx->ev->type);
    if (size > limit) {
        hook_ctx_invalid(ctx, "the %s response is %zu bytes, over the limit of %zu", ctx->responding ? "generated" : "replaced",
                         size, limit);
        return -1;
    }
    return 0;
}

void hook_event_head(const hook_event_t *ev, int response, size_t *bytes, size_t *count)
{
    if (response) {
        *bytes = hook_headers_bytes(&ev->response.headers);
        *count = ev->response.headers.size;
        return;
    }
    *bytes = hook_headers_bytes(&ev->request.headers);
    *count = ev->request.headers.size;
    if (ev->type == HOOK_ORIGIN_REQUEST) {
        *bytes += hook_headers_bytes(&ev->request.origin.custom_headers);
        *count += ev->request.origin.custom_headers.size;
    }
}

/* the head a result carries against the caps of ev->limits (hook_head_limits_t); a generated response was given nothing */
static int check_head(struct edge_ctx *ctx, hook_status_t st)
{
    const hook_event_t *ev = ctx->ev;
    int response = st == HOOK_RESPOND || !is_request_event(ctx);
    size_t in_bytes = st == HOOK_RESPOND ? 0 : ctx->head_bytes_in, in_count = st == HOOK_RESPOND ? 0 : ctx->head_count_in;
    size_t max_bytes = response ? ev->limits.response_bytes : ev->limits.request_bytes;
    size_t max_count = response ? ev->limits.response_count : ev->limits.request_count;
    const char *what = st == HOOK_RESPOND ? "generated response's" : response ? "response" : "request";
    size_t bytes, count;
    hook_event_head(ev, response, &bytes, &count);
    if (max_bytes != 0 && bytes > max_bytes && bytes > in_bytes) {
        hook_ctx_invalid(ctx, "the %s head the hook left is %zu bytes of header names and values, over the limit of %zu (%s)", what,
                         bytes, max_bytes, response ? "limits.max_response_header_size" : "limits.max_request_header_size");
        return -1;
    }
    if (max_count != 0 && count > max_count && count > in_count) {
        hook_ctx_invalid(ctx, "the %s head the hook left has %zu header fields, over the limit of %zu%s", what, count, max_count,
                         response ? "" : " (limits.max_request_headers)");
        return -1;
    }
    return 0;
}

hook_status_t hook_ctx_finish(struct edge_ctx *ctx, hook_status_t st)
{
    hook_event_t *ev = ctx->ev;
    if (st == HOOK_FAILED)
        return st;
    if (ctx->invalid || st == HOOK_INVALID)
        return HOOK_INVALID;
    if (ev->type == HOOK_INVOKE) /* a generic invocation: its result is JSON (checked by the runtime), no event to validate */
    {
        if (st != HOOK_CONTINUE)
            hook_ctx_invalid(ctx, "a generic invocation cannot answer with a response");
        return st == HOOK_CONTINUE ? st : HOOK_INVALID;
    }
    if (st == HOOK_RESPOND) {
        if (!is_request_event(ctx) || !ctx->responding) {
            hook_ctx_invalid(ctx, "the hook answered without a response%s",
                             is_request_event(ctx) ? "" : " (response events cannot)");
            return HOOK_INVALID;
        }
        if (check_response(ctx, &ev->response) != 0)
            return HOOK_INVALID;
    } else if (is_request_event(ctx) && ctx->responding) {
        /* a response was started but the hook continued: forget it */
        memset(&ev->response, 0, sizeof(ev->response));
        ctx->responding = 0;
        ctx->protected_touched[1] = 0;
    }
    for (int msg = 0; msg != 2; ++msg)
        if (ctx->protected_touched[msg] && check_protected(ctx, msg, msg == 0 ? &ev->request.headers : &ev->response.headers) != 0)
            return HOOK_INVALID;
    if (st == HOOK_CONTINUE && ev->type == HOOK_ORIGIN_RESPONSE && ev->response.has_body && check_response(ctx, &ev->response) != 0)
        return HOOK_INVALID;
    if (check_head(ctx, st) != 0)
        return HOOK_INVALID;
    return st;
}
