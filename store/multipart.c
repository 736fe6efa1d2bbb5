/* store/multipart.c - multipart uploads: Create, UploadPart, Complete, Abort, ListParts, ListMultipartUploads */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "store/internal.h"
#include "store/notify.h"

#define MAX_COMPLETE_BODY (2u << 20)

static void owner(store_xml_t *x, store_t *s, const char *tag)
{
    store_xml_open(x, tag);
    store_xml_elem_str(x, "ID", s->owner_id);
    store_xml_elem_str(x, "DisplayName", "edgehook");
    store_xml_close(x, tag);
}

static int no_such_upload(store_req_t *sr)
{
    return store_send_error(
        sr, 404, "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted "
        "or completed.",
        NULL);
}

/* the upload named by ?uploadId for this bucket and key, or NULL after answering NoSuchUpload */
static store_upload_t *find_upload(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *id = store_req_param(sr, "uploadId");
    store_upload_t *u = id != NULL ? store_fs_upload_get(b, id->value.base, sr->key.base, sr->key.len) : NULL;
    if (u == NULL)
        no_such_upload(sr);
    return u;
}

int store_multipart_create(store_req_t *sr, store_bucket_t *b)
{
    store_header_t *headers;
    size_t num_headers;
    char id[33];
    if (store_collect_headers(sr, &headers, &num_headers) != 0 ||
        store_tagging_headers(sr, headers, num_headers, NULL, &headers, &num_headers) != 0)
        return 0;
    int e = store_fs_upload_create(b, sr->key.base, sr->key.len, headers, num_headers, id);
    if (e != 0)
        return store_send_fs_error(sr, e);
    store_xml_t x;
    store_xml_begin(&x, "InitiateMultipartUploadResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Bucket", store_fs_bucket_name(b));
    store_xml_elem(&x, "Key", sr->key.base, sr->key.len);
    store_xml_elem_str(&x, "UploadId", id);
    store_xml_close(&x, "InitiateMultipartUploadResult");
    return store_send_xml(sr, 200, &x);
}

static int on_part_data(void *ctx, const void *data, size_t len)
{
    return store_fs_writer_write(ctx, data, len);
}

