/* store/cors.c - bucket CORS: Put/Get/DeleteBucketCors (?cors, kept as the bucket's "cors" document, store/fs.h), preflight
 * OPTIONS requests answered from the rules (unauthenticated, as in S3), and the Access-Control-* headers of actual requests */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/log.h"
#include "store/internal.h"

#define CORS_MAX_RULES 100
#define CORS_MAX_SIZE (64u << 10)
#define CORS_MAX_ID 255
#define CORS_VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

static const char *const cors_methods[] = {"GET", "PUT", "HEAD", "POST", "DELETE"};
#define NUM_METHODS (sizeof(cors_methods) / sizeof(cors_methods[0]))

/* ---- the document -------------------------------------------------------------------------------------------------------------
 */

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s != '\0'; ++s)
        n += *s == c;
    return n;
}

/* checks a parsed CORSConfiguration; 0, or -1 with the S3 error code and message */
static int validate(const store_xml_node_t *doc, const char **code, char *msg, size_t msglen)
{
    size_t rules = 0;
    *code = "MalformedXML";
    snprintf(msg, msglen, "The XML you provided was not well-formed or did not validate against our published schema.");
    if (doc == NULL || strcmp(doc->name, "CORSConfiguration") != 0)
        return -1;
    for (const store_xml_node_t *r = doc->child; r != NULL; r = r->next) {
        size_t origins = 0, methods = 0, ids = 0, ages = 0;
        if (strcmp(r->name, "CORSRule") != 0)
            return -1;
        if (++rules > CORS_MAX_RULES) {
            *code = "InvalidRequest";
            snprintf(msg, msglen, "The number of CORS rules should not exceed allowed limit of %d rules.", CORS_MAX_RULES);
            return -1;
        }
        for (const store_xml_node_t *e = r->child; e != NULL; e = e->next) {
            if (e->child != NULL || memchr(e->text, '\0', e->text_len) != NULL)
                return -1;
            if (strcmp(e->name, "AllowedOrigin") == 0) {
                ++origins;
                if (count_char(e->text, '*') > 1) {
                    *code = "InvalidRequest";
                    snprintf(msg, msglen, "AllowedOrigin \"%.200s\" can not have more than one wildcard.", e->text);
                    return -1;
                }
            } else if (strcmp(e->name, "AllowedMethod") == 0) {
                size_t k;
                ++methods;
                for (k = 0; k != NUM_METHODS && strcmp(e->text, cors_methods[k]) != 0; ++k)
                    ;
                if (k == NUM_METHODS) {
                    *code = "InvalidRequest";
                    snprintf(msg, msglen, "Found unsupported HTTP method in CORS config. Unsupported method is %.100s", e->text);
                    return -1;
                }
            } else if (strcmp(e->name, "AllowedHeader") == 0) {
                if (count_char(e->text, '*') > 1) {
                    *code = "InvalidRequest";
                    snprintf(msg, msglen, "AllowedHeader \"%.200s\" can not have more than one wildcard.", e->text);
                    return -1;
                }
            } else if (strcmp(e->name, "ExposeHeader") == 0) {
                for (const char *c = e->text; *c != '\0'; ++c)
                    if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == ',')
                        return -1;
            } else if (strcmp(e->name, "MaxAgeSeconds") == 0) {
                if (++ages > 1 || e->text_len == 0 || e->text_len > 9 || strspn(e->text, "0123456789") != e->text_len)
                    return -1;
            } else if (strcmp(e->name, "ID") == 0) {
                if (++ids > 1)
                    return -1;
                if (e->text_len > CORS_MAX_ID) {
                    *code = "InvalidArgument";
                    snprintf(msg, msglen, "The ID of a CORS rule can be up to %d characters long.", CORS_MAX_ID);
                    return -1;
                }
            } else {
                return -1;
            }
            /* what a header value cannot carry */
            for (const char *c = e->text; *c != '\0'; ++c)
                if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
                    *code = "InvalidRequest";
                    snprintf(msg, msglen, "A CORS rule's %s contains a control character.", e->name);
                    return -1;
                }
        }
        if (origins == 0 || methods == 0)
            return -1;
    }
    return rules == 0 ? -1 : 0;
}

