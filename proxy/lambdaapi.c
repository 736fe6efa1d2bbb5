/* proxy/lambdaapi.c - Lambda's REST management API on the admin listener (see lambdaapi.h): routing, the JSON shapes of
 * botocore's lambda model (FunctionConfiguration, AliasConfiguration, lists with Marker/NextMarker), Lambda's errors, and the
 * changes, which run on the control thread through the registry's transactions (hooks/versions.h). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/str.h"
#include "hooks/json.h"
#include "hooks/versions.h"
#include "proxy/admin.h"
#include "proxy/control.h"
#include "proxy/fleet.h"
#include "proxy/gen.h"
#include "proxy/lambdaapi.h"
#include "proxy/lambdaasync.h"
#include "proxy/lambdainvoke.h"
#include "proxy/lambdazip.h"
#include "proxy/server.h"

#define LAMBDA_ACCOUNT "000000000000"
#define LAMBDA_ROLE "arn:aws:iam::" LAMBDA_ACCOUNT ":role/edgehook"
/* a JSON body (update-function-code carries the zip in base64): at most this many bytes */
#define LAMBDA_MAX_BODY (12u << 20)
/* the hook file inside the zip, inflated */
#define LAMBDA_MAX_CODE (8u << 20)
/* list pages: MaxItems 1..LAMBDA_MAX_PAGE, LAMBDA_PAGE by default (Lambda's own numbers) */
#define LAMBDA_PAGE 50
#define LAMBDA_MAX_PAGE 10000
/* an ARN: the region, a function name and a qualifier (each shorter than a path segment) */
#define ARN_MAX 1024

/* ---- answers ---------------------------------------------------------------------------------------------------------------- */

static void add_request_id(h2o_req_t *req)
{
    char *id = h2o_mem_alloc_pool(&req->pool, 37);
    if (h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-amzn-requestid"), -1) != -1)
        return;
    if (edge_uuid4(id) != 0)
        strcpy(id, "00000000-0000-4000-8000-000000000000");
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-requestid"), 0, NULL, id, 36);
}

void lambdaapi_json(h2o_req_t *req, int status, const char *json, size_t len)
{
    add_request_id(req);
    admin_respond(req, status, edge_http_reason(status), "application/json", h2o_strdup(&req->pool, json != NULL ? json : "", len));
}

static char *error_body(const char *msg)
{
    hook_buf_t b = {NULL, 0, 0};
    hook_buf_appendf(&b, "{\"Type\":\"User\",\"message\":");
    hook_buf_json_string(&b, msg, strlen(msg));
    hook_buf_append(&b, "}", 1);
    return b.base;
}

static void send_error(h2o_req_t *req, int status, const char *type, const char *msg)
{
    char *body = error_body(msg);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-errortype"), 0, NULL, type, strlen(type));
    lambdaapi_json(req, status, body, strlen(body));
    free(body);
}

void lambdaapi_error(h2o_req_t *req, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_error(req, status, type, msg);
}

const char *lambdaapi_region(const conf_t *conf)
{
    return conf->store.region != NULL ? conf->store.region : "us-east-1";
}

size_t lambdaapi_arn(char *out, size_t outlen, const char *region, const char *function, const char *qualifier)
{
    int n = snprintf(out, outlen, "arn:aws:lambda:%s:" LAMBDA_ACCOUNT ":function:%s%s%s", region, function,
                     qualifier != NULL ? ":" : "", qualifier != NULL ? qualifier : "");
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* ---- the path and the query ------------------------------------------------------------------------------------------------ */

#define MAX_SEGS 5
#define SEG_MAX 300

typedef struct route {
    int api2019; /* /2019-09-25/... */
    size_t nseg; /* segments after "functions" */
    char seg[MAX_SEGS][SEG_MAX];
    char function[SEG_MAX], qualifier[SEG_MAX]; /* FunctionName reduced; qualifier "" when none */
    char q_qualifier[SEG_MAX], q_marker[64], q_max[32], q_fversion[SEG_MAX];
    int has_q_qualifier, has_q_marker, has_q_max, has_q_fversion;
} route_t;

int lambdaapi_is_path(h2o_iovec_t path)
{
    static const char *const prefixes[] = {"/2015-03-31/functions", "/2019-09-25/functions"};
    for (size_t i = 0; i != 2; ++i) {
        size_t n = strlen(prefixes[i]);
        if (path.len >= n && memcmp(path.base, prefixes[i], n) == 0 &&
            (path.len == n || path.base[n] == '/' || path.base[n] == '?'))
            return 1;
    }
    return 0;
}

/* percent-decodes src (len bytes) into dst (SEG_MAX); -1 if too long or it holds a NUL or a `/` once decoded */
static int decode_seg(char *dst, const char *src, size_t len)
{
    if (len >= SEG_MAX)
        return -1;
    size_t n = edge_pct_decode(dst, src, len);
    dst[n] = '\0';
    return strlen(dst) == n && memchr(dst, '/', n) == NULL ? 0 : -1;
}

static int name_char(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i != n; ++i)
        if (!name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* a qualifier: $LATEST, a version number or an alias name */
static int valid_qualifier(const char *s)
{
    return strcmp(s, "$LATEST") == 0 || valid_name(s, 128);
}

/* FunctionName: NAME[:QUALIFIER], ACCOUNT:function:NAME[:QUALIFIER] or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
static int reduce_function(route_t *r, const char *given, char *err, size_t errlen)
{
    char parts[8][SEG_MAX];
    size_t n = 0;
    const char *p = given;
    while (n != 8) {
        const char *c = strchr(p, ':');
        size_t len = c != NULL ? (size_t)(c - p) : strlen(p);
        snprintf(parts[n++], SEG_MAX, "%.*s", (int)len, p);
        if (c == NULL)
            break;
        p = c + 1;
        if (n == 8)
            goto Bad;
    }
    size_t at = 0;
    if (n >= 6 && strcmp(parts[0], "arn") == 0) {
        if (strcmp(parts[2], "lambda") != 0 || strcmp(parts[5], "function") != 0)
            goto Bad;
        at = 6;
    } else if (n >= 3 && strcmp(parts[1], "function") == 0) {
        at = 2;
    }
    if (n - at < 1 || n - at > 2 || !valid_name(parts[at], 128))
        goto Bad;
    memcpy(r->function, parts[at], strlen(parts[at]) + 1); /* shorter than SEG_MAX: a part of a segment */
    r->qualifier[0] = '\0';
    if (n - at == 2) {
        if (!valid_qualifier(parts[at + 1]))
            goto Bad;
        memcpy(r->qualifier, parts[at + 1], strlen(parts[at + 1]) + 1);
    }
    return 0;
Bad:
    snprintf(
        err, errlen,
        "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy constraint: a function name is letters, "
        "digits, - _ . (at most 128), optionally with :QUALIFIER, or a function ARN",
        given);
    return -1;
}

/* one query parameter into dst (dstlen); -1 when too long */
static int query_param(const char *v, size_t vlen, char *dst, size_t dstlen)
{
    if (vlen >= dstlen)
        return -1;
    size_t n = edge_pct_decode(dst, v, vlen);
    dst[n] = '\0';
    for (size_t i = 0; i != n; ++i)
        if (dst[i] == '+')
            dst[i] = ' ';
    return strlen(dst) == n ? 0 : -1;
}

static int parse_query(route_t *r, const char *q, size_t len, char *err, size_t errlen)
{
    while (len != 0) {
        const char *amp = memchr(q, '&', len), *eq;
        size_t plen = amp != NULL ? (size_t)(amp - q) : len, klen;
        eq = memchr(q, '=', plen);
        klen = eq != NULL ? (size_t)(eq - q) : plen;
        const char *v = eq != NULL ? eq + 1 : q + plen;
        size_t vlen = eq != NULL ? plen - klen - 1 : 0;
        int bad = 0;
#define PARAM(NAME, field, flag)                                                                                                   \
    if (klen == sizeof(NAME) - 1 && memcmp(q, NAME, klen) == 0) {                                                                  \
        bad = query_param(v, vlen, r->field, sizeof(r->field));                                                                    \
        r->flag = 1;                                                                                                               \
    }
        PARAM("Qualifier", q_qualifier, has_q_qualifier)
        PARAM("Marker", q_marker, has_q_marker)
        PARAM("MaxItems", q_max, has_q_max)
        PARAM("FunctionVersion", q_fversion, has_q_fversion)
#undef PARAM
        if (bad) {
            snprintf(err, errlen, "the query parameter %.*s is too long or malformed", (int)(klen > 64 ? 64 : klen), q);
            return -1;
        }
        if (amp == NULL)
            break;
        len -= plen + 1;
        q = amp + 1;
    }
    return 0;
}

/* 0, or the status of the error answered (404 for an unknown path, 400 for a malformed part) */
static int parse_route(h2o_req_t *req, route_t *r, char *err, size_t errlen)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *p = req->path.base, *end = p + path_len;
    memset(r, 0, sizeof(*r));
    r->api2019 = memcmp(p, "/2019", 5) == 0;
    p += strlen("/2015-03-31/functions");
    while (p < end) {
        if (*p == '/') {
            ++p;
            continue;
        }
        const char *e = memchr(p, '/', end - p);
        size_t len = e != NULL ? (size_t)(e - p) : (size_t)(end - p);
        if (r->nseg == MAX_SEGS) {
            snprintf(err, errlen, "no such Lambda operation: too many path segments");
            return 404;
        }
        if (decode_seg(r->seg[r->nseg], p, len) != 0) {
            snprintf(err, errlen, "a path segment is too long or holds an encoded NUL or /");
            return 400;
        }
        ++r->nseg;
        p += len;
    }
    if (req->query_at != SIZE_MAX &&
        parse_query(r, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, err, errlen) != 0)
        return 400;
    if (r->nseg >= 1 && reduce_function(r, r->seg[0], err, errlen) != 0)
        return 400;
    if (r->has_q_qualifier) {
        if (!valid_qualifier(r->q_qualifier)) {
            snprintf(err, errlen,
                     "1 validation error detected: Value '%.100s' at 'qualifier' failed to satisfy constraint: $LATEST, a "
                     "version number or an alias name",
                     r->q_qualifier);
            return 400;
        }
        if (r->qualifier[0] != '\0' && strcmp(r->qualifier, r->q_qualifier) != 0) {
            snprintf(err, errlen, "The derived qualifier from the function name does not match the specified qualifier.");
            return 400;
        }
        snprintf(r->qualifier, sizeof(r->qualifier), "%s", r->q_qualifier);
    }
    return 0;
}

/* ---- the registry as the API shows it ------------------------------------------------------------------------------------- */

typedef struct lv_version {
    unsigned number; /* 0: $LATEST */
    char sha256[65], sha256_b64[48];
    uint64_t code_size;
    int is_lua;
    char *description;
    uint64_t timeout_s;
    unsigned memory_mb;
    char modified[40]; /* Lambda's format: 2026-12-02T10:55:00.123+0000 */
} lv_version_t;

typedef struct lv_alias {
    char *name, *description;
    unsigned versions[2];
    double weights[2];
    size_t n;
    char revision[96];
} lv_alias_t;

typedef struct lv_function {
    char *name;
    lv_version_t latest;
    lv_version_t *versions;
    size_t num_versions;
    lv_alias_t *aliases;
    size_t num_aliases;
} lv_function_t;

static char *xstrdup(const char *s)
{
    char *r = strdup(s != NULL ? s : "");
    if (r == NULL)
        h2o_fatal("no memory");
    return r;
}

static void lv_free(lv_function_t *fs, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        for (size_t k = 0; k != fs[i].num_versions; ++k)
            free(fs[i].versions[k].description);
        free(fs[i].latest.description);
        for (size_t k = 0; k != fs[i].num_aliases; ++k) {
            free(fs[i].aliases[k].name);
            free(fs[i].aliases[k].description);
        }
        free(fs[i].versions);
        free(fs[i].aliases);
        free(fs[i].name);
    }
    free(fs);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lv_function_t *)a)->name, ((const lv_function_t *)b)->name);
}

