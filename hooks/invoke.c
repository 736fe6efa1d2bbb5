/* hooks/invoke.c - `edgehook invoke`: runs one hook locally on a Lambda@Edge test event and reports like `aws lambda invoke`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "base/log.h"
#include "base/str.h"
#include "hooks/internal.h"
#include "hooks/invoke.h"
#include "hooks/json.h"
#include "hooks/logtail.h"

#define USAGE                                                                                                                      \
    "usage: edgehook invoke --hook FILE.lua|FILE.so --event EVENT.json [--type viewer-request|origin-request|origin-response|"     \
    "viewer-response] [--config JSON] [--timeout MS] [--memory BYTES] [--include-body] [--name NAME]\n"                            \
    "       edgehook invoke --hook FILE --event EVENT.json --sweep-memory 16,32,64,128MB [--runs N] [options above]\n"

static h2o_iovec_t pool_str(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *p = h2o_mem_alloc_pool(pool, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return h2o_iovec_init(p, len);
}

static int get_str(h2o_mem_pool_t *pool, const hook_json_t *obj, const char *key, h2o_iovec_t *out, const char *what, char *err,
                   size_t errlen)
{
    const hook_json_t *v = hook_json_get(obj, key);
    if (v == NULL)
        return 0;
    if (v->type != HOOK_JSON_STRING) {
        snprintf(err, errlen, "%s.%s must be a string", what, key);
        return -1;
    }
    *out = pool_str(pool, v->str, v->len);
    return 0;
}

static int get_headers(h2o_mem_pool_t *pool, const hook_json_t *v, hook_headers_t *out, const char *what, char *err, size_t errlen)
{
    if (v == NULL)
        return 0;
    if (v->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "%s must be an object of lowercase name -> [{key, value}]", what);
        return -1;
    }
    for (size_t i = 0; i != v->count; ++i) {
        const hook_json_t *arr = v->items[i];
        if (arr->type != HOOK_JSON_ARRAY) {
            snprintf(err, errlen, "%s[\"%.64s\"] must be an array", what, v->keys[i]);
            return -1;
        }
        for (size_t j = 0; j != arr->count; ++j) {
            const hook_json_t *e = arr->items[j];
            size_t klen, vlen;
            const char *key = hook_json_string(hook_json_get(e, "key"), &klen);
            const char *value = hook_json_string(hook_json_get(e, "value"), &vlen);
            if (value == NULL) {
                snprintf(err, errlen, "%s[\"%.64s\"][%zu] needs a string value", what, v->keys[i], j);
                return -1;
            }
            if (key == NULL) {
                key = v->keys[i];
                klen = v->key_lens[i];
            }
            if (!hook_header_name_valid(key, klen) || !hook_header_value_valid(value, vlen)) {
                snprintf(err, errlen, "%s[\"%.64s\"][%zu] is not a valid header", what, v->keys[i], j);
                return -1;
            }
            hook_headers_add(pool, out, key, klen, value, vlen);
        }
    }
    return 0;
}

static int get_int(const hook_json_t *obj, const char *key, int def)
{
    const hook_json_t *v = hook_json_get(obj, key);
    if (v == NULL)
        return def;
    if (v->type == HOOK_JSON_NUMBER)
        return (int)v->number;
    if (v->type == HOOK_JSON_STRING)
        return atoi(v->str);
    return def;
}

static int parse_origin(h2o_mem_pool_t *pool, const hook_json_t *o, hook_origin_t *out, char *err, size_t errlen)
{
    const hook_json_t *c = hook_json_get(o, "custom"), *s3 = hook_json_get(o, "s3"), *t = c != NULL ? c : s3;
    if (t == NULL || t->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "request.origin must have custom or s3");
        return -1;
    }
    const char *what = c != NULL ? "request.origin.custom" : "request.origin.s3";
    out->kind = c != NULL ? HOOK_ORIGIN_CUSTOM : HOOK_ORIGIN_S3;
    if (get_str(pool, t, "domainName", &out->domain_name, what, err, errlen) != 0 ||
        get_str(pool, t, "path", &out->path, what, err, errlen) != 0 ||
        get_str(pool, t, "protocol", &out->protocol, what, err, errlen) != 0 ||
        get_str(pool, t, "region", &out->region, what, err, errlen) != 0 ||
        get_str(pool, t, "authMethod", &out->auth_method, what, err, errlen) != 0 ||
        (s3 != NULL && get_str(pool, t, "versionId", &out->version_id, what, err, errlen) != 0))
        return -1;
    if (out->version_id.len != 0 && !hook_origin_version_id_valid(out->version_id.base, out->version_id.len)) {
        snprintf(err, errlen, "%s.versionId must be 1-1024 of A-Z a-z 0-9 . _ - + / =", what);
        return -1;
    }
    out->port = (uint16_t)get_int(t, "port", c != NULL ? 443 : 0);
    out->read_timeout_s = get_int(t, "readTimeout", 30);
    out->keepalive_timeout_s = get_int(t, "keepaliveTimeout", 5);
    const hook_json_t *sp = hook_json_get(t, "sslProtocols");
    if (c != NULL && sp != NULL && sp->type == HOOK_JSON_ARRAY) {
        for (size_t i = 0; i != sp->count; ++i) {
            size_t n;
            const char *v = hook_json_string(sp->items[i], &n);
            unsigned bit = v != NULL ? hook_ssl_protocol_parse(v, n) : 0;
            if (bit == 0) {
                snprintf(err, errlen, "%s.sslProtocols: %s is not one of SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", what,
                         v != NULL ? v : "a non-string");
                return -1;
            }
            out->ssl_protocols |= bit;
        }
    }
    return get_headers(pool, hook_json_get(t, "customHeaders"), &out->custom_headers, "customHeaders", err, errlen);
}

int hook_event_json_is_edge(const hook_json_t *root)
{
    const hook_json_t *records = hook_json_get(root, "Records"), *cf;
    return records != NULL && records->type == HOOK_JSON_ARRAY && records->count != 0 &&
           (cf = hook_json_get(records->items[0], "cf")) != NULL && cf->type == HOOK_JSON_OBJECT;
}

int hook_event_from_json(h2o_mem_pool_t *pool, const hook_json_t *root, int type, int include_body, hook_event_t *ev, char *err,
                         size_t errlen)
{
    const hook_json_t *records = hook_json_get(root, "Records"), *cf;
    if (records == NULL || records->type != HOOK_JSON_ARRAY || records->count == 0 ||
        (cf = hook_json_get(records->items[0], "cf")) == NULL || cf->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "not a Lambda@Edge event: expected {\"Records\":[{\"cf\":{...}}]}");
        return -1;
    }
    const hook_json_t *config = hook_json_get(cf, "config"), *req = hook_json_get(cf, "request"),
                      *resp = hook_json_get(cf, "response");
    if (type < 0) {
        size_t len;
        const char *et = hook_json_string(hook_json_get(config, "eventType"), &len);
        type = et != NULL ? hook_event_type_parse(et, len) : HOOK_VIEWER_REQUEST;
        if (type < 0) {
            snprintf(err, errlen,
                     "config.eventType \"%.64s\" is not one of viewer-request, origin-request, origin-response, viewer-response",
                     et);
            return -1;
        }
    }
    hook_event_init(ev, type);
    ev->request_id = h2o_iovec_init("edgehook-invoke", 15);
    if (config != NULL &&
        (get_str(pool, config, "requestId", &ev->request_id, "config", err, errlen) != 0 ||
         get_str(pool, config, "distributionDomainName", &ev->distribution_domain_name, "config", err, errlen) != 0 ||
         get_str(pool, config, "distributionId", &ev->distribution_id, "config", err, errlen) != 0))
        return -1;
    if (req == NULL || req->type != HOOK_JSON_OBJECT) {
        snprintf(err, errlen, "the event has no request");
        return -1;
    }
    hook_request_t *r = &ev->request;
    r->method = h2o_iovec_init("GET", 3);
    r->uri = h2o_iovec_init("/", 1);
    r->client_ip = h2o_iovec_init("127.0.0.1", 9);
    if (get_str(pool, req, "clientIp", &r->client_ip, "request", err, errlen) != 0 ||
        get_str(pool, req, "method", &r->method, "request", err, errlen) != 0 ||
        get_str(pool, req, "uri", &r->uri, "request", err, errlen) != 0 ||
        get_str(pool, req, "querystring", &r->querystring, "request", err, errlen) != 0 ||
        get_headers(pool, hook_json_get(req, "headers"), &r->headers, "request.headers", err, errlen) != 0)
        return -1;
    const hook_json_t *body = hook_json_get(req, "body");
    if (body != NULL && include_body && (type == HOOK_VIEWER_REQUEST || type == HOOK_ORIGIN_REQUEST)) {
        size_t len = 0, elen = 0;
        const char *data = hook_json_string(hook_json_get(body, "data"), &len);
        const char *enc = hook_json_string(hook_json_get(body, "encoding"), &elen);
        if (data == NULL)
            data = "";
        r->body.present = 1;
        r->body.truncated =
            hook_json_get(body, "inputTruncated") != NULL && hook_json_get(body, "inputTruncated")->type == HOOK_JSON_TRUE;
        if (enc == NULL || strcmp(enc, "base64") == 0) {
            char *d = h2o_mem_alloc_pool(pool, len + 1);
            long dlen = edge_base64_decode(d, data, len, EDGE_BASE64_LENIENT);
            if (dlen < 0) {
                snprintf(err, errlen, "request.body.data is not valid base64");
                return -1;
            }
            r->body.data = h2o_iovec_init(d, (size_t)dlen);
        } else {
            r->body.data = pool_str(pool, data, len);
        }
    }
    const hook_json_t *origin = hook_json_get(req, "origin");
    if (origin != NULL && (type == HOOK_ORIGIN_REQUEST || type == HOOK_ORIGIN_RESPONSE) &&
        parse_origin(pool, origin, &r->origin, err, errlen) != 0)
        return -1;
    if (type == HOOK_ORIGIN_RESPONSE || type == HOOK_VIEWER_RESPONSE) {
        if (resp == NULL || resp->type != HOOK_JSON_OBJECT) {
            snprintf(err, errlen, "a %s event needs a response", hook_event_type_name(type));
            return -1;
        }
        ev->response.status = get_int(resp, "status", 200);
        if (get_str(pool, resp, "statusDescription", &ev->response.status_description, "response", err, errlen) != 0 ||
            get_headers(pool, hook_json_get(resp, "headers"), &ev->response.headers, "response.headers", err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void emit_headers(hook_buf_t *b, const hook_headers_t *h, int level)
{
    /* group by name, in order of first appearance */
    hook_buf_append(b, "{", 1);
    int first = 1;
    for (size_t i = 0; i != h->size; ++i) {
        if (hook_headers_find(h, h->entries[i].name.base, h->entries[i].name.len, 0) != (ssize_t)i)
            continue;
        hook_buf_appendf(b, "%s\n%*s", first ? "" : ",", (level + 1) * 2, "");
        first = 0;
        hook_buf_json_string(b, h->entries[i].name.base, h->entries[i].name.len);
        hook_buf_append(b, ": [", 3);
        int f2 = 1;
        for (ssize_t j = (ssize_t)i; j >= 0;
             j = hook_headers_find(h, h->entries[i].name.base, h->entries[i].name.len, (size_t)j + 1)) {
            hook_buf_appendf(b, "%s\n%*s{\"key\": ", f2 ? "" : ",", (level + 2) * 2, "");
            f2 = 0;
            hook_buf_json_string(b, h->entries[j].key.base, h->entries[j].key.len);
            hook_buf_append(b, ", \"value\": ", 11);
            hook_buf_json_string(b, h->entries[j].value.base, h->entries[j].value.len);
            hook_buf_append(b, "}", 1);
        }
        hook_buf_appendf(b, "\n%*s]", (level + 1) * 2, "");
    }
    if (!first)
        hook_buf_appendf(b, "\n%*s", level * 2, "");
    hook_buf_append(b, "}", 1);
}

