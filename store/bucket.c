/* store/bucket.c - bucket-level S3 operations: ListBuckets, Create/Delete/HeadBucket, location, listings V1/V2/versions,
 * DeleteObjects */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "store/checksum.h"
#include "store/internal.h"
#include "store/notify.h"

#define MAX_XML_BODY (4u << 20)

static int is_method(store_req_t *sr, const char *m)
{
    return h2o_memis(sr->req->method.base, sr->req->method.len, m, strlen(m));
}

/** query parameters that are arguments, not sub-resources that select another operation */
static int is_argument(const char *name)
{
    static const char *const args[] = {"prefix",
                                       "delimiter",
                                       "marker",
                                       "max-keys",
                                       "encoding-type",
                                       "list-type",
                                       "continuation-token",
                                       "start-after",
                                       "fetch-owner",
                                       "key-marker",
                                       "version-id-marker",
                                       "upload-id-marker",
                                       "max-uploads",
                                       "max-parts",
                                       "part-number-marker",
                                       "x-id",
                                       "allow-unordered",
                                       "versionId",
                                       "partNumber",
                                       "uploadId",
                                       NULL};
    for (const char *const *a = args; *a != NULL; ++a)
        if (strcmp(name, *a) == 0)
            return 1;
    return strncmp(name, "X-Amz-", 6) == 0 || strncmp(name, "x-amz-", 6) == 0 || strncmp(name, "response-", 9) == 0;
}

/* the first query parameter that names a sub-resource (?acl, ?versions, ...), or NULL */
static const char *subresource(store_req_t *sr)
{
    for (size_t i = 0; i != sr->num_params; ++i)
        if (!is_argument(sr->params[i].name.base))
            return sr->params[i].name.base;
    return NULL;
}

static void owner(store_xml_t *x, store_t *s)
{
    store_xml_open(x, "Owner");
    store_xml_elem_str(x, "ID", s->owner_id);
    store_xml_elem_str(x, "DisplayName", "edgehook");
    store_xml_close(x, "Owner");
}

int store_send_acl(store_req_t *sr)
{
    store_xml_t x;
    store_xml_begin(&x, "AccessControlPolicy", STORE_XML_NS);
    owner(&x, sr->store);
    store_xml_raw(&x, "<AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                      "xsi:type=\"CanonicalUser\">");
    store_xml_elem_str(&x, "ID", sr->store->owner_id);
    store_xml_elem_str(&x, "DisplayName", "edgehook");
    store_xml_raw(&x, "</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList>");
    store_xml_close(&x, "AccessControlPolicy");
    return store_send_xml(sr, 200, &x);
}

/* the region a bucket answers for: its LocationConstraint, or the store's region */
static const char *bucket_region(store_t *s, const char *location)
{
    if (location[0] == '\0')
        return s->region;
    return strcmp(location, "EU") == 0 ? "eu-west-1" : location;
}

/*
 * ListBuckets: all buckets, or with max-buckets (1-10000) a page of them; continuation-token is the opaque token of the previous
 * page (the base64 of the last name it listed); prefix keeps the names that start with it.
 */