static int alias_by_name(const void *a, const void *b)
{
    return strcmp(((const lv_alias_t *)a)->name, ((const lv_alias_t *)b)->name);
}

static uint64_t num_of(const hook_json_t *o, const char *key, uint64_t dflt)
{
    const hook_json_t *x = hook_json_get(o, key);
    return x != NULL && x->type == HOOK_JSON_NUMBER && x->number >= 0 ? (uint64_t)x->number : dflt;
}

static const char *str_of(const hook_json_t *o, const char *key)
{
    const hook_json_t *x = hook_json_get(o, key);
    return x != NULL && x->type == HOOK_JSON_STRING ? x->str : "";
}

/* CODE of hook_versions_json() (hooks/versions.h) as a version */
static void code_of(const hook_json_t *o, lv_version_t *v)
{
    const hook_json_t *t = hook_json_get(o, "timeout_ms");
    v->number = (unsigned)num_of(o, "version", 0);
    snprintf(v->sha256, sizeof(v->sha256), "%s", str_of(o, "sha256"));
    snprintf(v->sha256_b64, sizeof(v->sha256_b64), "%s", str_of(o, "code_sha256"));
    snprintf(v->modified, sizeof(v->modified), "%s", str_of(o, "created"));
    v->code_size = num_of(o, "size", 0);
    v->is_lua = strcmp(str_of(o, "kind"), "lua") == 0;
    v->description = xstrdup(str_of(o, "description"));
    /* -1: the event's default (viewer events 5 s) */
    v->timeout_s = t != NULL && t->type == HOOK_JSON_NUMBER && t->number > 0 ? ((uint64_t)t->number + 999) / 1000 : 5;
    v->memory_mb = (unsigned)((num_of(o, "memory", 64u << 20) + (1u << 20) - 1) >> 20);
}