int store_multipart_upload_part(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *pn = store_req_param(sr, "partNumber");
    char *end = NULL;
    unsigned long n = pn != NULL ? strtoul(pn->value.base, &end, 10) : 0;
    if (pn == NULL || *end != '\0' || n < 1 || n > STORE_FS_MAX_PARTS)
        return store_send_error(sr, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", NULL);
    if (sr->req->entity.base == NULL && sr->req->version < 0x200 &&
        store_req_header(sr, "x-amz-decoded-content-length").base == NULL)
        return store_send_error(sr, 411, "MissingContentLength", "You must provide the Content-Length HTTP header.", NULL);
    store_upload_t *u = find_upload(sr, b);
    if (u == NULL)
        return 0;
    store_fs_writer_t w;
    store_body_t body;
    int e = store_fs_upload_part_open(&w, u, (unsigned)n), r;
    if (e != 0) {
        r = e == STORE_FS_ENOENT ? no_such_upload(sr) : store_send_fs_error(sr, e);
        goto out;
    }
    if (store_body_run(sr, sr->store->max_put_size, on_part_data, &w, &body) != 0) {
        store_fs_writer_abort(&w);
        r = 0;
        goto out;
    }
    if ((e = store_fs_upload_part_commit(&w, body.md5)) != 0) {
        r = e == STORE_FS_ENOENT ? no_such_upload(sr) : store_send_fs_error(sr, e);
        goto out;
    }
    char etag[40], hex[33];
    sigv4_hex(body.md5, 16, hex);
    int len = snprintf(etag, sizeof(etag), "\"%s\"", hex);
    store_add_header(sr, "etag", etag, (size_t)len);
    r = store_send_empty(sr, 200);
out:
    store_fs_upload_release(u);
    return r;
}

/* UploadPartCopy: a part made of (a range of) an existing object; x-amz-copy-source-range: bytes=first-last */
int store_multipart_upload_part_copy(store_req_t *sr, store_bucket_t *b, h2o_iovec_t source)
{
    const store_param_t *pn = store_req_param(sr, "partNumber");
    char *end = NULL, srcb[64];
    unsigned long n = pn != NULL ? strtoul(pn->value.base, &end, 10) : 0;
    if (pn == NULL || *end != '\0' || n < 1 || n > STORE_FS_MAX_PARTS)
        return store_send_error(sr, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", NULL);
    store_upload_t *u = find_upload(sr, b);
    if (u == NULL)
        return 0;
    store_obj_t *src = store_copy_source(sr, source, srcb);
    int r = 0, e;
    if (src == NULL)
        goto out;
    uint64_t start = 0, len = src->size;
    h2o_iovec_t range = store_req_header(sr, "x-amz-copy-source-range");
    if (range.base != NULL) {
        unsigned long long a, z;
        char tail;
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)(range.len < 63 ? range.len : 63), range.base);
        if (range.len > 63 || sscanf(buf, "bytes=%llu-%llu%c", &a, &z, &tail) != 2 || z < a || buf[6] < '0' || buf[6] > '9') {
            r = store_send_error(sr, 400, "InvalidArgument",
                                 "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
                                 "the zero-based offsets of the first and last bytes to copy",
                                 NULL);
            goto out;
        }
        if (z >= src->size) { /* well-formed, but past the source's end: S3's InvalidRange */
            char msg[128];
            snprintf(msg, sizeof(msg), "Range specified is not valid for source object of size: %llu",
                     (unsigned long long)src->size);
            r = store_send_error(sr, 416, "InvalidRange", msg, NULL);
            goto out;
        }
        start = a;
        len = z - a + 1;
    }
    if (len > (5ull << 30)) {
        r = store_send_error(sr, 400, "InvalidRequest", "A copied part may be at most 5 GiB.", NULL);
        goto out;
    }
    store_fs_writer_t w;
    uint8_t md5[16];
    if ((e = store_fs_upload_part_open(&w, u, (unsigned)n)) != 0) {
        r = e == STORE_FS_ENOENT ? no_such_upload(sr) : store_send_fs_error(sr, e);
        goto out;
    }
    if (store_copy_data(&w, src, start, len, md5) != 0) {
        store_fs_writer_abort(&w);
        r = store_send_fs_error(sr, STORE_FS_EIO);
        goto out;
    }
    if ((e = store_fs_upload_part_commit(&w, md5)) != 0) {
        r = e == STORE_FS_ENOENT ? no_such_upload(sr) : store_send_fs_error(sr, e);
        goto out;
    }
    char hex[33], q[40];
    sigv4_hex(md5, 16, hex);
    snprintf(q, sizeof(q), "\"%s\"", hex);
    store_xml_t x;
    store_xml_begin(&x, "CopyPartResult", STORE_XML_NS);
    store_xml_elem_time(&x, "LastModified", src->mtime_ms);
    store_xml_elem_str(&x, "ETag", q);
    store_xml_close(&x, "CopyPartResult");
    r = store_send_xml(sr, 200, &x);
out:
    store_fs_obj_release(src);
    store_fs_upload_release(u);
    return r;
}

/* a part's ETag from the Complete request: quotes optional, 32 hex digits; lowercased into out */
static int parse_etag(const char *s, size_t len, char out[33])
{
    h2o_iovec_t t = h2o_str_stripws(s, len);
    s = t.base;
    len = t.len;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        ++s;
        len -= 2;
    }
    if (len != 32)
        return -1;
    for (size_t i = 0; i != 32; ++i) {
        if (edge_hex_value((unsigned char)s[i]) < 0)
            return -1;
        out[i] = (char)h2o_tolower((unsigned char)s[i]);
    }
    out[32] = '\0';
    return 0;
}