int store_list_buckets(store_req_t *sr)
{
    const store_param_t *mb = store_req_param(sr, "max-buckets"), *tok = store_req_param(sr, "continuation-token"),
                        *pf = store_req_param(sr, "prefix");
    size_t max = SIZE_MAX;
    char after[80] = "";
    if (mb != NULL) {
        char *end;
        long v = strtol(mb->value.base, &end, 10);
        if (mb->value.len == 0 || *end != '\0' || v < 1 || v > 10000)
            return store_send_error(sr, 400, "InvalidArgument", "max-buckets must be an integer between 1 and 10000.", NULL);
        max = (size_t)v;
    }
    if (tok != NULL && tok->value.len != 0) {
        uint8_t dec[80];
        long n = tok->value.len <= 100 ? edge_base64_decode(dec, tok->value.base, tok->value.len, EDGE_BASE64_STRICT) : -1;
        if (n <= 0 || n > 63)
            return store_send_error(sr, 400, "InvalidArgument", "The continuation token provided is incorrect", NULL);
        memcpy(after, dec, (size_t)n);
        after[n] = '\0';
    }
    store_bucket_info_t *list;
    long n = store_fs_bucket_list(sr->store->fs, &list);
    if (n < 0)
        return store_send_fs_error(sr, (int)n);
    store_xml_t x;
    size_t shown = 0;
    long last = -1, i;
    store_xml_begin(&x, "ListAllMyBucketsResult", STORE_XML_NS);
    owner(&x, sr->store);
    store_xml_open(&x, "Buckets");
    for (i = 0; i != n; ++i) {
        if (after[0] != '\0' && strcmp(list[i].name, after) <= 0)
            continue;
        if (pf != NULL && strncmp(list[i].name, pf->value.base, pf->value.len) != 0)
            continue;
        if (!store_auth_bucket_visible(sr, list[i].name))
            continue;
        if (shown == max)
            break;
        store_xml_open(&x, "Bucket");
        store_xml_elem_str(&x, "Name", list[i].name);
        store_xml_elem_time(&x, "CreationDate", list[i].created_ms);
        store_xml_elem_str(&x, "BucketRegion", bucket_region(sr->store, list[i].location));
        store_xml_close(&x, "Bucket");
        ++shown;
        last = i;
    }
    store_xml_close(&x, "Buckets");
    /* a token only when more buckets follow (S3 omits it on the last page) */
    int more = 0;
    for (; i < n && last >= 0 && !more; ++i)
        more = pf == NULL || strncmp(list[i].name, pf->value.base, pf->value.len) == 0;
    if (more) {
        char t[96];
        edge_base64_encode(t, list[last].name, strlen(list[last].name));
        store_xml_elem_str(&x, "ContinuationToken", t);
    }
    if (pf != NULL)
        store_xml_elem(&x, "Prefix", pf->value.base, pf->value.len);
    store_xml_close(&x, "ListAllMyBucketsResult");
    free(list);
    return store_send_xml(sr, 200, &x);
}

/* ---- listings ---------------------------------------------------------------------------------------------------------------- */

typedef struct list_args {
    h2o_iovec_t prefix, delimiter;
    size_t max_keys;
    int url;
} list_args_t;

static int parse_list_args(store_req_t *sr, list_args_t *a)
{
    const store_param_t *p;
    memset(a, 0, sizeof(*a));
    a->prefix = (p = store_req_param(sr, "prefix")) != NULL ? p->value : h2o_iovec_init("", 0);
    a->delimiter = (p = store_req_param(sr, "delimiter")) != NULL ? p->value : h2o_iovec_init("", 0);
    a->max_keys = 1000;
    if ((p = store_req_param(sr, "max-keys")) != NULL && p->value.len != 0) {
        char *end;
        long v = strtol(p->value.base, &end, 10);
        if (*end != '\0' || v < 0)
            return store_send_error(sr, 400, "InvalidArgument", "max-keys must be a non-negative integer.", NULL), -1;
        if (v < 1000)
            a->max_keys = (size_t)v;
    }
    if ((p = store_req_param(sr, "encoding-type")) != NULL) {
        if (strcmp(p->value.base, "url") != 0)
            return store_send_error(sr, 400, "InvalidArgument", "Invalid Encoding Method specified in Request", NULL), -1;
        a->url = 1;
    }
    return 0;
}

static void etag_elem(store_xml_t *x, const char *etag)
{
    char q[64];
    snprintf(q, sizeof(q), "\"%s\"", etag);
    store_xml_elem_str(x, "ETag", q);
}

static void object_entry(store_xml_t *x, store_t *s, const char *tag, const store_obj_t *o, int url, int with_owner, int version)
{
    store_xml_open(x, tag);
    store_xml_url_elem(x, "Key", o->key, o->key_len, url);
    if (version) {
        store_xml_elem_str(x, "VersionId", "null");
        store_xml_elem_str(x, "IsLatest", "true");
    }
    store_xml_elem_time(x, "LastModified", o->mtime_ms);
    etag_elem(x, o->etag);
    store_xml_elem_u64(x, "Size", o->size);
    if (with_owner)
        owner(x, s);
    store_xml_elem_str(x, "StorageClass", "STANDARD");
    store_xml_close(x, tag);
}

static void common_prefixes(store_xml_t *x, const store_list_result_t *r, int url)
{
    for (size_t i = 0; i != r->num_prefixes; ++i) {
        store_xml_open(x, "CommonPrefixes");
        store_xml_url_elem(x, "Prefix", r->prefixes[i], r->prefix_lens[i], url);
        store_xml_close(x, "CommonPrefixes");
    }
}