/* every function (name NULL) or one, from the committed registry (hook_versions_json); NULL with *count 0 when there is none */
static lv_function_t *lv_load(const char *name, size_t *count)
{
    char err[256], *text = hook_versions_json();
    hook_json_t *doc = hook_json_parse(text, strlen(text), err, sizeof(err));
    const hook_json_t *hooks = doc != NULL ? hook_json_get(doc, "hooks") : NULL;
    lv_function_t *fs = NULL;
    size_t n = 0;
    free(text);
    *count = 0;
    if (hooks == NULL || hooks->type != HOOK_JSON_OBJECT) {
        hook_json_free(doc);
        return NULL;
    }
    if ((fs = calloc(hooks->count + 1, sizeof(*fs))) == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != hooks->count; ++i) {
        const hook_json_t *h = hooks->items[i], *latest = hook_json_get(h, "latest"), *vs = hook_json_get(h, "versions"),
                          *as = hook_json_get(h, "aliases");
        if ((name != NULL && strcmp(hooks->keys[i], name) != 0) || latest == NULL || latest->type != HOOK_JSON_OBJECT)
            continue;
        lv_function_t *f = &fs[n++];
        f->name = xstrdup(hooks->keys[i]);
        code_of(latest, &f->latest);
        f->latest.number = 0;
        if (vs != NULL && vs->type == HOOK_JSON_ARRAY) {
            if ((f->versions = calloc(vs->count + 1, sizeof(*f->versions))) == NULL)
                h2o_fatal("no memory");
            for (size_t k = 0; k != vs->count; ++k)
                code_of(vs->items[k], &f->versions[f->num_versions++]);
        }
        if (as != NULL && as->type == HOOK_JSON_OBJECT) {
            if ((f->aliases = calloc(as->count + 1, sizeof(*f->aliases))) == NULL)
                h2o_fatal("no memory");
            for (size_t k = 0; k != as->count; ++k) {
                const hook_json_t *m = hook_json_get(as->items[k], "versions");
                lv_alias_t *a = &f->aliases[f->num_aliases++];
                a->name = xstrdup(as->keys[k]);
                a->description = xstrdup(str_of(as->items[k], "description"));
                /* the registry's revision (it changes with every change) and when */
                snprintf(a->revision, sizeof(a->revision), "%.40s %.40s", str_of(as->items[k], "revision"),
                         str_of(as->items[k], "modified"));
                for (size_t j = 0; m != NULL && m->type == HOOK_JSON_OBJECT && j != m->count && j != 2; ++j) {
                    a->versions[a->n] = (unsigned)strtoul(m->keys[j], NULL, 10);
                    a->weights[a->n++] = m->items[j]->type == HOOK_JSON_NUMBER ? m->items[j]->number : 0;
                }
            }
            qsort(f->aliases, f->num_aliases, sizeof(*f->aliases), alias_by_name);
        }
    }
    hook_json_free(doc);
    if (n == 0) {
        free(fs);
        return NULL;
    }
    qsort(fs, n, sizeof(*fs), by_name);
    *count = n;
    return fs;
}

static const lv_version_t *lv_version(const lv_function_t *f, unsigned number)
{
    if (number == 0)
        return &f->latest;
    for (size_t i = 0; i != f->num_versions; ++i)
        if (f->versions[i].number == number)
            return &f->versions[i];
    return NULL;
}

static const lv_alias_t *lv_alias(const lv_function_t *f, const char *name)
{
    for (size_t i = 0; i != f->num_aliases; ++i)
        if (strcmp(f->aliases[i].name, name) == 0)
            return &f->aliases[i];
    return NULL;
}

/* a version number of a qualifier: 1 and *number for digits, 0 for $LATEST (number 0), -1 for an alias name */
static int qualifier_number(const char *q, unsigned *number)
{
    char *end;
    if (strcmp(q, "$LATEST") == 0) {
        *number = 0;
        return 1;
    }
    if (!isdigit((unsigned char)q[0]))
        return -1;
    unsigned long v = strtoul(q, &end, 10);
    if (*end != '\0' || v == 0 || v > 0xffffffffu)
        return -1;
    *number = (unsigned)v;
    return 1;
}

/* ---- JSON shapes ---------------------------------------------------------------------------------------------------------- */

static void put_str(hook_buf_t *b, const char *key, const char *value)
{
    hook_buf_appendf(b, "\"%s\":", key);
    hook_buf_json_string(b, value, strlen(value));
}