static int malformed(store_req_t *sr)
{
    return store_send_error(sr, 400, "MalformedXML",
                            "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
}

/* the answer to a completed upload: Location (the object's URL as the client addressed the store), Bucket, Key, ETag */
static int complete_result(store_req_t *sr, store_bucket_t *b, const char *etag)
{
    store_xml_t x;
    char q[64];
    store_xml_begin(&x, "CompleteMultipartUploadResult", STORE_XML_NS);
    sigv4_buf_t loc = {0};
    h2o_iovec_t host = sr->req->input.authority;
    sigv4_buf_append(&loc, "http://", 7);
    sigv4_buf_append(&loc, host.base, host.len);
    if (!sr->virtual_hosted) {
        sigv4_buf_append(&loc, "/", 1);
        sigv4_buf_append(&loc, sr->bucket.base, sr->bucket.len);
    }
    sigv4_buf_append(&loc, "/", 1);
    sigv4_uri_encode(&loc, (sigv4_str_t){sr->key.base, sr->key.len}, 1);
    store_xml_elem(&x, "Location", loc.base != NULL ? loc.base : "", loc.len);
    sigv4_buf_free(&loc);
    store_xml_elem_str(&x, "Bucket", store_fs_bucket_name(b));
    store_xml_elem(&x, "Key", sr->key.base, sr->key.len);
    snprintf(q, sizeof(q), "\"%s\"", etag);
    store_xml_elem_str(&x, "ETag", q);
    store_xml_close(&x, "CompleteMultipartUploadResult");
    return store_send_xml(sr, 200, &x);
}

/* a Complete of an upload that is not (or no more) pending: the same success again if it completed (a client's retry after a
 * lost answer, as S3 does), else NoSuchUpload */
static int complete_again(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *id = store_req_param(sr, "uploadId");
    char etag[48];
    int64_t mtime;
    if (id != NULL && store_fs_upload_completed(b, id->value.base, sr->key.base, sr->key.len, etag, &mtime) == 0)
        return complete_result(sr, b, etag);
    return no_such_upload(sr);
}

int store_multipart_complete(store_req_t *sr, store_bucket_t *b)
{
    h2o_iovec_t body;
    const char *err;
    const store_param_t *id = store_req_param(sr, "uploadId");
    store_put_precond_t pc = {store_req_header(sr, "if-match"), store_req_header(sr, "if-none-match")};
    int r = 0, refusal = 0;
    /* the body is read (and its payload hash checked) before anything is answered, a repeated Complete's too */
    if (store_body_read(sr, MAX_COMPLETE_BODY, &body) != 0)
        return 0;
    store_upload_t *u = id != NULL ? store_fs_upload_get(b, id->value.base, sr->key.base, sr->key.len) : NULL;
    if (u == NULL)
        return complete_again(sr, b);
    store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
    if (doc == NULL || strcmp(doc->name, "CompleteMultipartUpload") != 0) {
        store_xml_node_free(doc);
        r = malformed(sr);
        goto out;
    }
    size_t n = 0;
    for (const store_xml_node_t *p = doc->child; p != NULL; p = p->next)
        if (strcmp(p->name, "Part") == 0)
            ++n;
    if (n == 0 || n > STORE_FS_MAX_PARTS) {
        store_xml_node_free(doc);
        r = n == 0 ? store_send_error(sr, 400, "MalformedXML", "The XML you provided names no parts.", NULL) : malformed(sr);
        goto out;
    }
    store_complete_part_t *parts = h2o_mem_alloc_pool(&sr->req->pool, sizeof(*parts) * n);
    size_t i = 0;
    for (const store_xml_node_t *p = doc->child; p != NULL; p = p->next) {
        if (strcmp(p->name, "Part") != 0)
            continue;
        const store_xml_node_t *num = store_xml_child(p, "PartNumber"), *etag = store_xml_child(p, "ETag");
        char *end;
        unsigned long v = num != NULL ? strtoul(num->text, &end, 10) : 0;
        if (num == NULL || etag == NULL || *end != '\0' || v < 1 || v > STORE_FS_MAX_PARTS) {
            store_xml_node_free(doc);
            r = malformed(sr);
            goto out;
        }
        parts[i].number = (unsigned)v;
        if (parse_etag(etag->text, etag->text_len, parts[i].etag) != 0) {
            store_xml_node_free(doc);
            r = store_send_error(sr, 400, "InvalidPart",
                                 "One or more of the specified parts could not be found. The part might not have been uploaded, or "
                                 "the specified entity tag might not have matched the part's entity tag.",
                                 NULL);
            goto out;
        }
        ++i;
    }
    store_xml_node_free(doc);

    unsigned bad;
    store_obj_t *o;
    store_notify_ticket_t nt;
    if (store_notify_req_begin(sr, STORE_EV_COMPLETE, &nt) != 0)
        goto out;
    int e = store_fs_upload_complete_if(u, parts, n, store_put_precond, &pc, &refusal, &bad, &o);
    if (e != 0)
        store_notify_abort(&nt);
    switch (e) {
    case 0:
        store_notify_req_change(sr, &nt, sr->key.base, sr->key.len, o, NULL);
        break;
    case STORE_FS_EPRECOND:
        r = store_put_precond_error(sr, refusal);
        goto out;
    case STORE_FS_EORDER:
        r = store_send_error(sr, 400, "InvalidPartOrder",
                             "The list of parts was not in ascending order. The parts list must be "
                             "specified in order by part number.",
                             NULL);
        goto out;
    case STORE_FS_EINVAL: {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "One or more of the specified parts could not be found (part %u). The part might not have been uploaded, or the "
                 "specified entity tag might not have matched the part's entity tag.",
                 bad);
        r = store_send_error(sr, 400, "InvalidPart", msg, NULL);
        goto out;
    }
    case STORE_FS_ETOOSMALL:
        r = store_send_error(sr, 400, "EntityTooSmall",
                             "Your proposed upload is smaller than the minimum allowed object size: every "
                             "part but the last must be at least 5 MiB.",
                             NULL);
        goto out;
    case STORE_FS_ENOENT:
        r = complete_again(sr, b); /* a concurrent Complete of the same upload won */
        goto out;
    default:
        r = store_send_fs_error(sr, e);
        goto out;
    }
    store_version_headers(sr, b, o);
    r = complete_result(sr, b, o->etag);
    store_fs_obj_release(o);
out:
    store_fs_upload_release(u);
    return r;
}

