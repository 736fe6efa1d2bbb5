/* store/tagging.c - object tags: x-amz-tagging on PUT/Copy/CreateMultipartUpload, Put/Get/DeleteObjectTagging (?tagging),
 * x-amz-tagging-count; the tags of an object are a stored header of its record, so they are written, replaced and removed
 * atomically with it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "store/internal.h"

#define MAX_TAGGING_BODY (64u << 10)

typedef struct tag {
    h2o_iovec_t key, value;
} tag_t;

static int invalid_tag(store_req_t *sr, const char *message)
{
    return store_send_error(sr, 400, "InvalidTag", message, NULL), -1;
}

/* the number of characters of a valid UTF-8 string whose characters S3 allows in tags (letters, digits, white space and
 * + - = . _ : / @; other non-ASCII characters are taken as letters), or -1 */
static long tag_chars(const char *s, size_t len)
{
    long n = 0;
    const char *reason;
    if (len != 0 && !store_valid_key(s, len, &reason)) /* valid UTF-8 without control characters */
        return -1;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: counted with its lead */
        ++n;
        if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (strchr(" +-=._:/@", c) == NULL)
            return -1;
    }
    return n;
}

static int tag_cmp(const void *a, const void *b)
{
    const tag_t *x = a, *y = b;
    int c = memcmp(x->key.base, y->key.base, x->key.len < y->key.len ? x->key.len : y->key.len);
    return c != 0 ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* S3's limits: at most 10 tags, keys 1-128 and values 0-256 characters of the allowed ones, no key twice, no aws: prefix; sorts
 * the tags by key. 0, or -1 after answering InvalidTag. */
static int check_tags(store_req_t *sr, tag_t *tags, size_t n)
{
    long c;
    if (n > STORE_MAX_TAGS)
        return invalid_tag(sr, "Object tags cannot be greater than 10");
    for (size_t i = 0; i != n; ++i) {
        if ((c = tag_chars(tags[i].key.base, tags[i].key.len)) < 1 || c > 128)
            return invalid_tag(sr, c > 128 ? "The TagKey you have provided is too long, max 128" : "The TagKey you have provided is invalid");
        if ((c = tag_chars(tags[i].value.base, tags[i].value.len)) < 0 || c > 256)
            return invalid_tag(sr, c > 256 ? "The TagValue you have provided is too long, max 256"
                                           : "The TagValue you have provided is invalid");
        if (tags[i].key.len >= 4 && memcmp(tags[i].key.base, "aws:", 4) == 0)
            return invalid_tag(sr, "Your TagKey cannot be prefixed with aws:");
    }
    qsort(tags, n, sizeof(*tags), tag_cmp);
    for (size_t i = 1; i < n; ++i)
        if (tag_cmp(&tags[i - 1], &tags[i]) == 0)
            return invalid_tag(sr, "Cannot provide multiple Tags with the same key");
    return 0;
}

/* appends s percent-encoded (everything but unreserved characters) */
static void pct_append(sigv4_buf_t *b, const char *s, size_t len)
{
    sigv4_uri_encode(b, (sigv4_str_t){s, len}, 0);
}

/* the stored form: k=v&k2=v2, sorted by key, keys and values percent-encoded ("" for no tags; pool memory) */
static const char *canonical(store_req_t *sr, const tag_t *tags, size_t n)
{
    sigv4_buf_t b = {0};
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            sigv4_buf_append(&b, "&", 1);
        pct_append(&b, tags[i].key.base, tags[i].key.len);
        sigv4_buf_append(&b, "=", 1);
        pct_append(&b, tags[i].value.base, tags[i].value.len);
    }
    const char *r = h2o_strdup(&sr->req->pool, b.base != NULL ? b.base : "", b.len).base;
    sigv4_buf_free(&b);
    return r;
}

/* decodes a query-encoded component ('+' is a space, as an HTML form and urlencode() write it) */
static h2o_iovec_t form_decode(store_req_t *sr, const char *s, size_t len)
{
    char *tmp = h2o_mem_alloc_pool(&sr->req->pool, len + 1);
    for (size_t i = 0; i != len; ++i)
        tmp[i] = s[i] == '+' ? ' ' : s[i];
    return store_decode(&sr->req->pool, tmp, len);
}