/* the document as stored and answered: S3's element order, namespace */
static int serialize(const store_xml_node_t *doc, store_xml_t *x)
{
    static const char *const order[] = {"ID", "AllowedHeader", "AllowedMethod", "AllowedOrigin", "ExposeHeader", "MaxAgeSeconds"};
    store_xml_begin(x, "CORSConfiguration", STORE_XML_NS);
    for (const store_xml_node_t *r = doc->child; r != NULL; r = r->next) {
        store_xml_open(x, "CORSRule");
        for (size_t k = 0; k != sizeof(order) / sizeof(order[0]); ++k)
            for (const store_xml_node_t *e = r->child; e != NULL; e = e->next)
                if (strcmp(e->name, order[k]) == 0)
                    store_xml_elem(x, e->name, e->text, e->text_len);
        store_xml_close(x, "CORSRule");
    }
    store_xml_close(x, "CORSConfiguration");
    return x->failed ? -1 : 0;
}

int store_cors_document(const char *xml, size_t len, store_xml_t *out, char *msg, size_t msglen)
{
    const char *err = NULL, *code;
    if (len > CORS_MAX_SIZE) {
        snprintf(msg, msglen, "the CORS configuration exceeds the maximum size of %u bytes", CORS_MAX_SIZE);
        return -1;
    }
    store_xml_node_t *doc = store_xml_parse(xml, len, &err);
    int r = validate(doc, &code, msg, msglen);
    if (r == 0 && serialize(doc, out) != 0) {
        snprintf(msg, msglen, "out of memory");
        r = -1;
    }
    store_xml_node_free(doc);
    return r;
}

/* ---- the parsed rules of a bucket, cached by the document's version ------------------------------------------------------------
 */

typedef struct cors_config {
    store_xml_node_t *doc;
    atomic_uint refcnt;
} cors_config_t;

static void config_release(cors_config_t *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refcnt, 1) == 1) {
        store_xml_node_free(c->doc);
        free(c);
    }
}