int store_multipart_abort(store_req_t *sr, store_bucket_t *b)
{
    store_upload_t *u = find_upload(sr, b);
    if (u == NULL)
        return 0;
    int e = store_fs_upload_abort(u), r;
    store_fs_upload_release(u);
    if (e == STORE_FS_ENOENT)
        r = no_such_upload(sr);
    else if (e != 0)
        r = store_send_fs_error(sr, e);
    else
        r = store_send_empty(sr, 204);
    return r;
}

int store_multipart_list_parts(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *mp = store_req_param(sr, "max-parts"), *pm = store_req_param(sr, "part-number-marker");
    unsigned long max = 1000, marker = 0;
    char *end;
    if (mp != NULL && ((max = strtoul(mp->value.base, &end, 10)), *end != '\0'))
        return store_send_error(sr, 400, "InvalidArgument", "max-parts must be an integer.", NULL);
    if (pm != NULL && ((marker = strtoul(pm->value.base, &end, 10)), *end != '\0'))
        return store_send_error(sr, 400, "InvalidArgument", "part-number-marker must be an integer.", NULL);
    if (max > 1000)
        max = 1000;
    store_upload_t *u = find_upload(sr, b);
    if (u == NULL)
        return 0;
    store_part_info_t *parts;
    int truncated;
    long n = store_fs_upload_parts(u, (unsigned)marker, max, &parts, &truncated);
    if (n < 0) {
        store_fs_upload_release(u);
        return store_send_fs_error(sr, (int)n);
    }
    store_xml_t x;
    char q[48];
    store_xml_begin(&x, "ListPartsResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Bucket", store_fs_bucket_name(b));
    store_xml_elem(&x, "Key", sr->key.base, sr->key.len);
    store_xml_elem_str(&x, "UploadId", store_req_param(sr, "uploadId")->value.base);
    owner(&x, sr->store, "Initiator");
    owner(&x, sr->store, "Owner");
    store_xml_elem_str(&x, "StorageClass", "STANDARD");
    store_xml_elem_u64(&x, "PartNumberMarker", marker);
    if (n != 0)
        store_xml_elem_u64(&x, "NextPartNumberMarker", parts[n - 1].number);
    store_xml_elem_u64(&x, "MaxParts", max);
    store_xml_elem_str(&x, "IsTruncated", truncated ? "true" : "false");
    for (long i = 0; i != n; ++i) {
        store_xml_open(&x, "Part");
        store_xml_elem_u64(&x, "PartNumber", parts[i].number);
        store_xml_elem_time(&x, "LastModified", parts[i].mtime_ms);
        snprintf(q, sizeof(q), "\"%s\"", parts[i].etag);
        store_xml_elem_str(&x, "ETag", q);
        store_xml_elem_u64(&x, "Size", parts[i].size);
        store_xml_close(&x, "Part");
    }
    store_xml_close(&x, "ListPartsResult");
    free(parts);
    store_fs_upload_release(u);
    return store_send_xml(sr, 200, &x);
}

