/* store/tagging.c - object tags: x-amz-tagging on PUT/Copy/CreateMultipartUpload, Put/Get/DeleteObjectTagging (?tagging),
 * x-amz-tagging-count; the tags of an object are a stored header of its record, so they are written, replaced and removed
 * atomically with it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "store/internal.h"

#define MAX_TAGGING_BODY (64u << 10)

static int invalid_tag(store_req_t *sr, const char *message)
{
    return store_send_error(sr, 400, "InvalidTag", message, NULL), -1;
}

/* ts in the stored form, in pool memory; NULL for no tags (or out of memory, answered) */
static const char *format_pool(store_req_t *sr, const store_tagset_t *ts, int *failed)
{
    *failed = 0;
    if (ts->n == 0)
        return NULL;
    char *f = store_tagset_format(ts);
    if (f == NULL) {
        *failed = 1;
        store_send_fs_error(sr, STORE_FS_ENOMEM);
        return NULL;
    }
    const char *r = h2o_strdup(&sr->req->pool, f, SIZE_MAX).base;
    free(f);
    return r;
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
        store_tagset_t ts;
        const char *err;
        int failed;
        if (store_tagset_parse(&ts, hdr.base, hdr.len, &err) != 0)
            return invalid_tag(sr, err);
        value = format_pool(sr, &ts, &failed);
        store_tagset_free(&ts);
        if (failed)
            return -1;
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
    const char *v = store_tagging_of(o), *err;
    store_tagset_t ts;
    if (v == NULL || store_tagset_parse(&ts, v, strlen(v), &err) != 0)
        store_tagset_init(&ts);
    store_xml_t x;
    store_xml_begin(&x, "Tagging", STORE_XML_NS);
    store_xml_open(&x, "TagSet");
    for (size_t i = 0; i != ts.n; ++i) {
        store_xml_open(&x, "Tag");
        store_xml_elem(&x, "Key", ts.tags[i].key, ts.tags[i].key_len);
        store_xml_elem(&x, "Value", ts.tags[i].value, ts.tags[i].value_len);
        store_xml_close(&x, "Tag");
    }
    store_tagset_free(&ts);
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
    store_tagset_t ts;
    int bad = set == NULL, failed = 0;
    const char *terr = NULL;
    store_tagset_init(&ts);
    for (const store_xml_node_t *t = set != NULL ? set->child : NULL; t != NULL && !bad && terr == NULL; t = t->next) {
        if (strcmp(t->name, "Tag") != 0)
            continue;
        const store_xml_node_t *k = store_xml_child(t, "Key"), *v = store_xml_child(t, "Value");
        if (k == NULL || v == NULL)
            bad = 1;
        else
            store_tagset_add(&ts, k->text, k->text_len, v->text, v->text_len, &terr);
    }
    store_xml_node_free(doc);
    if (bad) {
        store_tagset_free(&ts);
        return store_send_error(sr, 400, "MalformedXML",
                                "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
    }
    if (terr != NULL || store_tagset_check(&ts, &terr) != 0) {
        store_tagset_free(&ts);
        return invalid_tag(sr, terr);
    }
    const char *value = format_pool(sr, &ts, &failed);
    store_tagset_free(&ts);
    return failed ? 0 : set_tagging(sr, b, version_id, value, 200);
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