/* a UUID-shaped digest of what a revision is: it changes when the thing changes */
static void revision_id(char out[37], const char *what)
{
    char hex[65];
    edge_sha256_hex(what, strlen(what), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* FunctionConfiguration of version v of f; the ARN carries arn_qualifier (NULL: unqualified) */
static void put_configuration(hook_buf_t *b, const char *region, const lv_function_t *f, const lv_version_t *v,
                              const char *arn_qualifier)
{
    char arn[ARN_MAX], ver[16], rev[37], what[512];
    lambdaapi_arn(arn, sizeof(arn), region, f->name, arn_qualifier);
    if (v->number == 0)
        snprintf(ver, sizeof(ver), "$LATEST");
    else
        snprintf(ver, sizeof(ver), "%u", v->number);
    snprintf(what, sizeof(what), "%s\n%s\n%s\n%.200s\n%s", f->name, ver, v->sha256, v->description, v->modified);
    revision_id(rev, what);
    hook_buf_append(b, "{", 1);
    put_str(b, "FunctionName", f->name);
    hook_buf_append(b, ",", 1);
    put_str(b, "FunctionArn", arn);
    hook_buf_appendf(b, ",\"Runtime\":\"%s\",\"Role\":\"" LAMBDA_ROLE "\",\"Handler\":\"%s\",\"CodeSize\":%llu,",
                     v->is_lua ? "lua5.1" : "provided", v->is_lua ? "handler" : "edge_hook", (unsigned long long)v->code_size);
    put_str(b, "Description", v->description);
    hook_buf_appendf(b, ",\"Timeout\":%llu,\"MemorySize\":%u,", (unsigned long long)v->timeout_s, v->memory_mb);
    put_str(b, "LastModified", v->modified);
    hook_buf_append(b, ",", 1);
    put_str(b, "CodeSha256", v->sha256_b64);
    hook_buf_appendf(b,
                     ",\"Version\":\"%s\",\"RevisionId\":\"%s\",\"State\":\"Active\",\"LastUpdateStatus\":\"Successful\","
                     "\"PackageType\":\"Zip\",\"Architectures\":[\"x86_64\"]}",
                     ver, rev);
}

static void put_alias(hook_buf_t *b, const char *region, const lv_function_t *f, const lv_alias_t *a)
{
    char arn[ARN_MAX], rev[37], what[1024];
    int n = snprintf(what, sizeof(what), "%s\n%s\n%.200s\n%s", f->name, a->name, a->description, a->revision);
    for (size_t i = 0; i != a->n && n > 0 && (size_t)n < sizeof(what); ++i)
        n += snprintf(what + n, sizeof(what) - n, "\n%u=%.17g", a->versions[i], a->weights[i]);
    revision_id(rev, what);
    lambdaapi_arn(arn, sizeof(arn), region, f->name, a->name);
    hook_buf_append(b, "{", 1);
    put_str(b, "AliasArn", arn);
    hook_buf_append(b, ",", 1);
    put_str(b, "Name", a->name);
    hook_buf_appendf(b, ",\"FunctionVersion\":\"%u\",", a->versions[0]);
    put_str(b, "Description", a->description);
    if (a->n == 2)
        hook_buf_appendf(b, ",\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"%u\":%.6g}}", a->versions[1], a->weights[1]);
    hook_buf_appendf(b, ",\"RevisionId\":\"%s\"}", rev);
}

/* ---- reads (on the worker: the registry is read under its short lock) ---------------------------------------------------- */

static void not_found(h2o_req_t *req, const char *region, const char *function, const char *qualifier)
{
    char arn[ARN_MAX];
    lambdaapi_arn(arn, sizeof(arn), region, function, qualifier);
    lambdaapi_error(req, 404, "ResourceNotFoundException", "Function not found: %s", arn);
}

/* the page of a list: [*from, *to) of n items, 0 or -1 after an answered error */
static int page_of(h2o_req_t *req, const route_t *r, size_t n, size_t *from, size_t *to)
{
    size_t max = LAMBDA_PAGE;
    char *end;
    *from = 0;
    if (r->has_q_max) {
        unsigned long m = strtoul(r->q_max, &end, 10);
        if (r->q_max[0] == '\0' || *end != '\0' || m < 1 || m > LAMBDA_MAX_PAGE) {
            lambdaapi_error(
                req, 400, "InvalidParameterValueException",
                "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value "
                "between 1 and %d",
                r->q_max, LAMBDA_MAX_PAGE);
            return -1;
        }
        max = m;
    }
    if (r->has_q_marker) {
        unsigned long m = strtoul(r->q_marker, &end, 10);
        if (r->q_marker[0] == '\0' || *end != '\0' || m > n) {
            lambdaapi_error(req, 400, "InvalidParameterValueException",
                            "Invalid Marker '%s': give the NextMarker of the previous page", r->q_marker);
            return -1;
        }
        *from = m;
    }
    *to = *from + max < n ? *from + max : n;
    return 0;
}

static void put_next_marker(hook_buf_t *b, size_t to, size_t n)
{
    if (to < n)
        hook_buf_appendf(b, ",\"NextMarker\":\"%zu\"", to);
}

static void list_functions(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    size_t n, from, to;
    lv_function_t *fs = lv_load(NULL, &n);
    hook_buf_t b = {NULL, 0, 0};
    if (page_of(req, r, n, &from, &to) != 0) {
        lv_free(fs, n);
        return;
    }
    hook_buf_append(&b, "{\"Functions\":[", 14);
    for (size_t i = from; i < to; ++i) {
        if (i != from)
            hook_buf_append(&b, ",", 1);
        put_configuration(&b, lambdaapi_region(conf), &fs[i], &fs[i].latest, NULL);
    }
    hook_buf_append(&b, "]", 1);
    put_next_marker(&b, to, n);
    hook_buf_append(&b, "}", 1);
    lambdaapi_json(req, 200, b.base, b.len);
    hook_buf_free(&b);
    lv_free(fs, n);
}

/* the version a qualifier names (NULL after an answered 404); *arn_q is the ARN's qualifier */
static const lv_version_t *resolve(h2o_req_t *req, const conf_t *conf, const lv_function_t *f, const char *qualifier,
                                   const char **arn_q)
{
    unsigned number;
    *arn_q = qualifier[0] != '\0' ? qualifier : NULL;
    if (qualifier[0] == '\0')
        return &f->latest;
    if (qualifier_number(qualifier, &number) == 1) {
        const lv_version_t *v = lv_version(f, number);
        if (v == NULL)
            not_found(req, lambdaapi_region(conf), f->name, qualifier);
        return v;
    }
    const lv_alias_t *a = lv_alias(f, qualifier);
    const lv_version_t *v = a != NULL ? lv_version(f, a->versions[0]) : NULL;
    if (v == NULL)
        not_found(req, lambdaapi_region(conf), f->name, qualifier);
    return v;
}

static void get_function(h2o_req_t *req, const route_t *r, const conf_t *conf, int configuration_only)
{
    size_t n;
    lv_function_t *f = lv_load(r->function, &n);
    const lv_version_t *v;
    const char *arn_q;
    hook_buf_t b = {NULL, 0, 0};
    if (f == NULL) {
        not_found(req, lambdaapi_region(conf), r->function, r->qualifier[0] != '\0' ? r->qualifier : NULL);
        return;
    }
    if ((v = resolve(req, conf, f, r->qualifier, &arn_q)) == NULL) {
        lv_free(f, n);
        return;
    }
    if (!configuration_only)
        hook_buf_append(&b, "{\"Configuration\":", 17);
    put_configuration(&b, lambdaapi_region(conf), f, v, arn_q);
    if (!configuration_only) {
        /* the code lives in the state directory, content-addressed: its location is where the registry keeps it */
        hook_buf_appendf(&b, ",\"Code\":{\"RepositoryType\":\"edgehook\",\"Location\":\"edgehook:code/%s%s\"}}", v->sha256,
                         v->is_lua ? ".lua" : ".so");
    }
    lambdaapi_json(req, 200, b.base, b.len);
    hook_buf_free(&b);
    lv_free(f, n);
}

static void list_versions(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    size_t n, from, to;
    lv_function_t *f = lv_load(r->function, &n);
    hook_buf_t b = {NULL, 0, 0};
    if (f == NULL) {
        not_found(req, lambdaapi_region(conf), r->function, NULL);
        return;
    }
    /* $LATEST first, then the versions in ascending order, as Lambda lists them */
    size_t total = f->num_versions + 1;
    if (page_of(req, r, total, &from, &to) != 0) {
        lv_free(f, n);
        return;
    }
    hook_buf_append(&b, "{\"Versions\":[", 13);
    for (size_t i = from; i < to; ++i) {
        const lv_version_t *v = i == 0 ? &f->latest : &f->versions[i - 1];
        char q[16];
        snprintf(q, sizeof(q), i == 0 ? "$LATEST" : "%u", v->number);
        if (i != from)
            hook_buf_append(&b, ",", 1);
        put_configuration(&b, lambdaapi_region(conf), f, v, q);
    }
    hook_buf_append(&b, "]", 1);
    put_next_marker(&b, to, total);
    hook_buf_append(&b, "}", 1);
    lambdaapi_json(req, 200, b.base, b.len);
    hook_buf_free(&b);
    lv_free(f, n);
}

static void list_aliases(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    size_t n, from, to, m = 0;
    unsigned only = 0;
    lv_function_t *f = lv_load(r->function, &n);
    hook_buf_t b = {NULL, 0, 0};
    if (f == NULL) {
        not_found(req, lambdaapi_region(conf), r->function, NULL);
        return;
    }
    if (r->has_q_fversion && qualifier_number(r->q_fversion, &only) != 1) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "FunctionVersion is $LATEST or a version number, not '%s'",
                        r->q_fversion);
        lv_free(f, n);
        return;
    }
    /* the aliases that point at FunctionVersion (any of their versions), or all */
    const lv_alias_t **sel = calloc(f->num_aliases + 1, sizeof(*sel));
    if (sel == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != f->num_aliases; ++i)
        if (!r->has_q_fversion || f->aliases[i].versions[0] == only || (f->aliases[i].n == 2 && f->aliases[i].versions[1] == only))
            sel[m++] = &f->aliases[i];
    if (page_of(req, r, m, &from, &to) == 0) {
        hook_buf_append(&b, "{\"Aliases\":[", 12);
        for (size_t i = from; i < to; ++i) {
            if (i != from)
                hook_buf_append(&b, ",", 1);
            put_alias(&b, lambdaapi_region(conf), f, sel[i]);
        }
        hook_buf_append(&b, "]", 1);
        put_next_marker(&b, to, m);
        hook_buf_append(&b, "}", 1);
        lambdaapi_json(req, 200, b.base, b.len);
    }
    free(sel);
    hook_buf_free(&b);
    lv_free(f, n);
}