/* parses query-encoded tags (the x-amz-tagging header, the stored form) into pool memory; the count, or -1 (too many) */
static long parse_query_tags(store_req_t *sr, const char *s, size_t len, tag_t **out)
{
    size_t max = 1;
    for (size_t i = 0; i != len; ++i)
        max += s[i] == '&';
    if (max > 1000)
        return -1;
    tag_t *tags = h2o_mem_alloc_pool(&sr->req->pool, sizeof(*tags) * max);
    size_t n = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
        if (e != p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            tags[n].key = form_decode(sr, p, (size_t)((eq != NULL ? eq : e) - p));
            tags[n].value = eq != NULL ? form_decode(sr, eq + 1, (size_t)(e - eq - 1)) : h2o_iovec_init("", 0);
            ++n;
        }
        p = e + 1;
    }
    *out = tags;
    return (long)n;
}

const char *store_tagging_of(const store_obj_t *o)
{
    const char *v = store_fs_obj_header(o, STORE_TAGS_HEADER);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

size_t store_tagging_count(const store_obj_t *o)
{
    const char *v = store_tagging_of(o);
    size_t n = v != NULL ? 1 : 0;
    for (; v != NULL && *v != '\0'; ++v)
        n += *v == '&';
    return n;
}

void store_tagging_count_header(store_req_t *sr, const store_obj_t *o)
{
    size_t n = store_tagging_count(o);
    if (n != 0) {
        char c[24];
        snprintf(c, sizeof(c), "%zu", n);
        store_add_header(sr, "x-amz-tagging-count", c, strlen(c));
    }
}

void store_tagging_cache_header(store_req_t *sr, const store_obj_t *o)
{
    const char *v = store_tagging_of(o);
    if (v == NULL || store_req_header(sr, STORE_CACHE_TAGS_REQUEST).base == NULL)
        return;
    /* key=value per tag, percent-encoded as stored (no space inside one), space-separated as Surrogate-Key lists them */
    size_t len = strlen(v);
    char *s = h2o_mem_alloc_pool(&sr->req->pool, len + 1);
    for (size_t i = 0; i != len; ++i)
        s[i] = v[i] == '&' ? ' ' : v[i];
    store_add_header(sr, "surrogate-key", s, len);
}

int store_tagging_headers(store_req_t *sr, const store_header_t *in, size_t n_in, const store_obj_t *copy_src, store_header_t **out,
                          size_t *n_out)
{
    const char *value = NULL;
    h2o_iovec_t hdr = store_req_header(sr, "x-amz-tagging");
    if (copy_src != NULL) {
        h2o_iovec_t d = store_req_header(sr, "x-amz-tagging-directive");
        int replace = d.base != NULL && h2o_memis(d.base, d.len, H2O_STRLIT("REPLACE"));
        if (d.base != NULL && !replace && !h2o_memis(d.base, d.len, H2O_STRLIT("COPY")))
            return store_send_error(sr, 400, "InvalidArgument", "Unknown tagging directive.", NULL), -1;
        if (!replace) {
            value = store_tagging_of(copy_src);
            hdr = h2o_iovec_init(NULL, 0);
        }
    }
    if (hdr.base != NULL) {
        tag_t *tags;
        long n = parse_query_tags(sr, hdr.base, hdr.len, &tags);
        if (n < 0)
            return invalid_tag(sr, "Object tags cannot be greater than 10");
        if (check_tags(sr, tags, (size_t)n) != 0)
            return -1;
        value = n != 0 ? canonical(sr, tags, (size_t)n) : NULL;
    }
    store_header_t *h = h2o_mem_alloc_pool(&sr->req->pool, sizeof(*h) * (n_in + 1));
    size_t n = 0;
    for (size_t i = 0; i != n_in; ++i)
        if (strcmp(in[i].name, STORE_TAGS_HEADER) != 0)
            h[n++] = in[i];
    if (value != NULL)
        h[n++] = (store_header_t){(char *)STORE_TAGS_HEADER, (char *)value};
    *out = h;
    *n_out = n;
    return 0;
}

/* ---- ?tagging ------------------------------------------------------------------------------------------------------------ */

static int get_tagging(store_req_t *sr, store_bucket_t *b, const char *version_id)
{
    store_obj_t *o = store_fs_obj_get_version(b, sr->key.base, sr->key.len, version_id);
    if (o == NULL || o->delete_marker) {
        store_fs_obj_release(o);
        return version_id != NULL ? store_send_error(sr, 404, "NoSuchVersion", "The specified version does not exist.", NULL)
                                  : store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
    }
    const char *v = store_tagging_of(o);
    tag_t *tags = NULL;
    long n = v != NULL ? parse_query_tags(sr, v, strlen(v), &tags) : 0;
    store_xml_t x;
    store_xml_begin(&x, "Tagging", STORE_XML_NS);
    store_xml_open(&x, "TagSet");
    for (long i = 0; i < n; ++i) {
        store_xml_open(&x, "Tag");
        store_xml_elem(&x, "Key", tags[i].key.base, tags[i].key.len);
        store_xml_elem(&x, "Value", tags[i].value.base, tags[i].value.len);
        store_xml_close(&x, "Tag");
    }
    store_xml_close(&x, "TagSet");
    store_xml_close(&x, "Tagging");
    store_version_headers(sr, b, o);
    store_fs_obj_release(o);
    return store_send_xml(sr, 200, &x);
}

static int set_tagging(store_req_t *sr, store_bucket_t *b, const char *version_id, const char *value, int status)
{
    int e = store_fs_obj_set_header(b, sr->key.base, sr->key.len, version_id, STORE_TAGS_HEADER, value);
    if (e == STORE_FS_ENOENT)
        return version_id != NULL ? store_send_error(sr, 404, "NoSuchVersion", "The specified version does not exist.", NULL)
                                  : store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_obj_t *o = store_fs_obj_get_version(b, sr->key.base, sr->key.len, version_id);
    if (o != NULL)
        store_version_headers(sr, b, o);
    store_fs_obj_release(o);
    return store_send_empty(sr, status);
}

static int put_tagging(store_req_t *sr, store_bucket_t *b, const char *version_id)
{
    h2o_iovec_t body;
    const char *err;
    if (store_body_read(sr, MAX_TAGGING_BODY, &body) != 0)
        return 0;
    store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
    const store_xml_node_t *set = doc != NULL && strcmp(doc->name, "Tagging") == 0 ? store_xml_child(doc, "TagSet") : NULL;
    size_t n = 0;
    for (const store_xml_node_t *t = set != NULL ? set->child : NULL; t != NULL; t = t->next)
        n += strcmp(t->name, "Tag") == 0;
    tag_t *tags = h2o_mem_alloc_pool(&sr->req->pool, sizeof(*tags) * (n + 1));
    size_t i = 0;
    int bad = set == NULL;
    for (const store_xml_node_t *t = set != NULL ? set->child : NULL; t != NULL && !bad; t = t->next) {
        if (strcmp(t->name, "Tag") != 0)
            continue;
        const store_xml_node_t *k = store_xml_child(t, "Key"), *v = store_xml_child(t, "Value");
        if (k == NULL || v == NULL) {
            bad = 1;
            break;
        }
        tags[i].key = h2o_strdup(&sr->req->pool, k->text, k->text_len);
        tags[i].value = h2o_strdup(&sr->req->pool, v->text, v->text_len);
        ++i;
    }
    store_xml_node_free(doc);
    if (bad)
        return store_send_error(sr, 400, "MalformedXML",
                                "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
    if (check_tags(sr, tags, n) != 0)
        return 0;
    return set_tagging(sr, b, version_id, n != 0 ? canonical(sr, tags, n) : NULL, 200);
}

int store_object_tagging(store_req_t *sr, store_bucket_t *b, const char *version_id)
{
    const char *m = sr->req->method.base;
    size_t ml = sr->req->method.len;
    if (h2o_memis(m, ml, H2O_STRLIT("GET")))
        return get_tagging(sr, b, version_id);
    if (h2o_memis(m, ml, H2O_STRLIT("PUT")))
        return put_tagging(sr, b, version_id);
    if (h2o_memis(m, ml, H2O_STRLIT("DELETE")))
        return set_tagging(sr, b, version_id, NULL, 204);
    return store_send_error(sr, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", NULL);
}