static int run_list(store_req_t *sr, store_bucket_t *b, const list_args_t *a, h2o_iovec_t after, store_list_result_t *r)
{
    store_list_params_t p = {a->prefix.base, a->prefix.len, a->delimiter.base, a->delimiter.len, after.len != 0 ? after.base : NULL,
                             after.len,      a->max_keys};
    if (a->max_keys == 0) {
        memset(r, 0, sizeof(*r)); /* as S3: max-keys=0 lists nothing and is not truncated */
        return 0;
    }
    int e = store_fs_list(b, &p, r);
    if (e != 0)
        return store_send_fs_error(sr, e), -1;
    return 0;
}

static int list_v1(store_req_t *sr, store_bucket_t *b)
{
    list_args_t a;
    store_list_result_t r;
    const store_param_t *m = store_req_param(sr, "marker");
    h2o_iovec_t marker = m != NULL ? m->value : h2o_iovec_init("", 0);
    if (parse_list_args(sr, &a) != 0 || run_list(sr, b, &a, marker, &r) != 0)
        return 0;
    store_xml_t x;
    store_xml_begin(&x, "ListBucketResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Name", store_fs_bucket_name(b));
    /* V1's Prefix is never url-encoded, as in S3 (the SDKs add encoding-type=url to V1 listings and decode Delimiter, Marker,
     * NextMarker and the keys, not Prefix) */
    store_xml_elem(&x, "Prefix", a.prefix.base, a.prefix.len);
    store_xml_url_elem(&x, "Marker", marker.base, marker.len, a.url);
    store_xml_elem_u64(&x, "MaxKeys", a.max_keys);
    if (a.delimiter.len != 0)
        store_xml_url_elem(&x, "Delimiter", a.delimiter.base, a.delimiter.len, a.url);
    store_xml_elem_str(&x, "IsTruncated", r.truncated ? "true" : "false");
    if (r.truncated && a.delimiter.len != 0)
        store_xml_url_elem(&x, "NextMarker", r.next, r.next_len, a.url);
    if (a.url)
        store_xml_elem_str(&x, "EncodingType", "url");
    for (size_t i = 0; i != r.num_objs; ++i)
        object_entry(&x, sr->store, "Contents", r.objs[i], a.url, 1, 0);
    common_prefixes(&x, &r, a.url);
    store_xml_close(&x, "ListBucketResult");
    store_fs_list_free(&r);
    return store_send_xml(sr, 200, &x);
}

static int list_v2(store_req_t *sr, store_bucket_t *b)
{
    list_args_t a;
    store_list_result_t r;
    const store_param_t *tok = store_req_param(sr, "continuation-token"), *sa = store_req_param(sr, "start-after"),
                        *fo = store_req_param(sr, "fetch-owner");
    h2o_iovec_t after = sa != NULL ? sa->value : h2o_iovec_init("", 0);
    if (parse_list_args(sr, &a) != 0)
        return 0;
    if (tok != NULL && tok->value.len != 0) {
        /* the token is the base64 of the last key or prefix returned; an empty one is no token (as S3) */
        uint8_t *dec = h2o_mem_alloc_pool(&sr->req->pool, tok->value.len + 1);
        long n = edge_base64_decode(dec, tok->value.base, tok->value.len, EDGE_BASE64_STRICT);
        if (n <= 0 || n > STORE_FS_MAX_KEY + 1)
            return store_send_error(sr, 400, "InvalidArgument", "The continuation token provided is incorrect", NULL);
        after = h2o_iovec_init((char *)dec, (size_t)n);
    }
    if (run_list(sr, b, &a, after, &r) != 0)
        return 0;
    store_xml_t x;
    store_xml_begin(&x, "ListBucketResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Name", store_fs_bucket_name(b));
    store_xml_url_elem(&x, "Prefix", a.prefix.base, a.prefix.len, a.url);
    store_xml_elem_u64(&x, "KeyCount", r.num_objs + r.num_prefixes);
    store_xml_elem_u64(&x, "MaxKeys", a.max_keys);
    if (a.delimiter.len != 0)
        store_xml_url_elem(&x, "Delimiter", a.delimiter.base, a.delimiter.len, a.url);
    store_xml_elem_str(&x, "IsTruncated", r.truncated ? "true" : "false");
    if (tok != NULL)
        store_xml_elem(&x, "ContinuationToken", tok->value.base, tok->value.len);
    if (r.truncated && r.next != NULL) {
        char *t = h2o_mem_alloc_pool(&sr->req->pool, 4 * ((r.next_len + 2) / 3) + 1);
        edge_base64_encode(t, r.next, r.next_len);
        store_xml_elem_str(&x, "NextContinuationToken", t);
    }
    if (sa != NULL)
        store_xml_url_elem(&x, "StartAfter", sa->value.base, sa->value.len, a.url);
    if (a.url)
        store_xml_elem_str(&x, "EncodingType", "url");
    int with_owner = fo != NULL && strcmp(fo->value.base, "true") == 0;
    for (size_t i = 0; i != r.num_objs; ++i)
        object_entry(&x, sr->store, "Contents", r.objs[i], a.url, with_owner, 0);
    common_prefixes(&x, &r, a.url);
    store_xml_close(&x, "ListBucketResult");
    store_fs_list_free(&r);
    return store_send_xml(sr, 200, &x);
}