static void get_alias(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    size_t n;
    lv_function_t *f = lv_load(r->function, &n);
    const lv_alias_t *a = f != NULL ? lv_alias(f, r->seg[2]) : NULL;
    hook_buf_t b = {NULL, 0, 0};
    if (a == NULL) {
        char arn[ARN_MAX];
        lambdaapi_arn(arn, sizeof(arn), lambdaapi_region(conf), r->function, r->seg[2]);
        lambdaapi_error(req, 404, "ResourceNotFoundException", f == NULL ? "Function not found: %s" : "Alias not found: %s", arn);
        lv_free(f, n);
        return;
    }
    put_alias(&b, lambdaapi_region(conf), f, a);
    lambdaapi_json(req, 200, b.base, b.len);
    hook_buf_free(&b);
    lv_free(f, n);
}

/* ---- changes (on the control thread) -------------------------------------------------------------------------------------- */

enum { OP_ALIAS_CREATE, OP_ALIAS_UPDATE, OP_ALIAS_DELETE, OP_PUBLISH, OP_UPDATE_CODE, OP_DELETE_FUNCTION };

typedef struct lapi_job {
    h2o_req_t *req; /* NULL once the request is gone (worker thread only) */
    struct lapi_guard *guard;
    int op;
    char function[SEG_MAX], alias[SEG_MAX], region[64];
    /* aliases: the target as given (has_version: FunctionVersion; has_routing: RoutingConfig, version2 0 = none) */
    int has_version, has_routing, has_description;
    unsigned version, version2;
    double weight2;
    char *description;
    /* publish */
    char *code_sha256; /* base64 as given, or NULL */
    /* update-function-code: the zip as uploaded */
    char *zip;
    size_t zip_len;
    int publish, dry_run;
    /* the answer, filled on the control thread */
    int status;
    char *type; /* the error type, or NULL */
    hook_buf_t out;
} lapi_job_t;

typedef struct lapi_guard {
    lapi_job_t *job;
} lapi_guard_t;

static void on_guard_dispose(void *p)
{
    lapi_guard_t *g = p;
    if (g->job != NULL)
        g->job->req = NULL;
}