#define CACHE_SIZE 64
static struct {
    const store_t *store;
    char bucket[64];
    uint64_t version;
    cors_config_t *config;
} cache[CACHE_SIZE];
static unsigned cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* the bucket's rules (a reference), or NULL when it has none or they cannot be read (logged) */
static cors_config_t *config_get(store_t *s, store_bucket_t *b)
{
    const char *name = store_fs_bucket_name(b);
    uint64_t version;
    cors_config_t *c = NULL;
    if (store_fs_bucket_config_version(b, "cors", &version) != 0)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    for (unsigned i = 0; i != CACHE_SIZE; ++i)
        if (cache[i].config != NULL && cache[i].store == s && cache[i].version == version && strcmp(cache[i].bucket, name) == 0) {
            c = cache[i].config;
            atomic_fetch_add(&c->refcnt, 1);
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    if (c != NULL)
        return c;

    char *text;
    size_t len;
    const char *err = NULL, *code;
    char msg[200];
    if (store_fs_bucket_config_get(b, "cors", CORS_MAX_SIZE * 4, &text, &len, &version) != 0)
        return NULL;
    store_xml_node_t *doc = store_xml_parse(text, len, &err);
    free(text);
    if (validate(doc, &code, msg, sizeof(msg)) != 0 || (c = malloc(sizeof(*c))) == NULL) {
        log_error("store: the CORS configuration of bucket %s cannot be used: %s", name, err != NULL ? err : msg);
        store_xml_node_free(doc);
        return NULL;
    }
    c->doc = doc;
    atomic_init(&c->refcnt, 2); /* the cache's and the caller's */
    pthread_mutex_lock(&cache_lock);
    unsigned slot = cache_next++ % CACHE_SIZE;
    for (unsigned i = 0; i != CACHE_SIZE; ++i)
        if (cache[i].store == s && strcmp(cache[i].bucket, name) == 0) {
            slot = i; /* the bucket's older version */
            break;
        }
    cors_config_t *old = cache[slot].config;
    cache[slot].store = s;
    snprintf(cache[slot].bucket, sizeof(cache[slot].bucket), "%s", name);
    cache[slot].version = version;
    cache[slot].config = c;
    pthread_mutex_unlock(&cache_lock);
    config_release(old);
    return c;
}

/* ---- matching -----------------------------------------------------------------------------------------------------------------
 */

/* pattern with at most one '*' (any run of characters); icase: ASCII case-insensitive */
static int wild_match(const char *pat, const char *s, size_t len, int icase)
{
    const char *star = strchr(pat, '*');
    int (*cmp)(const char *, const char *, size_t) = icase ? strncasecmp : strncmp;
    if (star == NULL)
        return strlen(pat) == len && cmp(pat, s, len) == 0;
    size_t pre = (size_t)(star - pat), post = strlen(star + 1);
    return len >= pre + post && cmp(pat, s, pre) == 0 && cmp(star + 1, s + len - post, post) == 0;
}

typedef struct cors_match {
    const store_xml_node_t *rule;
    int any_origin; /* the rule's matching AllowedOrigin is "*" */
} cors_match_t;

/* the first rule that allows origin, method and every header of the comma-separated list (NULL: none asked) */
static int find_rule(const cors_config_t *c, h2o_iovec_t origin, h2o_iovec_t method, h2o_iovec_t headers, cors_match_t *m)
{
    for (const store_xml_node_t *r = c->doc->child; r != NULL; r = r->next) {
        int origin_ok = 0, method_ok = 0, any = 0;
        for (const store_xml_node_t *e = r->child; e != NULL; e = e->next) {
            if (!origin_ok && strcmp(e->name, "AllowedOrigin") == 0 && wild_match(e->text, origin.base, origin.len, 0)) {
                origin_ok = 1;
                any = strcmp(e->text, "*") == 0;
            } else if (strcmp(e->name, "AllowedMethod") == 0 && h2o_memis(method.base, method.len, e->text, e->text_len)) {
                method_ok = 1;
            }
        }
        if (!origin_ok || !method_ok)
            continue;
        int headers_ok = 1;
        h2o_iovec_t list = headers, value;
        const char *tok;
        size_t tlen;
        while (headers_ok && list.base != NULL && (tok = h2o_next_token(&list, ',', &tlen, &value)) != NULL) {
            int ok = 0;
            for (const store_xml_node_t *e = r->child; e != NULL && !ok; e = e->next)
                ok = strcmp(e->name, "AllowedHeader") == 0 && wild_match(e->text, tok, tlen, 1);
            headers_ok = ok;
        }
        if (!headers_ok)
            continue;
        m->rule = r;
        m->any_origin = any;
        return 1;
    }
    return 0;
}

/* the headers of a matching rule, for a preflight (preflight_headers: the requested headers, echoed) or an actual request */
static void add_rule_headers(store_req_t *sr, const cors_match_t *m, h2o_iovec_t origin, h2o_iovec_t preflight_headers,
                             int preflight)
{
    char list[1024];
    size_t n = 0;
    if (m->any_origin)
        store_add_header(sr, "access-control-allow-origin", "*", 1);
    else
        store_add_header(sr, "access-control-allow-origin", origin.base, origin.len);
    for (const store_xml_node_t *e = m->rule->child; e != NULL; e = e->next)
        if (strcmp(e->name, "AllowedMethod") == 0 && n + e->text_len + 2 < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n != 0 ? ", " : "", e->text);
    store_add_header(sr, "access-control-allow-methods", list, n);
    if (preflight && preflight_headers.base != NULL && preflight_headers.len != 0)
        store_add_header(sr, "access-control-allow-headers", preflight_headers.base, preflight_headers.len);
    sigv4_buf_t expose = {0};
    for (const store_xml_node_t *e = m->rule->child; e != NULL; e = e->next)
        if (strcmp(e->name, "ExposeHeader") == 0) {
            if (expose.len != 0)
                sigv4_buf_append(&expose, ", ", 2);
            sigv4_buf_append(&expose, e->text, e->text_len);
        }
    if (expose.base != NULL && expose.len != 0)
        store_add_header(sr, "access-control-expose-headers", expose.base, expose.len);
    sigv4_buf_free(&expose);
    const store_xml_node_t *age = store_xml_child(m->rule, "MaxAgeSeconds");
    if (age != NULL)
        store_add_header(sr, "access-control-max-age", age->text, age->text_len);
    if (!m->any_origin)
        store_add_header(sr, "access-control-allow-credentials", "true", 4);
}

/* ---- the operations -----------------------------------------------------------------------------------------------------------
 */

int store_cors_get(store_req_t *sr, store_bucket_t *b)
{
    char *text;
    size_t len;
    int e = store_fs_bucket_config_get(b, "cors", CORS_MAX_SIZE * 4, &text, &len, NULL);
    if (e == STORE_FS_ENOENT)
        return store_send_error(sr, 404, "NoSuchCORSConfiguration", "The CORS configuration does not exist", NULL);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_xml_t x = {{text, len, len + 1}, 0};
    return store_send_xml(sr, 200, &x);
}

int store_cors_put(store_req_t *sr, store_bucket_t *b)
{
    h2o_iovec_t body;
    const char *err = NULL, *code;
    char msg[300];
    if (!store_body_checksum_present(sr))
        return store_send_error(sr, 400, "InvalidRequest", "Missing required header for this request: Content-MD5", NULL);
    if ((sr->req->entity.base != NULL ? sr->req->entity.len : 0) > 4 * CORS_MAX_SIZE)
        goto too_big;
    if (store_body_read(sr, 4 * CORS_MAX_SIZE, &body) != 0 || store_body_check_other_checksums(sr, body) != 0)
        return 0;
    if (body.len > CORS_MAX_SIZE)
        goto too_big;
    store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
    if (validate(doc, &code, msg, sizeof(msg)) != 0) {
        store_xml_node_free(doc);
        return store_send_error(sr, 400, code, msg, NULL);
    }
    store_xml_t x = {{0}, 0};
    int r = serialize(doc, &x);
    store_xml_node_free(doc);
    if (r != 0) {
        store_xml_free(&x);
        return store_send_fs_error(sr, STORE_FS_ENOMEM);
    }
    int e = store_fs_bucket_config_put(b, "cors", x.buf.base, x.buf.len);
    store_xml_free(&x);
    if (e != 0)
        return store_send_fs_error(sr, e);
    return store_send_empty(sr, 200);
too_big:
    snprintf(msg, sizeof(msg), "The CORS configuration exceeds the maximum size of %u bytes.", CORS_MAX_SIZE);
    return store_send_error(sr, 400, "InvalidRequest", msg, NULL);
}

int store_cors_delete(store_req_t *sr, store_bucket_t *b)
{
    int e = store_fs_bucket_config_put(b, "cors", NULL, 0);
    if (e != 0)
        return store_send_fs_error(sr, e);
    return store_send_empty(sr, 204);
}

int store_cors_preflight(store_req_t *sr)
{
    h2o_iovec_t origin = store_req_header(sr, "origin"), method = store_req_header(sr, "access-control-request-method"),
                headers = store_req_header(sr, "access-control-request-headers");
    if (sr->bucket.len == 0 || !store_fs_valid_bucket_name(sr->bucket.base, sr->bucket.len))
        return store_send_error(sr, 403, "AccessForbidden", "CORSResponse: Bucket not found", NULL);
    if (origin.base == NULL || origin.len == 0)
        return store_send_error(sr, 400, "BadRequest", "Insufficient information. Origin request header needed.", NULL);
    if (method.base == NULL || method.len == 0)
        return store_send_error(sr, 400, "BadRequest", "Invalid Access-Control-Request-Method: null", NULL);
    store_bucket_t *b = store_fs_bucket_get(sr->store->fs, sr->bucket.base, sr->bucket.len);
    if (b == NULL)
        return store_send_error(sr, 403, "AccessForbidden", "CORSResponse: Bucket not found", NULL);
    cors_config_t *c = config_get(sr->store, b);
    store_fs_bucket_release(b);
    if (c == NULL)
        return store_send_error(sr, 403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", NULL);
    cors_match_t m;
    int found = find_rule(c, origin, method, headers, &m);
    store_add_header(sr, "vary", CORS_VARY, strlen(CORS_VARY));
    if (!found) {
        config_release(c);
        return store_send_error(sr, 403, "AccessForbidden",
                                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
                                "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
                                "whitelisted by the resource's CORS spec.",
                                NULL);
    }
    add_rule_headers(sr, &m, origin, headers, 1);
    config_release(c);
    return store_send_empty(sr, 200);
}

void store_cors_response(store_req_t *sr)
{
    if (sr->bucket.len == 0 || !sr->responded || h2o_memis(sr->req->method.base, sr->req->method.len, H2O_STRLIT("OPTIONS")) ||
        !store_fs_valid_bucket_name(sr->bucket.base, sr->bucket.len))
        return;
    store_bucket_t *b = store_fs_bucket_get(sr->store->fs, sr->bucket.base, sr->bucket.len);
    if (b == NULL)
        return;
    cors_config_t *c = config_get(sr->store, b);
    store_fs_bucket_release(b);
    if (c == NULL)
        return;
    /* the answer depends on Origin once the bucket has rules, whether or not this request had one: caches must key on it */
    store_add_header(sr, "vary", CORS_VARY, strlen(CORS_VARY));
    h2o_iovec_t origin = store_req_header(sr, "origin");
    cors_match_t m;
    if (origin.base != NULL && origin.len != 0 && find_rule(c, origin, sr->req->method, h2o_iovec_init(NULL, 0), &m))
        add_rule_headers(sr, &m, origin, h2o_iovec_init(NULL, 0), 0);
    config_release(c);
}