/* ---- DeleteObjects ----------------------------------------------------------------------------------------------------------- */

/* the x-amz-checksum-* algorithms, as in the header names and as S3 spells them in messages */
static const char *const checksum_algs[][2] = {
    {"crc32", "CRC32"}, {"crc32c", "CRC32C"}, {"crc64nvme", "CRC64NVME"}, {"sha1", "SHA1"}, {"sha256", "SHA256"}};
#define NUM_CHECKSUM_ALGS (sizeof(checksum_algs) / sizeof(checksum_algs[0]))

/* S3 requires an integrity check of a DeleteObjects body: Content-MD5, an x-amz-checksum-ALG header, or the SDKs' announcement of
 * one (x-amz-sdk-checksum-algorithm, or a checksum in x-amz-trailer) */
static int has_body_checksum(store_req_t *sr)
{
    char name[32];
    if (store_req_header(sr, "content-md5").base != NULL || store_req_header(sr, "x-amz-sdk-checksum-algorithm").base != NULL)
        return 1;
    for (size_t i = 0; i != NUM_CHECKSUM_ALGS; ++i) {
        snprintf(name, sizeof(name), "x-amz-checksum-%s", checksum_algs[i][0]);
        if (store_req_header(sr, name).base != NULL)
            return 1;
    }
    h2o_iovec_t t = store_req_header(sr, "x-amz-trailer"), value;
    const char *tok;
    size_t tlen;
    while (t.base != NULL && (tok = h2o_next_token(&t, ',', &tlen, &value)) != NULL)
        if (tlen >= 15 && h2o_lcstris(tok, 15, H2O_STRLIT("x-amz-checksum-")))
            return 1;
    return 0;
}

/* the checksum headers store_body_run does not verify itself (CRC64NVME, SHA1, SHA256), over the whole (small) body */
static int check_other_checksums(store_req_t *sr, h2o_iovec_t body)
{
    char name[32], msg[96];
    for (size_t i = 2; i != NUM_CHECKSUM_ALGS; ++i) {
        snprintf(name, sizeof(name), "x-amz-checksum-%s", checksum_algs[i][0]);
        h2o_iovec_t v = store_req_header(sr, name);
        if (v.base == NULL)
            continue;
        int r = store_checksum_verify(checksum_algs[i][0], v.base, v.len, body.base, body.len);
        if (r < 0) {
            snprintf(msg, sizeof(msg), "Value for %s header is invalid.", name);
            return store_send_error(sr, 400, "InvalidRequest", msg, NULL), -1;
        }
        if (r == 0) {
            snprintf(msg, sizeof(msg), "The %s you specified did not match the calculated checksum.", checksum_algs[i][1]);
            return store_send_error(sr, 400, "BadDigest", msg, NULL), -1;
        }
    }
    return 0;
}