static void job_fail(lapi_job_t *job, int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void job_fail(lapi_job_t *job, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *body = error_body(msg);
    job->status = status;
    job->type = xstrdup(type);
    job->out.len = 0;
    hook_buf_append(&job->out, body, strlen(body));
    free(body);
}

/* a registry failure (hooks/versions.h) as Lambda's error */
static void job_fail_kind(lapi_job_t *job, hook_versions_err_t kind, const char *err)
{
    switch (kind) {
    case HOOK_VERSIONS_NOT_FOUND:
        job_fail(job, 404, "ResourceNotFoundException", "%s", err);
        break;
    case HOOK_VERSIONS_PRECONDITION:
        job_fail(job, 412, "PreconditionFailedException", "%s", err);
        break;
    case HOOK_VERSIONS_INVALID:
        job_fail(job, 400, "InvalidParameterValueException", "%s", err);
        break;
    case HOOK_VERSIONS_CONFLICT:
        job_fail(job, 409, "ResourceConflictException", "%s", err);
        break;
    default:
        job_fail(job, 500, "ServiceException", "%s", err);
        break;
    }
}

/* a failed call on txn: drops it and fails the job with the call's failure */
static void job_abort(lapi_job_t *job, hook_versions_txn_t *txn, const char *err)
{
    hook_versions_err_t kind = hook_versions_error_kind(txn);
    server_hooks_abort(txn);
    job_fail_kind(job, kind, err);
}

/* makes the staged change the registry (rebind: with a new generation, the hooks bound again): 0, or -1 with the job failed */
static int job_commit(lapi_job_t *job, hook_versions_txn_t *txn, int rebind)
{
    char err[1024];
    int r = server_hooks_commit(txn, rebind, err, sizeof(err));
    if (r != 0) {
        /* -2: the state dir could not be written; else the hooks did not bind: either way nothing changed */
        job_fail_kind(job, r == -2 ? HOOK_VERSIONS_STORAGE : HOOK_VERSIONS_CONFLICT, err);
        return -1;
    }
    return 0;
}

/* answers with the FunctionConfiguration of version `number` (0: $LATEST) of the job's function, as committed */
static void job_configuration(lapi_job_t *job, unsigned number, int status)
{
    size_t n;
    char q[16];
    lv_function_t *f = lv_load(job->function, &n);
    const lv_version_t *v = f != NULL ? lv_version(f, number) : NULL;
    if (v == NULL) {
        job_fail(job, 500, "ServiceException", "the function changed meanwhile");
    } else {
        snprintf(q, sizeof(q), "%u", number);
        job->status = status;
        put_configuration(&job->out, job->region, f, v, number != 0 ? q : NULL);
    }
    lv_free(f, n);
}

static void run_publish(lapi_job_t *job)
{
    char err[1024];
    unsigned version;
    hook_versions_txn_t *txn = server_hooks_begin();
    if (hook_versions_publish_latest(txn, job->function, job->code_sha256, job->description, &version, err, sizeof(err)) != 0) {
        job_abort(job, txn, err);
        return;
    }
    if (job_commit(job, txn, 0) != 0)
        return;
    log_info("lambda api: %s: version %u published", job->function, version);
    job_configuration(job, version, 201);
}

static void run_update_code(lapi_job_t *job)
{
    char err[1024], *code;
    size_t len;
    int is_lua;
    unsigned version = 0;
    hook_versions_txn_t *txn;
    /* inflating is bounded (LAMBDA_MAX_CODE) and happens here, off the workers' loops */
    if (lambdazip_extract(job->zip, job->zip_len, LAMBDA_MAX_CODE, &code, &len, &is_lua, err, sizeof(err)) != 0) {
        job_fail(job, 400, "InvalidParameterValueException", "%s", err);
        return;
    }
    txn = server_hooks_begin();
    if (hook_versions_update_code(txn, job->function, code, len, is_lua ? "lua" : "so", err, sizeof(err)) != 0 ||
        (job->publish && hook_versions_publish_latest(txn, job->function, NULL, NULL, &version, err, sizeof(err)) != 0)) {
        free(code);
        job_abort(job, txn, err);
        return;
    }
    free(code);
    if (job->dry_run) { /* checked (unzipped, compiled or its ABI checked), not changed */
        server_hooks_abort(txn);
        job_configuration(job, 0, 200);
        return;
    }
    if (job_commit(job, txn, 1) != 0)
        return;
    log_info("lambda api: %s: $LATEST updated (%zu bytes of %s)%s", job->function, len, is_lua ? "Lua" : "native code",
             job->publish ? ", published" : "");
    fleet_publish_latest(job->function, err, sizeof(err));
    job_configuration(job, version, 200);
}

static void run_delete_function(lapi_job_t *job, const conf_t *conf)
{
    char err[1024];
    hook_versions_txn_t *txn;
    if (hook_versions_conf_uses(conf, job->function)) {
        job_fail(job, 409, "ResourceConflictException",
                 "Function %s is in use: a behavior of the running configuration (%s) names it. Remove it from the behaviors "
                 "first.",
                 job->function, conf->file != NULL ? conf->file : "-");
        return;
    }
    txn = server_hooks_begin();
    if (hook_versions_delete_hook(txn, job->function, err, sizeof(err)) != 0) {
        job_abort(job, txn, err);
        return;
    }
    if (job_commit(job, txn, 1) != 0)
        return;
    log_info("lambda api: function %s deleted with its versions and aliases", job->function);
    job->status = 204;
}

/* the alias after the job's change: the target given over the current one */
static int alias_target(lapi_job_t *job, const lv_alias_t *cur, unsigned versions[2], double weights[2], size_t *n)
{
    versions[0] = job->has_version ? job->version : cur->versions[0];
    if (job->has_routing) {
        versions[1] = job->version2;
        weights[1] = job->weight2;
    } else if (cur != NULL && cur->n == 2) {
        versions[1] = cur->versions[1];
        weights[1] = cur->weights[1];
    } else {
        versions[1] = 0;
    }
    if (versions[1] == 0 || weights[1] == 0) {
        *n = 1;
        weights[0] = 1.0;
        return 0;
    }
    if (versions[1] == versions[0]) {
        job_fail(job, 400, "InvalidParameterValueException",
                 "Invalid function version %u: the additional version must differ from FunctionVersion", versions[1]);
        return -1;
    }
    *n = 2;
    weights[0] = 1.0 - weights[1];
    return 0;
}

static void run_alias(lapi_job_t *job)
{
    char err[1024];
    size_t n, cnt = 0;
    unsigned versions[2];
    double weights[2];
    lv_function_t *f = lv_load(job->function, &n);
    const lv_alias_t *cur = f != NULL ? lv_alias(f, job->alias) : NULL;
    hook_versions_txn_t *txn;
    char arn[ARN_MAX];
    lambdaapi_arn(arn, sizeof(arn), job->region, job->function, job->op == OP_ALIAS_CREATE ? NULL : job->alias);
    if (f == NULL) {
        lambdaapi_arn(arn, sizeof(arn), job->region, job->function, NULL);
        job_fail(job, 404, "ResourceNotFoundException", "Function not found: %s", arn);
        goto Done;
    }
    if (job->op == OP_ALIAS_CREATE && cur != NULL) {
        lambdaapi_arn(arn, sizeof(arn), job->region, job->function, job->alias);
        job_fail(job, 409, "ResourceConflictException", "Alias already exists: %s", arn);
        goto Done;
    }
    if (job->op != OP_ALIAS_CREATE && cur == NULL) {
        job_fail(job, 404, "ResourceNotFoundException", "Alias not found: %s", arn);
        goto Done;
    }
    if (job->op != OP_ALIAS_DELETE && alias_target(job, cur, versions, weights, &cnt) != 0)
        goto Done;
    for (size_t i = 0; job->op != OP_ALIAS_DELETE && i != cnt; ++i) {
        if (lv_version(f, versions[i]) == NULL) { /* as Lambda says it: the qualified function is not found */
            char q[16];
            snprintf(q, sizeof(q), "%u", versions[i]);
            lambdaapi_arn(arn, sizeof(arn), job->region, job->function, q);
            job_fail(job, 404, "ResourceNotFoundException", "Function not found: %s", arn);
            goto Done;
        }
    }
    txn = server_hooks_begin();
    if (job->op == OP_ALIAS_DELETE
            ? hook_versions_delete_alias(txn, job->function, job->alias, err, sizeof(err))
            : hook_versions_set_alias_by(txn, job->function, job->alias, versions, weights, cnt, NULL,
                                         job->has_description ? job->description : NULL, "api", err, sizeof(err))) {
        job_abort(job, txn, err);
        goto Done;
    }
    /* the change takes effect by a new generation with the hooks bound again; if they do not bind, nothing changed */
    if (job_commit(job, txn, 1) != 0)
        goto Done;
    if (fleet_publish_alias(job->function, job->alias, err, sizeof(err)) != 0)
        log_warn("lambda api: alias %s of %s changed on this node only: %s", job->alias, job->function, err);
    log_info("lambda api: %s alias %s of %s",
             job->op == OP_ALIAS_CREATE   ? "created"
             : job->op == OP_ALIAS_DELETE ? "deleted"
                                          : "updated",
             job->alias, job->function);
    if (job->op == OP_ALIAS_DELETE) {
        job->status = 204;
        goto Done;
    }
    lv_free(f, n);
    f = lv_load(job->function, &n);
    cur = f != NULL ? lv_alias(f, job->alias) : NULL;
    if (cur == NULL) {
        job_fail(job, 500, "ServiceException", "the alias vanished after its change");
        goto Done;
    }
    job->status = job->op == OP_ALIAS_CREATE ? 201 : 200;
    put_alias(&job->out, job->region, f, cur);
Done:
    lv_free(f, n);
}

static void run_job(void *arg)
{
    lapi_job_t *job = arg;
    /* the generation current on the control thread: only this thread replaces it */
    const conf_t *conf = atomic_load(&server.gen)->conf;
    switch (job->op) {
    case OP_ALIAS_CREATE:
    case OP_ALIAS_UPDATE:
    case OP_ALIAS_DELETE:
        run_alias(job);
        break;
    case OP_PUBLISH:
        run_publish(job);
        break;
    case OP_UPDATE_CODE:
        run_update_code(job);
        break;
    case OP_DELETE_FUNCTION:
        run_delete_function(job, conf);
        break;
    }
}

/* the worker that posted the job */
static void job_done(void *arg)
{
    lapi_job_t *job = arg;
    if (job->req != NULL) {
        job->guard->job = NULL;
        if (job->type != NULL)
            h2o_add_header_by_str(&job->req->pool, &job->req->res.headers, H2O_STRLIT("x-amzn-errortype"), 0, NULL,
                                  h2o_strdup(&job->req->pool, job->type, SIZE_MAX).base, strlen(job->type));
        lambdaapi_json(job->req, job->status, job->out.base, job->status == 204 ? 0 : job->out.len);
    }
    hook_buf_free(&job->out);
    free(job->type);
    free(job->description);
    free(job->code_sha256);
    free(job->zip);
    free(job);
}

static lapi_job_t *job_new(int op, const route_t *r, const conf_t *conf)
{
    lapi_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        h2o_fatal("no memory");
    job->op = op;
    job->status = 500;
    snprintf(job->function, sizeof(job->function), "%s", r->function);
    snprintf(job->region, sizeof(job->region), "%s", lambdaapi_region(conf));
    return job;
}

static void job_post(h2o_req_t *req, lapi_job_t *job)
{
    job->req = req;
    job->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*job->guard), on_guard_dispose);
    job->guard->job = job;
    control_post(run_job, job_done, job);
}

