/* store/versioning.c - bucket versioning at the S3 level: Put/GetBucketVersioning, ListObjectVersions, the versionId argument
 * and the x-amz-version-id / x-amz-delete-marker answers (the storage side is in fs.c, "Versions") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/str.h"
#include "store/internal.h"

#define MAX_VERSIONING_BODY (64u << 10)

int store_version_param(store_req_t *sr, const char **version_id)
{
    const store_param_t *p = store_req_param(sr, "versionId");
    *version_id = NULL;
    if (p == NULL)
        return 0;
    if (!store_fs_valid_version_id(p->value.base, p->value.len))
        return store_send_error(sr, 400, "InvalidArgument", "Invalid version id specified", NULL), -1;
    *version_id = p->value.base;
    return 0;
}

void store_version_headers(store_req_t *sr, const store_bucket_t *b, const store_obj_t *o)
{
    if (o->version_id[0] == '\0' && store_fs_bucket_versioning(b) == STORE_FS_VERSIONING_OFF)
        return; /* an unversioned bucket answers as it always did */
    const char *v = store_fs_obj_version(o);
    store_add_header(sr, "x-amz-version-id", v, strlen(v));
    if (o->delete_marker)
        store_add_header(sr, "x-amz-delete-marker", "true", 4);
}

int store_version_not_found(store_req_t *sr, const store_bucket_t *b, const store_obj_t *o, const char *version_id)
{
    if (o == NULL) {
        if (version_id != NULL)
            return store_send_error(sr, 404, "NoSuchVersion", "The specified version does not exist.", NULL);
        return store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
    }
    /* a delete marker: the latest (404 NoSuchKey) or asked for by id (405, as S3) */
    char date[32];
    store_version_headers(sr, b, o);
    store_http_date(o->mtime_ms, date);
    store_add_header(sr, "last-modified", date, strlen(date));
    if (version_id != NULL)
        return store_send_error(sr, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                                "<Method>GET</Method><ResourceType>DeleteMarker</ResourceType>");
    return store_send_error(sr, 404, "NoSuchKey", "The specified key does not exist.", NULL);
}

/* ---- Get/PutBucketVersioning ------------------------------------------------------------------------------------------------- */

int store_versioning_get(store_req_t *sr, store_bucket_t *b)
{
    store_xml_t x;
    int v = store_fs_bucket_versioning(b);
    store_xml_begin(&x, "VersioningConfiguration", STORE_XML_NS);
    if (v != STORE_FS_VERSIONING_OFF) /* a bucket never versioned has no Status, as in S3 */
        store_xml_elem_str(&x, "Status", v == STORE_FS_VERSIONING_ENABLED ? "Enabled" : "Suspended");
    store_xml_close(&x, "VersioningConfiguration");
    return store_send_xml(sr, 200, &x);
}

int store_versioning_put(store_req_t *sr, store_bucket_t *b)
{
    h2o_iovec_t body;
    const char *err = NULL;
    if (store_body_read(sr, MAX_VERSIONING_BODY, &body) != 0)
        return 0;
    store_xml_node_t *doc = store_xml_parse(body.base, body.len, &err);
    const store_xml_node_t *st = doc != NULL && strcmp(doc->name, "VersioningConfiguration") == 0 ? store_xml_child(doc, "Status")
                                                                                                  : NULL,
                           *mfa = doc != NULL ? store_xml_child(doc, "MfaDelete") : NULL;
    int state = st == NULL                           ? -1
                : strcmp(st->text, "Enabled") == 0   ? STORE_FS_VERSIONING_ENABLED
                : strcmp(st->text, "Suspended") == 0 ? STORE_FS_VERSIONING_SUSPENDED
                                                     : -1;
    int mfa_enabled = mfa != NULL && strcmp(mfa->text, "Enabled") == 0;
    store_xml_node_free(doc);
    if (state < 0)
        return store_send_error(sr, 400, "MalformedXML",
                                "The XML you provided was not well-formed or did not validate against our published schema.", NULL);
    if (mfa_enabled)
        return store_send_error(sr, 501, "NotImplemented", "MFA Delete is not implemented.", NULL);
    int e = store_fs_bucket_set_versioning(b, state);
    if (e == STORE_FS_ENOENT)
        return store_send_error(sr, 404, "NoSuchBucket", "The specified bucket does not exist.", NULL);
    if (e != 0)
        return store_send_fs_error(sr, e);
    return store_send_empty(sr, 200);
}

/* ---- ListObjectVersions ------------------------------------------------------------------------------------------------------ */

static void etag_elem(store_xml_t *x, const char *etag)
{
    char q[64];
    snprintf(q, sizeof(q), "\"%s\"", etag);
    store_xml_elem_str(x, "ETag", q);
}