static void field(hook_buf_t *b, int *first, const char *name, int level)
{
    hook_buf_appendf(b, "%s\n%*s\"%s\": ", *first ? "" : ",", level * 2, "", name);
    *first = 0;
}

static void emit_str(hook_buf_t *b, int *first, const char *name, h2o_iovec_t v, int level)
{
    field(b, first, name, level);
    hook_buf_json_string(b, v.base != NULL ? v.base : "", v.len);
}

static int is_text(h2o_iovec_t v)
{
    for (size_t i = 0; i != v.len; ++i) {
        unsigned char c = (unsigned char)v.base[i];
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static void emit_body(hook_buf_t *b, int *first, h2o_iovec_t body, int level)
{
    field(b, first, "body", level);
    if (is_text(body)) {
        hook_buf_json_string(b, body.base, body.len);
        field(b, first, "bodyEncoding", level);
        hook_buf_append(b, "\"text\"", 6);
    } else {
        char *enc = malloc(EDGE_BASE64_ENCODED_SIZE(body.len));
        size_t n = edge_base64_encode(enc, body.base, body.len);
        hook_buf_json_string(b, enc, n);
        free(enc);
        field(b, first, "bodyEncoding", level);
        hook_buf_append(b, "\"base64\"", 8);
    }
}

static void emit_response(hook_buf_t *b, const hook_response_t *r)
{
    int first = 1;
    hook_buf_append(b, "{", 1);
    field(b, &first, "status", 1);
    hook_buf_appendf(b, "\"%d\"", r->status);
    emit_str(b, &first, "statusDescription", r->status_description, 1);
    field(b, &first, "headers", 1);
    emit_headers(b, &r->headers, 1);
    if (r->has_body)
        emit_body(b, &first, r->body, 1);
    hook_buf_append(b, "\n}\n", 3);
}

static void emit_request(hook_buf_t *b, const hook_event_t *ev)
{
    const hook_request_t *r = &ev->request;
    int first = 1;
    hook_buf_append(b, "{", 1);
    emit_str(b, &first, "clientIp", r->client_ip, 1);
    field(b, &first, "headers", 1);
    emit_headers(b, &r->headers, 1);
    emit_str(b, &first, "method", r->method, 1);
    emit_str(b, &first, "querystring", r->querystring, 1);
    emit_str(b, &first, "uri", r->uri, 1);
    if (r->body.present) {
        field(b, &first, "body", 1);
        char *enc = malloc(EDGE_BASE64_ENCODED_SIZE(r->body.data.len));
        size_t n = edge_base64_encode(enc, r->body.data.base, r->body.data.len);
        hook_buf_appendf(b, "{\"action\": \"%s\", \"encoding\": \"base64\", \"inputTruncated\": %s, \"data\": ",
                         r->body.replaced ? "replace" : "read-only", r->body.truncated ? "true" : "false");
        hook_buf_json_string(b, enc, n);
        hook_buf_append(b, "}", 1);
        free(enc);
    }
    const hook_origin_t *o = &r->origin;
    if (o->kind != HOOK_ORIGIN_NONE) {
        int f2 = 1;
        field(b, &first, "origin", 1);
        hook_buf_appendf(b, "{\n    \"%s\": {", o->kind == HOOK_ORIGIN_CUSTOM ? "custom" : "s3");
        field(b, &f2, "customHeaders", 3);
        emit_headers(b, &o->custom_headers, 3);
        emit_str(b, &f2, "domainName", o->domain_name, 3);
        emit_str(b, &f2, "path", o->path, 3);
        if (o->kind == HOOK_ORIGIN_CUSTOM) {
            field(b, &f2, "keepaliveTimeout", 3);
            hook_buf_appendf(b, "%d", o->keepalive_timeout_s);
            field(b, &f2, "port", 3);
            hook_buf_appendf(b, "%u", o->port);
            emit_str(b, &f2, "protocol", o->protocol, 3);
            field(b, &f2, "readTimeout", 3);
            hook_buf_appendf(b, "%d", o->read_timeout_s);
            field(b, &f2, "sslProtocols", 3);
            hook_buf_append(b, "[", 1);
            for (unsigned bit = 1, n = 0; bit <= HOOK_SSL_TLSV1_3; bit <<= 1)
                if ((o->ssl_protocols & bit) != 0)
                    hook_buf_appendf(b, "%s\"%s\"", n++ != 0 ? ", " : "", hook_ssl_protocol_name(bit));
            hook_buf_append(b, "]", 1);
        } else {
            emit_str(b, &f2, "authMethod", o->auth_method, 3);
            emit_str(b, &f2, "region", o->region, 3);
            if (o->version_id.len != 0)
                emit_str(b, &f2, "versionId", o->version_id, 3);
        }
        hook_buf_append(b, "\n    }\n  }", 10);
    }
    hook_buf_append(b, "\n}\n", 3);
}

void hook_event_result_json(hook_buf_t *b, const hook_event_t *ev, hook_status_t st)
{
    if (st == HOOK_CONTINUE && ev->type <= HOOK_ORIGIN_REQUEST)
        emit_request(b, ev);
    else
        emit_response(b, &ev->response);
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL)
        return -1;
    hook_buf_t b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) != 0) {
        hook_buf_append(&b, tmp, n);
        if (b.len > (64u << 20)) {
            errno = EFBIG;
            break;
        }
    }
    int bad = ferror(fp) || b.len > (64u << 20);
    if (fp != stdin)
        fclose(fp);
    if (bad) {
        hook_buf_free(&b);
        return -1;
    }
    if (b.base == NULL)
        hook_buf_append(&b, "", 0);
    *out = b.base;
    *len = b.len;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* the event of one run: a Lambda@Edge event (type < 0: its eventType) or, for any other JSON, a generic invocation */