/* ---- request bodies --------------------------------------------------------------------------------------------------------- */

/* the body as a JSON object (an empty body is {}); NULL after an answered error */
static hook_json_t *body_object(h2o_req_t *req)
{
    char err[256];
    hook_json_t *doc;
    if (req->entity.len > LAMBDA_MAX_BODY) {
        lambdaapi_error(req, 413, "RequestTooLargeException", "Request must be smaller than %u bytes for this operation",
                        LAMBDA_MAX_BODY);
        return NULL;
    }
    if (req->entity.len == 0)
        return hook_json_parse("{}", 2, err, sizeof(err));
    if ((doc = hook_json_parse_max(req->entity.base, req->entity.len, 10000, err, sizeof(err))) == NULL) {
        lambdaapi_error(req, 400, "InvalidRequestContentException", "Could not parse request body into json: %s", err);
        return NULL;
    }
    if (doc->type != HOOK_JSON_OBJECT) {
        hook_json_free(doc);
        lambdaapi_error(req, 400, "InvalidRequestContentException", "Could not parse request body into json: not an object");
        return NULL;
    }
    return doc;
}

/* a string member: 1 and *out, 0 when absent, -1 after an answered error */
static int member_string(h2o_req_t *req, const hook_json_t *doc, const char *key, size_t max, const char **out)
{
    const hook_json_t *v = hook_json_get(doc, key);
    if (v == NULL || v->type == HOOK_JSON_NULL)
        return 0;
    if (v->type != HOOK_JSON_STRING || v->len > max || strlen(v->str) != v->len) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "%s must be a string of at most %zu characters", key, max);
        return -1;
    }
    *out = v->str;
    return 1;
}

/* a version number given as a string ("3"); 0 after an answered error */
static unsigned version_arg(h2o_req_t *req, const char *s, const char *what)
{
    unsigned number;
    if (qualifier_number(s, &number) != 1 || number == 0) {
        lambdaapi_error(req, 400, "InvalidParameterValueException",
                        "%s must be a published version number (aliases of edgehook point at numbered versions), not '%.64s'", what,
                        s);
        return 0;
    }
    return number;
}

/* create-alias / update-alias: Name, FunctionVersion, Description, RoutingConfig */
static void alias_write(h2o_req_t *req, const route_t *r, const conf_t *conf, int op)
{
    hook_json_t *doc = body_object(req);
    const char *name = NULL, *fv = NULL, *desc = NULL;
    const hook_json_t *rc, *w;
    lapi_job_t *job;
    int got;
    if (doc == NULL)
        return;
    if (op == OP_ALIAS_CREATE) {
        if ((got = member_string(req, doc, "Name", 128, &name)) <= 0) {
            if (got == 0)
                lambdaapi_error(req, 400, "InvalidParameterValueException", "Name is required");
            goto Done;
        }
    } else {
        name = r->seg[2];
    }
    if (!valid_name(name, 128)) {
        lambdaapi_error(req, 400, "InvalidParameterValueException",
                        "1 validation error detected: Value '%.128s' at 'name' failed to "
                        "satisfy constraint: an alias name is letters, - _ .",
                        name);
        goto Done;
    }
    if ((got = member_string(req, doc, "FunctionVersion", 1024, &fv)) < 0 || member_string(req, doc, "Description", 256, &desc) < 0)
        goto Done;
    if (got == 0 && op == OP_ALIAS_CREATE) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "FunctionVersion is required");
        goto Done;
    }
    job = job_new(op, r, conf);
    snprintf(job->alias, sizeof(job->alias), "%s", name);
    if (fv != NULL) {
        job->has_version = 1;
        if ((job->version = version_arg(req, fv, "FunctionVersion")) == 0) {
            free(job);
            goto Done;
        }
    }
    if (desc != NULL) {
        job->has_description = 1;
        job->description = xstrdup(desc);
    }
    if ((rc = hook_json_get(doc, "RoutingConfig")) != NULL && rc->type != HOOK_JSON_NULL) {
        w = rc->type == HOOK_JSON_OBJECT ? hook_json_get(rc, "AdditionalVersionWeights") : NULL;
        job->has_routing = 1;
        if (rc->type != HOOK_JSON_OBJECT || (w != NULL && (w->type != HOOK_JSON_OBJECT || w->count > 1))) {
            lambdaapi_error(req, 400, "InvalidParameterValueException",
                            "RoutingConfig is {\"AdditionalVersionWeights\": {\"VERSION\": WEIGHT}} with one additional version");
            free(job->description);
            free(job);
            goto Done;
        }
        if (w != NULL && w->count == 1) {
            if ((job->version2 = version_arg(req, w->keys[0], "the additional version")) == 0) {
                free(job->description);
                free(job);
                goto Done;
            }
            if (w->items[0]->type != HOOK_JSON_NUMBER || !(w->items[0]->number >= 0 && w->items[0]->number < 1)) {
                lambdaapi_error(req, 400, "InvalidParameterValueException",
                                "1 validation error detected: the weight of version %u must be at least 0.0 and below 1.0",
                                job->version2);
                free(job->description);
                free(job);
                goto Done;
            }
            job->weight2 = w->items[0]->number;
        }
    }
    job_post(req, job);
Done:
    hook_json_free(doc);
}

/* publish-version: CodeSha256 (checked against $LATEST's), Description */
static void publish(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    hook_json_t *doc = body_object(req);
    const char *sha = NULL, *desc = NULL;
    lapi_job_t *job;
    if (doc == NULL)
        return;
    if (member_string(req, doc, "CodeSha256", 64, &sha) < 0 || member_string(req, doc, "Description", 256, &desc) < 0) {
        hook_json_free(doc);
        return;
    }
    job = job_new(OP_PUBLISH, r, conf);
    job->code_sha256 = sha != NULL ? xstrdup(sha) : NULL;
    job->description = desc != NULL ? xstrdup(desc) : NULL;
    hook_json_free(doc);
    job_post(req, job);
}

/* a boolean member: 0 or 1 (absent: 0), -1 after an answered error */
static int member_bool(h2o_req_t *req, const hook_json_t *doc, const char *key)
{
    const hook_json_t *v = hook_json_get(doc, key);
    if (v == NULL || v->type == HOOK_JSON_NULL || v->type == HOOK_JSON_FALSE)
        return 0;
    if (v->type == HOOK_JSON_TRUE)
        return 1;
    lambdaapi_error(req, 400, "InvalidParameterValueException", "%s must be true or false", key);
    return -1;
}