static void owner_elem(store_xml_t *x, store_t *s)
{
    store_xml_open(x, "Owner");
    store_xml_elem_str(x, "ID", s->owner_id);
    store_xml_elem_str(x, "DisplayName", "edgehook");
    store_xml_close(x, "Owner");
}

int store_versioning_list(store_req_t *sr, store_bucket_t *b)
{
    const store_param_t *p, *km = store_req_param(sr, "key-marker"), *vm = store_req_param(sr, "version-id-marker");
    h2o_iovec_t prefix = (p = store_req_param(sr, "prefix")) != NULL ? p->value : h2o_iovec_init("", 0);
    h2o_iovec_t delimiter = (p = store_req_param(sr, "delimiter")) != NULL ? p->value : h2o_iovec_init("", 0);
    h2o_iovec_t marker = km != NULL ? km->value : h2o_iovec_init("", 0);
    size_t max_keys = 1000;
    int url = 0;
    if ((p = store_req_param(sr, "max-keys")) != NULL && p->value.len != 0) {
        char *end;
        long v = strtol(p->value.base, &end, 10);
        if (*end != '\0' || v < 0)
            return store_send_error(sr, 400, "InvalidArgument", "max-keys must be a non-negative integer.", NULL);
        if (v < 1000)
            max_keys = (size_t)v;
    }
    if ((p = store_req_param(sr, "encoding-type")) != NULL) {
        if (strcmp(p->value.base, "url") != 0)
            return store_send_error(sr, 400, "InvalidArgument", "Invalid Encoding Method specified in Request", NULL);
        url = 1;
    }
    if (vm != NULL && vm->value.len != 0) {
        if (marker.len == 0)
            return store_send_error(sr, 400, "InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                                    NULL);
        if (!store_fs_valid_version_id(vm->value.base, vm->value.len))
            return store_send_error(sr, 400, "InvalidArgument", "Invalid version id specified", NULL);
    }
    store_list_params_t lp = {prefix.base, prefix.len, delimiter.base, delimiter.len, marker.len != 0 ? marker.base : NULL,
                              marker.len,  max_keys};
    store_list_result_t r;
    int e = store_fs_list_versions(b, &lp, vm != NULL ? vm->value.base : NULL, &r);
    if (e != 0)
        return store_send_fs_error(sr, e);

    store_xml_t x;
    store_xml_begin(&x, "ListVersionsResult", STORE_XML_NS);
    store_xml_elem_str(&x, "Name", store_fs_bucket_name(b));
    store_xml_url_elem(&x, "Prefix", prefix.base, prefix.len, url);
    store_xml_url_elem(&x, "KeyMarker", marker.base, marker.len, url);
    store_xml_elem(&x, "VersionIdMarker", vm != NULL ? vm->value.base : "", vm != NULL ? vm->value.len : 0);
    store_xml_elem_u64(&x, "MaxKeys", max_keys);
    if (delimiter.len != 0)
        store_xml_url_elem(&x, "Delimiter", delimiter.base, delimiter.len, url);
    store_xml_elem_str(&x, "IsTruncated", r.truncated ? "true" : "false");
    if (r.truncated && r.next != NULL) {
        store_xml_url_elem(&x, "NextKeyMarker", r.next, r.next_len, url);
        store_xml_elem_str(&x, "NextVersionIdMarker", r.next_version);
    }
    if (url)
        store_xml_elem_str(&x, "EncodingType", "url");
    for (size_t i = 0; i != r.num_objs; ++i) {
        const store_obj_t *o = r.objs[i];
        const char *tag = o->delete_marker ? "DeleteMarker" : "Version";
        store_xml_open(&x, tag);
        store_xml_url_elem(&x, "Key", o->key, o->key_len, url);
        store_xml_elem_str(&x, "VersionId", store_fs_obj_version(o));
        store_xml_elem_str(&x, "IsLatest", r.latest[i] ? "true" : "false");
        store_xml_elem_time(&x, "LastModified", o->mtime_ms);
        if (!o->delete_marker) {
            etag_elem(&x, o->etag);
            store_xml_elem_u64(&x, "Size", o->size);
            store_xml_elem_str(&x, "StorageClass", "STANDARD");
        }
        owner_elem(&x, sr->store);
        store_xml_close(&x, tag);
    }
    for (size_t i = 0; i != r.num_prefixes; ++i) {
        store_xml_open(&x, "CommonPrefixes");
        store_xml_url_elem(&x, "Prefix", r.prefixes[i], r.prefix_lens[i], url);
        store_xml_close(&x, "CommonPrefixes");
    }
    store_xml_close(&x, "ListVersionsResult");
    store_fs_list_free(&r);
    return store_send_xml(sr, 200, &x);
}