int store_multipart_list_uploads(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *pf = store_req_param(sr, "prefix"), *mu = store_req_param(sr, "max-uploads"),
                        *km = store_req_param(sr, "key-marker"), *um = store_req_param(sr, "upload-id-marker");
    h2o_iovec_t prefix = pf != NULL ? pf->value : h2o_iovec_init("", 0);
    unsigned long max = 1000;
    char *end;
    if (mu != NULL && ((max = strtoul(mu->value.base, &end, 10)), *end != '\0'))
        return store_send_error(sr, 400, "InvalidArgument", "max-uploads must be an integer.", NULL);
    if (max > 1000)
        max = 1000;
    store_upload_info_t *list;
    long n = store_fs_upload_list(b, prefix.base, prefix.len, &list);
    if (n < 0)
        return store_send_fs_error(sr, (int)n);
    store_xml_t x;
    store_xml_begin(&x, "ListMultipartUploadsResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Bucket", store_fs_bucket_name(b));
    store_xml_elem(&x, "KeyMarker", km != NULL ? km->value.base : "", km != NULL ? km->value.len : 0);
    store_xml_elem(&x, "UploadIdMarker", um != NULL ? um->value.base : "", um != NULL ? um->value.len : 0);
    store_xml_elem(&x, "Prefix", prefix.base, prefix.len);
    store_xml_elem_u64(&x, "MaxUploads", max);
    long shown = 0, i = 0;
    /* skip up to the markers: uploads of keys before key-marker, and of key-marker up to upload-id-marker */
    for (; i < n && km != NULL && km->value.len != 0; ++i) {
        int c = memcmp(list[i].key, km->value.base, list[i].key_len < km->value.len ? list[i].key_len : km->value.len);
        if (c == 0)
            c = list[i].key_len < km->value.len ? -1 : list[i].key_len > km->value.len;
        if (c > 0 || (c == 0 && um != NULL && um->value.len != 0 && strcmp(list[i].id, um->value.base) > 0))
            break;
    }
    for (; i < n && (unsigned long)shown < max; ++i, ++shown) {
        store_xml_open(&x, "Upload");
        store_xml_elem(&x, "Key", list[i].key, list[i].key_len);
        store_xml_elem_str(&x, "UploadId", list[i].id);
        owner(&x, sr->store, "Initiator");
        owner(&x, sr->store, "Owner");
        store_xml_elem_str(&x, "StorageClass", "STANDARD");
        store_xml_elem_time(&x, "Initiated", list[i].initiated_ms);
        store_xml_close(&x, "Upload");
    }
    store_xml_elem_str(&x, "IsTruncated", i < n ? "true" : "false");
    if (i < n && shown != 0) {
        store_xml_elem(&x, "NextKeyMarker", list[i - 1].key, list[i - 1].key_len);
        store_xml_elem_str(&x, "NextUploadIdMarker", list[i - 1].id);
    }
    store_xml_close(&x, "ListMultipartUploadsResult");
    store_fs_upload_list_free(list, n);
    return store_send_xml(sr, 200, &x);
}