/* update-function-code: ZipFile (base64 of a zip with one .lua or .so), Publish, DryRun */
static void update_code(h2o_req_t *req, const route_t *r, const conf_t *conf)
{
    hook_json_t *doc = body_object(req);
    const hook_json_t *zip;
    lapi_job_t *job;
    int publish, dry_run;
    long n;
    if (doc == NULL)
        return;
    if (hook_json_get(doc, "S3Bucket") != NULL || hook_json_get(doc, "S3Key") != NULL || hook_json_get(doc, "ImageUri") != NULL) {
        lambdaapi_error(req, 400, "InvalidParameterValueException",
                        "edgehook takes the code as --zip-file (a zip with one .lua or .so); S3Bucket/S3Key and ImageUri are not "
                        "supported");
        goto Done;
    }
    if ((zip = hook_json_get(doc, "ZipFile")) == NULL || zip->type != HOOK_JSON_STRING || zip->len == 0) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "ZipFile is required: --zip-file fileb://FUNCTION.zip");
        goto Done;
    }
    if ((publish = member_bool(req, doc, "Publish")) < 0 || (dry_run = member_bool(req, doc, "DryRun")) < 0)
        goto Done;
    if (!lambdazip_available()) {
        char err[256];
        char *unused;
        size_t len;
        int is_lua;
        lambdazip_extract("", 0, 0, &unused, &len, &is_lua, err, sizeof(err));
        lambdaapi_error(req, 400, "InvalidParameterValueException", "%s", err);
        goto Done;
    }
    job = job_new(OP_UPDATE_CODE, r, conf);
    if ((job->zip = malloc(zip->len / 4 * 3 + 4)) == NULL)
        h2o_fatal("no memory");
    if ((n = edge_base64_decode(job->zip, zip->str, zip->len, EDGE_BASE64_STRICT)) < 0) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "ZipFile is not base64");
        free(job->zip);
        free(job);
        goto Done;
    }
    job->zip_len = (size_t)n;
    job->publish = publish;
    job->dry_run = dry_run;
    job_post(req, job);
Done:
    hook_json_free(doc);
}

/* ---- routing --------------------------------------------------------------------------------------------------------------- */

static void invoke(h2o_req_t *req, const lambdaapi_target_t *t)
{
    lambdainvoke_handle(req); /* it parses the path itself */
}

static void event_invoke_config(h2o_req_t *req, const lambdaapi_target_t *t)
{
    lambda_async_handle_config(req, t->function, t->qualifier != NULL ? t->qualifier : "");
}

/* the operations other modules answer: METHOD, API date, the segment after the function name */
static const struct {
    const char *method, *api, *sub;
    lambdaapi_fn fn;
} others[] = {
    {"POST", "2015-03-31", "invocations", invoke},
    {"GET", "2019-09-25", "event-invoke-config", event_invoke_config},
    {"PUT", "2019-09-25", "event-invoke-config", event_invoke_config},
    {"POST", "2019-09-25", "event-invoke-config", event_invoke_config},
    {"DELETE", "2019-09-25", "event-invoke-config", event_invoke_config},
};

static int method_is(h2o_req_t *req, const char *m)
{
    return req->method.len == strlen(m) && memcmp(req->method.base, m, req->method.len) == 0;
}

static void unknown(h2o_req_t *req)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    lambdaapi_error(req, 404, "UnknownOperationException", "Unknown operation: %.*s %.*s",
                    (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base, (int)(path_len > 200 ? 200 : path_len),
                    req->path.base);
}

void lambdaapi_handle(h2o_req_t *req)
{
    const conf_t *conf = server_worker_current()->gen->conf; /* the worker keeps its generation alive during this call */
    route_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    char err[1024];
    int st = parse_route(req, r, err, sizeof(err));
    if (st == 404) {
        lambdaapi_error(req, 404, "UnknownOperationException", "%s", err);
        return;
    }
    if (st != 0) {
        lambdaapi_error(req, 400, "InvalidParameterValueException", "%s", err);
        return;
    }
    const char *sub = r->nseg >= 2 ? r->seg[1] : NULL;
    for (size_t i = 0; i != sizeof(others) / sizeof(others[0]); ++i) {
        if (r->nseg == 2 && method_is(req, others[i].method) &&
            strcmp(others[i].api, r->api2019 ? "2019-09-25" : "2015-03-31") == 0 && strcmp(others[i].sub, sub) == 0) {
            lambdaapi_target_t t = {r->function, r->qualifier[0] != '\0' ? r->qualifier : NULL, NULL, lambdaapi_region(conf)};
            others[i].fn(req, &t);
            return;
        }
    }
    if (r->api2019) {
        unknown(req);
        return;
    }
    if (r->nseg == 0 && method_is(req, "GET")) {
        list_functions(req, r, conf);
    } else if (r->nseg == 1 && method_is(req, "GET")) {
        get_function(req, r, conf, 0);
    } else if (r->nseg == 1 && method_is(req, "DELETE")) {
        if (r->qualifier[0] != '\0') {
            lambdaapi_error(req, 400, "InvalidParameterValueException",
                            "delete-function removes the whole function here: versions are immutable and kept (no --qualifier)");
            return;
        }
        job_post(req, job_new(OP_DELETE_FUNCTION, r, conf));
    } else if (r->nseg == 2 && strcmp(sub, "configuration") == 0 && method_is(req, "GET")) {
        get_function(req, r, conf, 1);
    } else if (r->nseg == 2 && strcmp(sub, "versions") == 0 && method_is(req, "GET")) {
        list_versions(req, r, conf);
    } else if (r->nseg == 2 && strcmp(sub, "versions") == 0 && method_is(req, "POST")) {
        publish(req, r, conf);
    } else if (r->nseg == 2 && strcmp(sub, "code") == 0 && method_is(req, "PUT")) {
        update_code(req, r, conf);
    } else if (r->nseg == 2 && strcmp(sub, "aliases") == 0 && method_is(req, "GET")) {
        list_aliases(req, r, conf);
    } else if (r->nseg == 2 && strcmp(sub, "aliases") == 0 && method_is(req, "POST")) {
        alias_write(req, r, conf, OP_ALIAS_CREATE);
    } else if (r->nseg == 3 && strcmp(sub, "aliases") == 0 && method_is(req, "GET")) {
        get_alias(req, r, conf);
    } else if (r->nseg == 3 && strcmp(sub, "aliases") == 0 && method_is(req, "PUT")) {
        alias_write(req, r, conf, OP_ALIAS_UPDATE);
    } else if (r->nseg == 3 && strcmp(sub, "aliases") == 0 && method_is(req, "DELETE")) {
        lapi_job_t *job = job_new(OP_ALIAS_DELETE, r, conf);
        snprintf(job->alias, sizeof(job->alias), "%s", r->seg[2]);
        job_post(req, job);
    } else {
        unknown(req);
    }
}