static int make_event(h2o_mem_pool_t *pool, const hook_json_t *root, const char *text, size_t len, int type, int include_body,
                      hook_event_t *ev, char *err, size_t errlen)
{
    if (!hook_event_json_is_edge(root)) {
        hook_event_init(ev, HOOK_INVOKE);
        ev->request_id = h2o_iovec_init("edgehook-invoke", 15);
        ev->invoke.payload = pool_str(pool, text, len);
        return 0;
    }
    return hook_event_from_json(pool, root, type, include_body, ev, err, errlen);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* --sweep-memory 16,32,64,128MB: the limits (a number without a unit takes the list's last unit) */
static size_t parse_sweep(const char *arg, uint64_t *out, size_t max)
{
    const char *unit = arg + strlen(arg);
    while (unit > arg && ((unit[-1] >= 'A' && unit[-1] <= 'Z') || (unit[-1] >= 'a' && unit[-1] <= 'z')))
        --unit;
    size_t n = 0;
    for (const char *p = arg; *p != '\0' && n != max;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char tok[64];
        int has_unit = len != 0 && ((p[len - 1] >= 'A' && p[len - 1] <= 'Z') || (p[len - 1] >= 'a' && p[len - 1] <= 'z'));
        if (len == 0 || len > 30 || snprintf(tok, sizeof(tok), "%.*s%s", (int)len, p, has_unit ? "" : unit) < 0 ||
            conf_parse_size(tok, &out[n]) != 0 || out[n] < (1u << 20))
            return 0;
        ++n;
        p = comma != NULL ? comma + 1 : p + len;
    }
    return n;
}

/*
 * The sizing sweep: for each memory limit, the hook is loaded with that limit, its state built (Init), then run `runs` times
 * warm; prints one table row per limit: duration median and p90 of the runs, the largest Max Memory Used, errors by kind.
 */
static int sweep(const conf_hook_t *tmpl, const uint64_t *limits, size_t num, int runs, const hook_json_t *root, const char *text,
                 size_t len, int type, int include_body)
{
    char err[2048];
    int worst = 0;
    printf("%-10s %6s %12s %12s %16s %12s  %s\n", "memory", "runs", "p50 ms", "p90 ms", "max memory used", "init ms", "errors");
    for (size_t i = 0; i != num; ++i) {
        conf_hook_t conf = *tmpl;
        conf.memory_limit = limits[i];
        uint64_t t0 = hook_now_ns(), *dur = calloc((size_t)runs, sizeof(uint64_t));
        size_t peak = 0;
        int oom = 0, timeouts = 0, failed = 0, invalid = 0;
        hook_fn_t *fn = hook_fn_load(&conf, err, sizeof(err));
        hook_thread_t *t = fn != NULL ? hook_thread_new() : NULL;
        char init[32] = "-";
        if (fn == NULL || t == NULL || hook_thread_prepare(t, fn, err, sizeof(err)) != 0) {
            printf("%7llu MB %6d %12s %12s %16s %12s  cannot start: %s\n", (unsigned long long)(limits[i] >> 20), 0, "-", "-", "-",
                   "-", t == NULL && fn != NULL ? "no hook runtime" : err);
            worst = 1;
            goto next;
        }
        snprintf(init, sizeof(init), "%.2f", (double)(hook_now_ns() - t0) / 1e6);
        for (int r = 0; r != runs; ++r) {
            h2o_mem_pool_t pool;
            hook_event_t ev;
            hook_report_t rep;
            h2o_mem_init_pool(&pool);
            if (make_event(&pool, root, text, len, type, include_body, &ev, err, sizeof(err)) != 0) {
                h2o_mem_clear_pool(&pool);
                fprintf(stderr, "edgehook invoke: %s\n", err);
                free(dur);
                hook_thread_free(t);
                hook_fn_release(fn);
                return 2;
            }
            hook_status_t st = hook_run(t, fn, &ev, &pool, &rep);
            dur[r] = rep.duration_ns;
            if (rep.max_memory > peak)
                peak = rep.max_memory;
            oom += rep.out_of_memory;
            timeouts += rep.timed_out;
            invalid += st == HOOK_INVALID;
            failed += st == HOOK_FAILED && !rep.out_of_memory && !rep.timed_out;
            h2o_mem_clear_pool(&pool);
        }
        qsort(dur, (size_t)runs, sizeof(uint64_t), cmp_u64);
        char errors[160] = "";
        int n = 0;
        if (oom != 0)
            n += snprintf(errors + n, sizeof(errors) - (size_t)n, "%d out of memory ", oom);
        if (timeouts != 0)
            n += snprintf(errors + n, sizeof(errors) - (size_t)n, "%d timeout ", timeouts);
        if (failed != 0)
            n += snprintf(errors + n, sizeof(errors) - (size_t)n, "%d error ", failed);
        if (invalid != 0)
            n += snprintf(errors + n, sizeof(errors) - (size_t)n, "%d invalid ", invalid);
        if (n != 0)
            errors[n - 1] = '\0'; /* the last space */
        if (n == 0)
            snprintf(errors, sizeof(errors), "0");
        else
            worst = 1;
        printf("%7llu MB %6d %12.2f %12.2f %13zu MB %12s  %s\n", (unsigned long long)(limits[i] >> 20), runs,
               (double)dur[(size_t)(runs - 1) / 2] / 1e6, (double)dur[(size_t)(runs - 1) * 9 / 10] / 1e6,
               (peak + (1u << 20) - 1) >> 20, init, errors);
        fflush(stdout);
    next:
        free(dur);
        hook_thread_free(t);
        hook_fn_release(fn);
    }
    return worst;
}

int hooks_invoke_main(int argc, char **argv)
{
    static const struct option opts[] = {{"hook", required_argument, NULL, 'h'},
                                         {"event", required_argument, NULL, 'e'},
                                         {"type", required_argument, NULL, 't'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"memory", required_argument, NULL, 'm'},
                                         {"include-body", no_argument, NULL, 'b'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"sweep-memory", required_argument, NULL, 's'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, '?'},
                                         {NULL, 0, NULL, 0}};
    const char *hook = NULL, *event = NULL, *config = "{}", *name = NULL;
    int type = -1, include_body = 0, opt, runs = 20;
    uint64_t limits[16];
    size_t num_limits = 0;
    int64_t timeout = -1;
    uint64_t memory = 64u << 20;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            hook = optarg;
            break;
        case 'e':
            event = optarg;
            break;
        case 't':
            if ((type = hook_event_type_parse(optarg, strlen(optarg))) < 0) {
                fprintf(stderr,
                        "edgehook invoke: --type %s: not one of viewer-request, origin-request, origin-response, viewer-response\n",
                        optarg);
                return 2;
            }
            break;
        case 'c':
            config = optarg;
            break;
        case 'T':
            timeout = strtoll(optarg, NULL, 10);
            if (timeout <= 0 || timeout > 300000) {
                fprintf(stderr, "edgehook invoke: --timeout is in ms, 1-300000\n");
                return 2;
            }
            break;
        case 'm':
            if (conf_parse_size(optarg, &memory) != 0 || memory < (1u << 20)) {
                fprintf(stderr, "edgehook invoke: --memory must be a size of at least 1MB (e.g. 64MB)\n");
                return 2;
            }
            break;
        case 'b':
            include_body = 1;
            break;
        case 'n':
            name = optarg;
            break;
        case 's':
            if ((num_limits = parse_sweep(optarg, limits, sizeof(limits) / sizeof(limits[0]))) == 0) {
                fprintf(stderr, "edgehook invoke: --sweep-memory takes sizes of at least 1MB: e.g. 16,32,64,128MB (at most 16)\n");
                return 2;
            }
            break;
        case 'r':
            runs = atoi(optarg);
            if (runs < 1 || runs > 100000) {
                fprintf(stderr, "edgehook invoke: --runs is 1-100000\n");
                return 2;
            }
            break;
        default:
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (hook == NULL || event == NULL || optind != argc) {
        fputs(USAGE, stderr);
        return 2;
    }
    log_open("-", LOG_INFO);
    char err[2048];
    hook_json_t *cfg = hook_json_parse(config, strlen(config), err, sizeof(err));
    if (cfg == NULL || cfg->type != HOOK_JSON_OBJECT) {
        fprintf(stderr, "edgehook invoke: --config must be a JSON object: %s\n", cfg == NULL ? err : "not an object");
        hook_json_free(cfg);
        return 2;
    }
    hook_json_free(cfg);
    char *text;
    size_t len;
    if (read_all(event, &text, &len) != 0) {
        fprintf(stderr, "edgehook invoke: %s: cannot read: %s\n", event, strerror(errno));
        return 2;
    }
    hook_json_t *root = hook_json_parse(text, len, err, sizeof(err));
    if (root == NULL) {
        fprintf(stderr, "edgehook invoke: %s:%s\n", event, err);
        free(text);
        return 2;
    }
    const char *base = strrchr(hook, '/') != NULL ? strrchr(hook, '/') + 1 : hook;
    conf_hook_t conf = {.name = (char *)(name != NULL ? name : base),
                        .config_json = (char *)config,
                        .include_body = include_body,
                        .timeout_ms = timeout,
                        .memory_limit = memory};
    if (ends_with(hook, ".lua"))
        conf.lua = (char *)hook;
    else
        conf.native = (char *)hook;
    if (num_limits != 0) {
        int r = sweep(&conf, limits, num_limits, runs, root, text, len, type, include_body);
        hook_json_free(root);
        free(text);
        return r;
    }
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    hook_event_t ev;
    int made = make_event(&pool, root, text, len, type, include_body, &ev, err, sizeof(err));
    hook_json_free(root);
    free(text);
    if (made != 0) {
        fprintf(stderr, "edgehook invoke: %s: %s\n", event, err);
        h2o_mem_clear_pool(&pool);
        return 2;
    }

    int status = 0;
    uint64_t t0 = hook_now_ns();
    hook_fn_t *fn = hook_fn_load(&conf, err, sizeof(err));
    hook_thread_t *t = NULL;
    if (fn == NULL) {
        fprintf(stderr, "edgehook invoke: %s\n", err);
        status = 2;
        goto out;
    }
    if ((t = hook_thread_new()) == NULL || hook_thread_prepare(t, fn, err, sizeof(err)) != 0) {
        fprintf(stderr, "edgehook invoke: %s\n", t == NULL ? "cannot start the hook runtime" : err);
        status = 2;
        goto out;
    }
    if (ev.type == HOOK_INVOKE && !hook_fn_handles(fn, HOOK_INVOKE)) {
        fprintf(stderr,
                "edgehook invoke: %s: not a Lambda@Edge event ({\"Records\":[{\"cf\":...}]}), and %s takes no generic invocation "
                "(a Lua hook needs handler(event, context); a plugin on_invoke)\n",
                event, hook);
        status = 2;
        goto out;
    }
    uint64_t init_ns = hook_now_ns() - t0;
    fprintf(stderr, "START RequestId: %.*s Version: %.12s\n", (int)ev.request_id.len, ev.request_id.base, hook_fn_hash(fn));
    hook_report_t rep;
    hook_status_t st = hook_run(t, fn, &ev, &pool, &rep);
    hook_buf_t out = {0};
    if ((st == HOOK_CONTINUE || st == HOOK_RESPOND) && ev.type == HOOK_INVOKE) {
        hook_buf_append(&out, ev.invoke.result.base, ev.invoke.result.len);
        hook_buf_append(&out, "\n", 1);
    } else if (st == HOOK_CONTINUE || st == HOOK_RESPOND) {
        hook_event_result_json(&out, &ev, st);
    } else {
        const char *etype = st == HOOK_INVALID  ? "LambdaValidationError"
                            : rep.timed_out     ? "TimeoutError"
                            : rep.out_of_memory ? "MemoryLimitError"
                                                : "ExecutionError";
        hook_buf_appendf(&out, "{\n  \"status\": %d,\n  \"errorType\": \"%s\",\n  \"errorMessage\": ", rep.http_status, etype);
        hook_buf_json_string(&out, rep.error != NULL ? rep.error : "", rep.error != NULL ? strlen(rep.error) : 0);
        hook_buf_append(&out, "\n}\n", 3);
        status = 1;
    }
    fwrite(out.base, 1, out.len, stdout);
    fflush(stdout);
    hook_buf_free(&out);
    size_t mem = 0;
    if (hook_fn_is_lua(fn)) {
        mem = hook_lua_slot_peak(hook_thread_slot(t, fn));
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        mem = (size_t)ru.ru_maxrss * 1024;
    }
    char id[128], report[512];
    snprintf(id, sizeof(id), "%.*s", (int)ev.request_id.len, ev.request_id.base);
    hook_logtail_report_t r = {.duration_ns = rep.duration_ns, .memory_size = memory, .max_memory_used = mem, .init_ns = init_ns};
    hook_logtail_report_line(report, sizeof(report), id, &r);
    fprintf(stderr, "END RequestId: %s\n%s", id, report);
    if (status != 0)
        fprintf(stderr, "edgehook invoke: hook %s failed: %d %s\n", hook_fn_name(fn), rep.http_status,
                st == HOOK_INVALID ? "(invalid output)" : "(execution error, timeout or memory limit)");
out:
    hook_thread_free(t);
    hook_fn_release(fn);
    h2o_mem_clear_pool(&pool);
    return status;
}