static int delete_objects(store_req_t *sr, store_bucket_t *b)
{
    h2o_iovec_t body;
    const char *err = NULL;
    if (!has_body_checksum(sr))
        return store_send_error(sr, 400, "InvalidRequest", "Missing required header for this request: Content-MD5", NULL);
    /* Content-MD5, CRC32 and CRC32C (header or trailer) are verified while the body is read */
    if (store_body_read(sr, MAX_XML_BODY, &body) != 0 || check_other_checksums(sr, body) != 0)
        return 0;
    store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
    if (doc == NULL || strcmp(doc->name, "Delete") != 0) {
        store_xml_node_free(doc);
        return store_send_error(sr, 400, "MalformedXML",
                                "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
    }
    const store_xml_node_t *q = store_xml_child(doc, "Quiet");
    int quiet = q != NULL && strcmp(q->text, "true") == 0;
    size_t count = 0;
    for (const store_xml_node_t *o = doc->child; o != NULL; o = o->next)
        if (strcmp(o->name, "Object") == 0)
            ++count;
    if (count == 0 || count > 1000) {
        store_xml_node_free(doc);
        return store_send_error(sr, 400, "MalformedXML", "A DeleteObjects request names between 1 and 1000 objects.", NULL);
    }
    store_xml_t x;
    store_xml_begin(&x, "DeleteResult", STORE_XML_NS);
    for (const store_xml_node_t *o = doc->child; o != NULL; o = o->next) {
        if (strcmp(o->name, "Object") != 0)
            continue;
        const store_xml_node_t *k = store_xml_child(o, "Key"), *v = store_xml_child(o, "VersionId");
        const char *reason = NULL, *code = NULL;
        store_fs_deleted_t deleted = {{0}, 0, 0};
        if (k == NULL) {
            code = "MalformedXML";
            reason = "An Object has no Key.";
        } else if (!store_valid_key(k->text, k->text_len, &reason) || memchr(k->text, '\0', k->text_len) != NULL) {
            code = k->text_len > STORE_FS_MAX_KEY ? "KeyTooLongError" : "InvalidArgument";
            if (reason == NULL)
                reason = "Object keys may not contain control characters.";
        } else if (v != NULL && v->text_len != 0 && !store_fs_valid_version_id(v->text, v->text_len)) {
            code = "NoSuchVersion";
            reason = "The specified version does not exist.";
        } else {
            store_notify_ticket_t nt;
            int e = store_notify_req_begin_key(sr, STORE_EV_DELETE, k->text, k->text_len, &nt);
            if (e == 0) {
                e = store_fs_obj_delete_version(b, k->text, k->text_len, v != NULL && v->text_len != 0 ? v->text : NULL, &deleted);
                if (e == 0)
                    store_notify_req_deleted(sr, &nt, k->text, k->text_len, &deleted);
                else
                    store_notify_abort(&nt);
            }
            if (e == STORE_NOTIFY_FULL) {
                code = "SlowDown";
                reason = "Please reduce your request rate. (The queue of event notifications is full: not deleted.)";
            } else if (e != 0 && e != STORE_FS_ENOENT) {
                code = "InternalError";
                reason = "We encountered an internal error. Please try again.";
            }
        }
        if (code != NULL) {
            store_xml_open(&x, "Error");
            if (k != NULL)
                store_xml_elem(&x, "Key", k->text, k->text_len);
            store_xml_elem_str(&x, "Code", code);
            store_xml_elem_str(&x, "Message", reason);
            store_xml_close(&x, "Error");
        } else if (!quiet) {
            store_xml_open(&x, "Deleted");
            store_xml_elem(&x, "Key", k->text, k->text_len);
            if (v != NULL)
                store_xml_elem(&x, "VersionId", v->text, v->text_len);
            if (deleted.delete_marker) {
                store_xml_elem_str(&x, "DeleteMarker", "true");
                store_xml_elem_str(&x, "DeleteMarkerVersionId", deleted.version_id);
            }
            store_xml_close(&x, "Deleted");
        }
    }
    store_xml_close(&x, "DeleteResult");
    store_xml_node_free(doc);
    return store_send_xml(sr, 200, &x);
}

/* ---- bucket lifecycle -------------------------------------------------------------------------------------------------------- */

static int create_bucket(store_req_t *sr)
{
    h2o_iovec_t body;
    char location[64] = "";
    if (store_body_read(sr, MAX_XML_BODY, &body) != 0)
        return 0;
    if (body.len != 0) {
        const char *err;
        store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
        int ok = doc != NULL && strcmp(doc->name, "CreateBucketConfiguration") == 0;
        const store_xml_node_t *lc = ok ? store_xml_child(doc, "LocationConstraint") : NULL;
        int bad_lc =
            lc != NULL && (lc->text_len >= sizeof(location) ||
                           strspn(lc->text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != lc->text_len);
        if (lc != NULL && !bad_lc)
            memcpy(location, lc->text, lc->text_len + 1);
        store_xml_node_free(doc);
        if (!ok)
            return store_send_error(sr, 400, "MalformedXML",
                                    "The XML you provided was not well-formed or did not validate against our published schema.",
                                    NULL);
        if (bad_lc)
            return store_send_error(sr, 400, "InvalidLocationConstraint", "The specified location-constraint is not valid.", NULL);
        /* any LocationConstraint is accepted (the store answers for every region) and kept: GetBucketLocation answers it */
    }
    char loc[80];
    int n = snprintf(loc, sizeof(loc), "/%s", sr->bucket.base);
    int e = store_fs_bucket_create_in(sr->store->fs, sr->bucket.base, location[0] != '\0' ? location : NULL);
    if (e == STORE_FS_EEXIST) {
        /* S3's rule: in us-east-1 re-creating a bucket you own succeeds (200); in every other region it is
         * BucketAlreadyOwnedByYou */
        store_bucket_t *b = store_fs_bucket_get(sr->store->fs, sr->bucket.base, sr->bucket.len);
        int legacy = b != NULL && strcmp(bucket_region(sr->store, store_fs_bucket_location(b)), "us-east-1") == 0;
        store_fs_bucket_release(b);
        if (legacy) {
            store_add_header(sr, "location", loc, (size_t)n);
            return store_send_empty(sr, 200);
        }
        return store_send_error(sr, 409, "BucketAlreadyOwnedByYou",
                                "Your previous request to create the named bucket succeeded and you already own it.", NULL);
    }
    if (e == STORE_FS_EINVAL)
        return store_send_error(sr, 400, "InvalidBucketName", "The specified bucket is not valid.", NULL);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_add_header(sr, "location", loc, (size_t)n);
    return store_send_empty(sr, 200);
}

static int delete_bucket(store_req_t *sr)
{
    int e = store_fs_bucket_delete(sr->store->fs, sr->bucket.base);
    if (e == STORE_FS_ENOTEMPTY)
        return store_send_error(sr, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty.", NULL);
    if (e == STORE_FS_ENOENT)
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_notify_bucket_deleted(sr->store, sr->bucket.base);
    return store_send_empty(sr, 204);
}

static int empty_config(store_req_t *sr, const char *root)
{
    store_xml_t x;
    store_xml_begin(&x, root, STORE_XML_NS);
    store_xml_close(&x, root);
    return store_send_xml(sr, 200, &x);
}

static int bucket_get_subresource(store_req_t *sr, store_bucket_t *b, const char *sub)
{
    static const struct {
        const char *sub, *code, *message;
    } missing[] = {
        {"policy", "NoSuchBucketPolicy", "The bucket policy does not exist"},
        {"cors", "NoSuchCORSConfiguration", "The CORS configuration does not exist"},
        {"lifecycle", "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"},
        {"tagging", "NoSuchTagSet", "The TagSet does not exist"},
        {"encryption", "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"},
        {"website", "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"},
        {"replication", "ReplicationConfigurationNotFoundError", "The replication configuration was not found"},
        {"object-lock", "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket"},
        {"ownershipControls", "OwnershipControlsNotFoundError", "The bucket ownership controls were not found"},
        {"publicAccessBlock", "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"},
        {"policyStatus", "NoSuchBucketPolicy", "The bucket policy does not exist"},
    };
    if (strcmp(sub, "location") == 0) {
        store_xml_t x;
        const char *region = store_fs_bucket_location(b)[0] != '\0' ? store_fs_bucket_location(b) : sr->store->region;
        store_xml_begin(&x, "LocationConstraint", STORE_XML_NS);
        if (strcmp(region, "us-east-1") != 0) /* S3 answers an empty constraint for us-east-1 */
            store_xml_text(&x, region, strlen(region));
        store_xml_close(&x, "LocationConstraint");
        return store_send_xml(sr, 200, &x);
    }
    if (strcmp(sub, "versions") == 0)
        return store_versioning_list(sr, b);
    if (strcmp(sub, "uploads") == 0)
        return store_multipart_list_uploads(sr, b);
    if (strcmp(sub, "acl") == 0)
        return store_send_acl(sr);
    if (strcmp(sub, "cors") == 0)
        return store_cors_get(sr, b);
    if (strcmp(sub, "versioning") == 0)
        return store_versioning_get(sr, b);
    if (strcmp(sub, "logging") == 0)
        return empty_config(sr, "BucketLoggingStatus");
    if (strcmp(sub, "notification") == 0)
        return store_notify_get_config(sr, b);
    if (strcmp(sub, "accelerate") == 0)
        return empty_config(sr, "AccelerateConfiguration");
    if (strcmp(sub, "requestPayment") == 0) {
        store_xml_t x;
        store_xml_begin(&x, "RequestPaymentConfiguration", STORE_XML_NS);
        store_xml_elem_str(&x, "Payer", "BucketOwner");
        store_xml_close(&x, "RequestPaymentConfiguration");
        return store_send_xml(sr, 200, &x);
    }
    for (size_t i = 0; i != sizeof(missing) / sizeof(missing[0]); ++i)
        if (strcmp(sub, missing[i].sub) == 0)
            return store_send_error(sr, 404, missing[i].code, missing[i].message, NULL);
    return store_send_error(sr, 501, "NotImplemented",
                            "A query parameter you provided implies functionality that is not implemented.", NULL);
}

int store_bucket_dispatch(store_req_t *sr)
{
    const char *sub = subresource(sr);
    int r;
    if (is_method(sr, "PUT") && sub == NULL)
        return create_bucket(sr);
    store_bucket_t *b = store_fs_bucket_get(sr->store->fs, sr->bucket.base, sr->bucket.len);
    if (b == NULL) {
        if (sr->is_head) {
            sr->req->res.content_length = 0;
            return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
        }
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    }
    if (is_method(sr, "GET")) {
        const store_param_t *lt = store_req_param(sr, "list-type");
        if (sub != NULL)
            r = bucket_get_subresource(sr, b, sub);
        else if (lt != NULL && strcmp(lt->value.base, "2") == 0)
            r = list_v2(sr, b);
        else if (lt != NULL && strcmp(lt->value.base, "1") != 0)
            r = store_send_error(sr, 400, "InvalidArgument", "list-type must be 1 or 2.", NULL);
        else
            r = list_v1(sr, b);
    } else if (sr->is_head) {
        const char *region = bucket_region(sr->store, store_fs_bucket_location(b));
        store_add_header(sr, "x-amz-bucket-region", region, strlen(region));
        r = store_send_empty(sr, 200);
    } else if (is_method(sr, "DELETE")) {
        if (sub == NULL)
            r = delete_bucket(sr);
        else if (strcmp(sub, "cors") == 0)
            r = store_cors_delete(sr, b);
        else if (strcmp(sub, "policy") == 0 || strcmp(sub, "lifecycle") == 0 ||
                 strcmp(sub, "tagging") == 0 || strcmp(sub, "website") == 0 || strcmp(sub, "encryption") == 0)
            r = store_send_empty(sr, 204); /* nothing is configured, so there is nothing to delete */
        else
            r = store_send_error(sr, 501, "NotImplemented",
                                 "A query parameter you provided implies functionality that is not implemented.", NULL);
    } else if (is_method(sr, "POST")) {
        if (sub != NULL && strcmp(sub, "delete") == 0)
            r = delete_objects(sr, b);
        else
            r = store_send_error(sr, 412, "PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data",
                                 "<Condition>Bucket POST must be of the enclosure-type multipart/form-data</Condition>");
    } else if (is_method(sr, "PUT")) {
        if (sub != NULL && strcmp(sub, "notification") == 0)
            r = store_notify_put_config(sr, b);
        else if (sub != NULL && strcmp(sub, "cors") == 0)
            r = store_cors_put(sr, b);
        else if (strcmp(sub, "acl") == 0 && store_req_header(sr, "x-amz-acl").base != NULL)
            r = store_send_empty(sr, 200); /* canned ACLs are accepted and ignored: everything is private */
        else if (strcmp(sub, "versioning") == 0)
            r = store_versioning_put(sr, b);
        else
            r = store_send_error(sr, 501, "NotImplemented",
                                 "A query parameter you provided implies functionality that is not implemented.", NULL);
    } else {
        r = store_send_error(sr, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", NULL);
    }
    store_fs_bucket_release(b);
    return r;
}

int store_body_checksum_present(store_req_t *sr)
{
    return has_body_checksum(sr);
}

int store_body_check_other_checksums(store_req_t *sr, h2o_iovec_t body)
{
    return check_other_checksums(sr, body);
}
